"""The public API's types guide a user: an application using every public call
type-checks under ``mypy --strict`` with no cast or ignore, and the usual mistakes
(a callback for the wrong event, a misspelt keyword, a wrong value type, an unchecked
``parsed``) are reported where they are made."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "typing"


def _mypy(path: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(cache),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )


def test_a_users_application_type_checks(tmp_path: Path) -> None:
    result = _mypy(HERE / "user_app.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mistakes_are_reported_on_their_lines(tmp_path: Path) -> None:
    source = (HERE / "mistakes.py").read_text(encoding="utf-8").splitlines()
    marked = {n for n, line in enumerate(source, 1) if "# E:" in line}
    result = _mypy(HERE / "mistakes.py", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {
        int(m.group(1)) for m in re.finditer(r"^mistakes\.py:(\d+): error:", result.stdout, re.M)
    }
    assert len(marked) == 12
    assert reported == marked, result.stdout
