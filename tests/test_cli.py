"""The ``steer-trio`` command: output, exit codes, and a reader that goes away.

In-process runs call ``cli.main`` (it runs trio itself, so these tests are sync); the
pipe test runs the real console entry point in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from steer_trio import cli

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY")


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "XAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_local_provider_streams_text_and_reports_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stream", "Tell me a story"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert out.startswith("Once upon a time") and "Tell me a story" in out
    assert "using the built-in local provider" in err
    # The local model has no price: said plainly, never another model's price.
    assert "[usage] prompt" in err and "[cost] unknown" in err


def test_json_output_is_one_parseable_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stream", "--local", "--json", "Hi"]) == cli.EXIT_OK
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert result["text"].startswith("Once upon a time")
    assert result["is_partial"] is False and result["finish_reason"] == "stop"
    usage = result["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_missing_key_is_a_configuration_exit_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["stream", "-m", "gpt-4o-mini", "Hi"]) == cli.EXIT_CONFIG
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_unknown_model_is_a_configuration_exit_listing_choices(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert cli.main(["stream", "-m", "no-such-model-7", "Hi"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "no-such-model-7" in err and "claude-" in err


def test_provider_failure_exits_1_with_the_typed_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    argv = ["stream", "-m", "gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1", "Hi"]
    assert cli.main(argv) == cli.EXIT_STREAM_FAILED
    assert "APIConnectionError" in capsys.readouterr().err


def test_bad_command_line_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["stream"])  # no prompt
    assert info.value.code == cli.EXIT_USAGE


def test_models_lists_prices() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "steer_trio.cli", "models"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "input"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert {"gpt-4o", "claude-sonnet-4-5", "grok-4"} <= set(rows)


def test_reader_going_away_stops_the_stream_quietly() -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "steer_trio.cli", "stream", "--local", "Hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(10)  # like `| head -c 10`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert first == b"Once upon "
    assert "Traceback" not in err and "ExceptionGroup" not in err
