"""Automation: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s docs`, `nox -s bench`,
`nox -s mutants`."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, conformance, differential, faults, docs examples)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (with the ASYNC rules), flake8-async, and the ruff format check."""
    session.install("ruff>=0.8", "flake8-async>=24.9")
    session.run("ruff", "check", "steer_trio", "tests", "benchmarks", "docs", "noxfile.py")
    session.run("ruff", "format", "--check", "steer_trio", "tests", "benchmarks", "noxfile.py")
    # Beyond the defaults: the opt-in checkpoint rules. Internal coroutines covered by
    # their public caller's checkpoint are marked @caller_checkpoints (_checkpoints.py).
    session.run(
        "flake8-async",
        "--enable=ASYNC,ASYNC900,ASYNC910,ASYNC911,ASYNC912,ASYNC913",
        "--no-checkpoint-warning-decorators=caller_checkpoints",
        *sorted(str(p) for p in Path("steer_trio").rglob("*.py")),
    )


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[test]", "mypy>=1.13")
    session.run("mypy", "--strict", "steer_trio")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation: every example runs and prints what the page says, then the
    site (mkdocs-material, API reference by mkdocstrings) is built into site/ in strict
    mode, offline: a broken link or anchor, or a public object without a docstring,
    fails the build."""
    session.install("-e", ".[test,docs]")
    session.run(
        "pytest",
        "tests/test_docs.py",
        "tests/test_pytest_plugin.py",
        "tests/under_anyio",
        *session.posargs,
    )
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against a fake provider in its own process, as ratios to baselines
    measured in the same run. ``nox -s bench -- --quick`` for a short run."""
    session.install("-e", ".[test]")
    for script in (
        "bench_streaming.py",  # per event, every path, 1 and 20 events per HTTP chunk
        "bench_concurrent.py",  # 1,000 paced streams; 200 cancels at once
        "bench_cold.py",  # first request in a fresh process; import time
        "bench_memory.py",  # JSON mode, idle streams, huge tool calls, longest step
        "bench_floor.py",  # the floor per event; a bulk body path, prototyped
        "bench_breakdown.py",  # each stage's cost per event, without a network
        "bench_pipeline.py",  # token counting, the processor, backpressure
        "bench_on_json.py",  # a 1 MB JSON answer in 8-byte deltas with on_json
    ):
        session.run("python", f"benchmarks/{script}", *session.posargs)
    session.run("python", "benchmarks/bench_jsonstream.py")
    session.run("python", "benchmarks/bench_batch.py")
    session.run("python", "benchmarks/bench_loop_blocking.py")


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation testing, per module (mutation/modules.toml): fails under 90% for any.

    `nox -s mutants -- steer_trio/_sse.py` runs one module."""
    # mutmut 3.8's settings and output are what mutation/run.py reads: pinned.
    session.install("-e", ".[test]", "mutmut>=3.8.1,<3.9")
    session.run("python", "mutation/run.py", *session.posargs)
