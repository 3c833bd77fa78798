"""Mutation testing, one module at a time: ``nox -s mutants`` (or ``python mutation/run.py``).

For each module in ``modules.toml`` (or those named on the command line, e.g.
``python mutation/run.py steer_trio/_sse.py``): copy the repository to
``build/mutation/<module>/``, point mutmut at that module and its test files, run it,
and read the verdicts. Survivors listed in ``equivalents.toml`` (matched by the text of
the original and the mutated line, so the list stays valid as code moves) are taken
out of the count. Prints killed / (mutants - equivalents) per module, the survivors
that are not listed (with their diffs), and exits 1 if a module is under the threshold.

To look at one module's mutants afterwards: ``cd build/mutation/<module> && mutmut
results`` and ``mutmut show <name>``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "build" / "mutation"
#: What a mutant's tests need besides the package and the tests.
COPIED = ("steer_trio", "tests", "docs", "README.md", "pyproject.toml")
#: Verdicts that mean the tests noticed the mutant.
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
_RESULT = re.compile(r"^\s*(\S+): (.+?)\s*$")


@dataclass
class Equivalent:
    module: str
    original: str
    mutant: str
    reason: str
    function: str | None = None  # when the same line appears in several functions
    used: bool = False


@dataclass
class Outcome:
    module: str
    verdicts: dict[str, str] = field(default_factory=dict)
    equivalent: list[str] = field(default_factory=list)
    survivors: dict[str, str] = field(default_factory=dict)  # name -> diff

    @property
    def detected(self) -> int:
        return sum(1 for v in self.verdicts.values() if v in DETECTED)

    @property
    def counted(self) -> int:
        return len(self.verdicts) - len(self.equivalent)

    @property
    def score(self) -> float:
        return self.detected / self.counted if self.counted else 1.0


def load_config() -> tuple[float, dict[str, list[str]], list[Equivalent]]:
    config = tomllib.loads((HERE / "modules.toml").read_text(encoding="utf-8"))
    modules = {name: list(spec["tests"]) for name, spec in config["modules"].items()}
    listed = tomllib.loads((HERE / "equivalents.toml").read_text(encoding="utf-8"))
    equivalents = [
        Equivalent(
            e["module"], _norm(e["original"]), _norm(e["mutant"]), e["reason"], e.get("function")
        )
        for e in listed.get("equivalent", [])
    ]
    for e in equivalents:
        if not e.reason.strip():
            raise SystemExit(f"equivalents.toml: {e.module}: {e.original!r} needs a reason")
    return float(config["threshold"]), modules, equivalents


def _norm(text: str) -> str:
    """Lines stripped and joined: indentation and blank lines do not matter."""
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


def prepare(module: str, tests: list[str]) -> Path:
    work = WORK / module.replace("/", "_").removesuffix(".py")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, work / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis")
            )
        elif source.exists():
            shutil.copy2(source, work / name)
    settings = "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["steer_trio"]',
            'also_copy = ["docs", "README.md"]',
            f"only_mutate = [{module!r}]".replace("'", '"'),
            "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]",
            'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
            "",
        ]
    )
    with (work / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(settings)
    return work


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    # Each test runs once per mutant: property tests try a fifth of their examples.
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        STEER_TRIO_EXAMPLES_SCALE="0.2",
        STEER_TRIO_UNDER_MUTATION="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work}:\n{tail}")
    return done.stdout


def function_of(mutant_name: str) -> str:
    """``pkg.mod.xǁClassǁmethod__mutmut_3`` -> ``method``; ``pkg.mod.x_func__mutmut_3``
    -> ``func``."""
    base = mutant_name.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    return base.split("ǁ")[-1] if "ǁ" in base else base.removeprefix("x_")


def changed_lines(diff: str) -> tuple[str, str]:
    removed, added = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
    return _norm("\n".join(removed)), _norm("\n".join(added))


def run_module(
    module: str, tests: list[str], equivalents: list[Equivalent], *, rescore: bool = False
) -> Outcome:
    if rescore:  # the verdicts of the last run, against the equivalents as they are now
        work = WORK / module.replace("/", "_").removesuffix(".py")
        log = ""
    else:
        work = prepare(module, tests)
        print(f"== {module}: mutating, running {', '.join(tests)}", flush=True)
        # mutmut exits non-zero when some mutants survive: its results say what happened.
        log = mutmut(work, "run", "--max-children", str(os.cpu_count() or 2), check=False)
    outcome = Outcome(module)
    for line in mutmut(work, "results", "--all", "true").splitlines():
        match = _RESULT.match(line)
        if match:
            outcome.verdicts[match.group(1)] = match.group(2)
    unchecked = [n for n, v in outcome.verdicts.items() if v == "not checked"]
    if not outcome.verdicts or unchecked:
        # Usually the unmutated tests failed (mutmut stops before any mutant).
        lines = [line for line in log.splitlines() if not line.startswith("\r")]
        tail = "\n".join(lines[-40:])
        raise SystemExit(f"{module}: mutmut did not check its mutants (see {work}):\n{tail}")
    for name, verdict in sorted(outcome.verdicts.items()):
        if verdict in DETECTED:
            continue
        diff = mutmut(work, "show", name)
        original, mutant = changed_lines(diff)
        function = function_of(name)
        for e in equivalents:
            if (
                e.module == module
                and e.original == original
                and e.mutant == mutant
                and e.function in (None, function)
            ):
                e.used = True
                outcome.equivalent.append(name)
                break
        else:
            outcome.survivors[name] = f"{verdict}\n{diff}"
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to run (default: all)")
    parser.add_argument(
        "--rescore", action="store_true", help="score the last run again; mutate nothing"
    )
    args = parser.parse_args()
    threshold, modules, equivalents = load_config()
    chosen = args.modules or list(modules)
    unknown = [m for m in chosen if m not in modules]
    if unknown:
        raise SystemExit(f"not in mutation/modules.toml: {unknown}")
    outcomes = []
    broken = []
    for module in chosen:
        try:
            outcomes.append(run_module(module, modules[module], equivalents, rescore=args.rescore))
        except SystemExit as exc:  # this module could not be run: say so, go on
            print(exc, flush=True)
            broken.append(module)

    failed = False
    for o in outcomes:
        if o.survivors:
            print(f"\n-- {o.module}: {len(o.survivors)} survivor(s) not listed as equivalent")
            for name, text in o.survivors.items():
                print(f"# {name}: {text}\n")
    print(f"\n{'module':42} {'killed':>7} {'total':>6} {'equiv':>6} {'score':>7}")
    for o in outcomes:
        low = o.score < threshold
        failed |= low
        print(
            f"{o.module:42} {o.detected:>7} {len(o.verdicts):>6} {len(o.equivalent):>6} "
            f"{o.score:>7.1%}{'  < ' + format(threshold, '.0%') if low else ''}"
        )
    stale = [e for e in equivalents if e.module in chosen and not e.used]
    for e in stale:
        # Not an error: the line may have been killed by a new test, or rewritten.
        print(f"note: stale entry in equivalents.toml: {e.module}: {e.original}")
    for module in broken:
        print(f"{module:42} not run (see above)")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
