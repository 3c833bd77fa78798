"""The pytest plugin leaves alone the projects that do not use its fixtures.

pytest loads it in every project that installs steer_trio. Each test here runs pytest
in a fresh project, in a child process, with pytest-trio, anyio's plugin and
hypothesis's turned off (the last only because it takes seconds to import): a project
that has the SDK and pytest, and tests of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """\
import sys

HEAVY = {"steer_trio", "trio", "httpx2", "httpcore2", "h11", "tiktoken", "cattrs"}


def test_probe():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY | {"pytest_steer_trio"})
    print("LOADED", loaded)
"""


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:trio"]
        + ["-p", "no:anyio", "-p", "no:hypothesispytest", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    # An ini file of its own, so this project's settings stay out of it.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return tmp_path


def test_loading_the_plugin_imports_nothing_of_the_sdk(project: Path) -> None:
    result = run_pytest(project, "-s", "-q", "-W", "error")
    assert result.returncode == 0, result.stdout + result.stderr
    # The stub is loaded (so this test could fail) and nothing heavy came with it.
    assert "LOADED ['pytest_steer_trio']" in result.stdout, result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout


def test_the_plugin_changes_no_setting_marker_or_option(project: Path) -> None:
    for query in ("--markers", "--help"):
        with_plugin = run_pytest(project, query)
        without = run_pytest(project, query, "-p", "no:steer_trio")
        assert with_plugin.returncode == without.returncode == 0
        assert with_plugin.stdout == without.stdout, query


def test_the_plugin_offers_the_two_fixtures_with_their_docs(project: Path) -> None:
    result = run_pytest(project, "--fixtures")
    assert result.returncode == 0, result.stderr
    listed = result.stdout
    assert "fake_provider -- " in listed and "fake_provider_env -- " in listed
    assert "A running fake provider" in listed
