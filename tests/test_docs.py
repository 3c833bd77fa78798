"""Every ```python block in docs/ runs, as a program, against the fake provider.

The fake provider runs in a separate process (`python -m steer_trio.testing`) because
each docs example calls `trio.run` itself. The environment points every provider at it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def code_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for path in [README, *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((path.name, line, match.group(1)))
    return blocks


@pytest.fixture(scope="module")
def fake_server_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "steer_trio.testing", "--port", "0"],
        stdout=subprocess.PIPE,
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
        if proc.stdout is not None:
            proc.stdout.close()


BLOCKS = code_blocks()


def test_docs_have_examples() -> None:
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize(("name", "line", "code"), BLOCKS, ids=[f"{n}:{ln}" for n, ln, _ in BLOCKS])
def test_doc_block_runs(
    fake_server_url: str, name: str, line: int, code: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        OPENAI_API_KEY="sk-docs",
        OPENAI_BASE_URL=f"{fake_server_url}/v1",
        ANTHROPIC_API_KEY="sk-ant-docs",
        ANTHROPIC_BASE_URL=fake_server_url,
        XAI_API_KEY="xai-docs",
        XAI_BASE_URL=f"{fake_server_url}/xai/v1",
        OPENAI_COMPATIBLE_BASE_URL=f"{fake_server_url}/v1",
    )
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (
        f"{name}:{line} failed\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr
