"""The documentation's examples run, and print what the documentation says they print.

The convention (also explained to readers in docs/index.md, "About the examples"):

* A ```` ```python ```` block is a complete program. The test suite runs it against the
  fake provider and compares what it printed on stdout with the ```` ```output ````
  block that follows it (prose may stand between the two, another code block may
  not). Every program must have one, and must write nothing to stderr.
* Lines are compared exactly, after removing trailing spaces and trailing blank lines.
  Two placeholders stand for values that change from run to run: ``<id>`` (a request,
  tool-call or correlation id: letters, digits, ``_`` and ``-``) and ``<number>`` (a
  timing or a rate: an integer or decimal number).
* ``<!-- docs-test: skip REASON -->`` on the line before a ```` ```python ```` block
  says it is not a program (a fragment); ``<!-- docs-test: xfail REASON -->`` says it
  is expected to fail until REASON is fixed (strict: it fails once it passes).
* A ```` ```python title="NAME" ```` block in testing.md is a file of the example
  project in docs/examples/testing-project/: it must equal that file, and the project's
  own test suite runs (test_example_project).
* Blocks in other languages (bash, text, toml, ini) are not programs: each is reported
  as a skip with its kind, so ``pytest -ra`` lists how many were not run and why.

The programs read the usual environment variables. The fake provider runs in its own
process (``python -m steer_trio.testing``), because each example calls ``trio.run``
itself, with a small delay between words so that the examples about cancellation
have something to cancel. README.md's programs run with no key and no base URL at
all: the README promises they run as shown.
"""

from __future__ import annotations

import difflib
import gc
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio
from conftest import steer_client

from steer_trio import StreamingOptions
from steer_trio.testing import FakeProvider, Scenario

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
EXAMPLE_PROJECT = DOCS / "examples" / "testing-project"
#: Seconds between the words of the fake provider's story: every story takes at
#: least 67 ms, so an example that cancels after 50 ms always has something to cut.
STORY_DELAY = 0.001

PLACEHOLDERS = {
    "<id>": r"[A-Za-z0-9_-]+",
    "<number>": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
}
_PLACEHOLDER_SPLIT = re.compile("(" + "|".join(map(re.escape, PLACEHOLDERS)) + ")")
_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(skip|xfail)\s+(.+?)\s*-->\s*$", re.S)
_TITLE = re.compile(r'title="([^"]+)"')

#: Why blocks of each other language are not run.
NOT_PROGRAMS = {
    "bash": "a shell command",
    "console": "a shell session",
    "text": "text, not code",
    "toml": "a configuration file",
    "ini": "a configuration file",
    "json": "a data record",
    "jsonl": "data records",
}


@attrs.frozen
class Block:
    path: Path
    line: int
    lang: str
    info: str
    code: str
    #: The text between the previous block and this one.
    before: str
    output: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def directive(self) -> tuple[str, str] | None:
        match = _DIRECTIVE.search(self.before)
        return (match.group(1), match.group(2)) if match else None

    @property
    def title(self) -> str | None:
        match = _TITLE.search(self.info)
        return match.group(1) if match else None


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, each ```output attached to its program."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    before: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("```"):
            before.append(line)
            i += 1
            continue
        info = line[3:].strip()
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: code block never closed")
        lang = info.split()[0] if info else ""
        code = "\n".join(lines[start:end]) + "\n"
        if lang == "output":
            if not blocks or blocks[-1].lang != "python" or blocks[-1].output is not None:
                raise AssertionError(
                    f"{path.name}:{i + 1}: an output block must follow a python block"
                )
            blocks[-1] = attrs.evolve(blocks[-1], output=code)
        else:
            blocks.append(Block(path, i + 1, lang, info, code, "\n".join(before)))
        before = []
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for path in [README, *sorted(DOCS.glob("*.md"))] for b in parse_blocks(path)]


BLOCKS = all_blocks()
PROGRAMS = [
    b
    for b in BLOCKS
    if b.lang == "python" and b.title is None and (b.directive or ("",))[0] != "skip"
]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def output_matches(expected: str, actual: str) -> bool:
    """``actual`` equals ``expected``, where each placeholder stands for its pattern."""
    parts = _PLACEHOLDER_SPLIT.split(normalise(expected))
    pattern = "".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts)
    return re.fullmatch(pattern, normalise(actual)) is not None


# -- the convention itself -----------------------------------------------------------


def test_placeholders_match_only_what_they_say() -> None:
    assert output_matches("took <number> ms\n", "took 12.5 ms")
    assert output_matches("id <id>", "id req_fake_3")
    assert not output_matches("took <number> ms", "took soon ms")
    assert not output_matches("a\nb", "a\nb\nc")  # an extra line is a difference
    assert not output_matches("Once upon a time", "Onceuponatime")
    assert output_matches("line   \n\n", "line")  # trailing spaces and blank lines


def test_every_block_is_accounted_for() -> None:
    """Each block is a program with its output, a marked fragment, a project file, or
    a known non-program language; a new kind of block must be classified here."""
    assert len(PROGRAMS) >= 30
    for block in BLOCKS:
        if block.lang == "python":
            directive = block.directive
            if directive is None and block.title is None:
                assert block.output is not None, (
                    f"{block.name}: add an ```output block with what this program prints"
                )
            if directive is not None:
                assert directive[1].strip(), f"{block.name}: say why the block is not run"
        else:
            assert block.lang in NOT_PROGRAMS, (
                f"{block.name}: a ```{block.lang} block: add its kind to NOT_PROGRAMS "
                "or make it a python program"
            )


# -- running the programs --------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "steer_trio.testing",
            "--port",
            "0",
            "--story-delay",
            str(STORY_DELAY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        assert match, f"fake server did not start: {line!r}"
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def program_env(block: Block, fake_server_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    if block.path != README:
        env.update(
            OPENAI_API_KEY="sk-docs",
            OPENAI_BASE_URL=f"{fake_server_url}/v1",
            ANTHROPIC_API_KEY="sk-ant-docs",
            ANTHROPIC_BASE_URL=fake_server_url,
            XAI_API_KEY="xai-docs",
            XAI_BASE_URL=f"{fake_server_url}/xai/v1",
            OPENAI_COMPATIBLE_BASE_URL=f"{fake_server_url}/v1",
            GEMINI_API_KEY="gemini-docs",
            GEMINI_BASE_URL=f"{fake_server_url}/v1beta",
        )
    return env


def _param(block: Block) -> object:
    marks = []
    directive = block.directive
    if directive is not None and directive[0] == "xfail":
        # The reason is written beside the block in the docs.
        marks.append(pytest.mark.xfail(strict=True, reason=directive[1]))
    return pytest.param(block, id=block.name, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_doc_block(block: Block, fake_server_url: str, tmp_path: Path) -> None:
    directive = block.directive
    if block.lang != "python":
        pytest.skip(f"not run: {NOT_PROGRAMS.get(block.lang, block.lang)} ({block.lang})")
    if block.title is not None:
        pytest.skip("not run alone: a file of the example project (test_example_project)")
    if directive is not None and directive[0] == "skip":
        pytest.skip(f"not run: a python fragment ({directive[1]})")
    assert block.output is not None, f"{block.name}: no ```output block"
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        env=program_env(block, fake_server_url),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (
        f"{block.name} failed\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert result.stderr == "", f"{block.name} wrote to stderr:\n{result.stderr}"
    if not output_matches(block.output, result.stdout):
        diff = "\n".join(
            difflib.unified_diff(
                normalise(block.output).splitlines(),
                normalise(result.stdout).splitlines(),
                "documented",
                "printed",
                lineterm="",
            )
        )
        pytest.fail(f"{block.name}: the output differs from the docs\n{diff}")


# -- the guide's examples under the other wire formats ---------------------------------

#: The streaming guide's chapters name OpenAI, Anthropic and xAI models; each example
#: must work as well with a Gemini model and over OpenAI's Responses API (o3-pro exists
#: only there, so its name routes the call to it).
_SEED_MODELS = re.compile(r'model="(gpt-[\w.-]+|claude-[\w.-]+|grok-[\w.-]+)"')
_VARIANT_MODELS = {"gemini": "gemini-2.5-flash", "responses": "o3-pro"}
GUIDE_WITH_MODELS = [
    block
    for block in all_blocks()
    if block.path.name == "guide.md"
    and block.lang == "python"
    and block.directive is None
    and _SEED_MODELS.search(block.code)
]


def test_the_guide_names_models_in_its_examples() -> None:
    assert len(GUIDE_WITH_MODELS) >= 10


@pytest.mark.parametrize("variant", sorted(_VARIANT_MODELS))
@pytest.mark.parametrize("block", GUIDE_WITH_MODELS, ids=[b.name for b in GUIDE_WITH_MODELS])
def test_guide_example_under_another_format(
    block: Block, variant: str, fake_server_url: str, tmp_path: Path
) -> None:
    code = _SEED_MODELS.sub(f'model="{_VARIANT_MODELS[variant]}"', block.code)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        env=program_env(block, fake_server_url),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (
        f"{block.name} ({variant}) failed\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    # As many lines as the documented output: the same story, told by another format.
    assert block.output is not None
    assert len(normalise(result.stdout).splitlines()) == len(
        normalise(block.output).splitlines()
    ), result.stdout


# -- the example project of testing.md -------------------------------------------------


def test_testing_page_shows_the_example_project_as_it_is() -> None:
    shown = {b.title: b.code for b in parse_blocks(DOCS / "testing.md") if b.title}
    files = {
        p.relative_to(EXAMPLE_PROJECT).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(EXAMPLE_PROJECT.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shown, "testing.md shows no file of the example project"
    assert set(shown) == set(files), "testing.md and the example project list different files"
    for name, code in shown.items():
        assert code == files[name], f"testing.md shows {name} differently from the file"


def test_example_project(tmp_path: Path) -> None:
    """The example project's own tests pass, run as a user would run them."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    result = subprocess.run(
        # Hypothesis's plugin (installed here, not there) only costs seconds to import.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
        ]
        + ["-W", "error"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed", result.stdout.splitlines()[-1]), result.stdout


# -- what the examples found in the library --------------------------------------------


async def test_cancelled_stream_closes_its_byte_stream(
    fake_provider: FakeProvider, autojump_clock: object
) -> None:
    fake_provider.enqueue(Scenario(text=["word "] * 40))

    async def slow_consumer(event: object) -> None:
        await trio.sleep(1)  # the provider task fills the channel and waits on it

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with steer_client(fake_provider) as client:
            with trio.move_on_after(5):
                await client.stream_with_usage(
                    "hi",
                    model="gpt-4o",
                    on_delta=slow_consumer,
                    streaming_options=StreamingOptions(buffer_size=1),
                )
        gc.collect()
        await trio.sleep(0.1)  # trio finalizes collected async generators in a task
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


def test_every_public_object_has_a_docstring() -> None:
    """The site's API reference is built from docstrings; the strict build (nox -s
    docs) fails on a missing one, and so does this test, with the same check."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    assert hooks.missing_docstrings() == []
