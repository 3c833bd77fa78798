"""The ``steer-trio`` command: output, exit codes, and a reader that goes away.

In-process runs call ``cli.main`` (it runs trio itself, so these tests are sync); the
pipe test runs the real console entry point in a child process. A test that needs a
server with a given behaviour runs the fake provider in a thread, in its own trio
run, and points the command at it with ``--base-url``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from steer_trio import cli
from steer_trio.testing import FakeProvider, Fault, Scenario, open_fake_provider

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY")
#: A hostile server's text: a window title (OSC), clear screen and colour (CSI), a
#: carriage return that would hide what came before, a bell, an 8-bit CSI, DEL.
HOSTILE = "bad\x1b]0;owned\x07 news\x1b[2J\x1b[31m here\rsafe\x07\x9b1m\x7f end"


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "XAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # The local demo paces its words for a human; tests need no pacing.
    monkeypatch.setattr(cli, "LOCAL_STORY_DELAY", 0.0)


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    """A fake provider in a thread of its own (the command runs trio.run itself)."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        async with open_fake_provider() as fake:
            state["server"], state["stop"] = fake, trio.Event()
            state["token"] = trio.lowlevel.current_trio_token()
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    assert ready.wait(30), "the fake provider did not start"
    try:
        yield state["server"]
    finally:
        trio.from_thread.run_sync(state["stop"].set, trio_token=state["token"])
        thread.join(30)


def stream_from(server: FakeProvider, *args: str) -> int:
    return cli.main(["stream", "-m", "gpt-4o", "--base-url", server.openai_base_url, *args])


def test_local_provider_streams_text_and_reports_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stream", "Tell me a story"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert out.startswith("Once upon a time") and "Tell me a story" in out
    assert "using the built-in local provider" in err
    # The local model is free, and the demo says so rather than "no price known".
    assert "[usage] prompt" in err and "[cost] $0 (local provider)" in err
    assert "unknown" not in err


def test_empty_prompt_is_bad_usage_with_no_notice_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for prompt in ("", "   "):
        with pytest.raises(SystemExit) as info:
            cli.main(["stream", prompt])
        assert info.value.code == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert "prompt is empty" in err and "usage: steer-trio stream" in err
        assert "no provider API key" not in err


def test_local_flag_needs_no_notice_and_honours_max_tokens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["stream", "--local", "--max-tokens", "5", "Tell me a story"]) == 0
    out, err = capsys.readouterr()
    assert out == "Once upon a time, an \n"  # five words, as five tokens
    assert "no provider API key" not in err
    assert "completion 5 =" in err and "token limit" in err


def test_unknown_option_shows_the_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["stream", "--bogus", "Hi"])
    assert info.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: steer-trio stream" in err and "unrecognized arguments: --bogus" in err


def test_fake_server_help_matches_the_module_command(capsys: pytest.CaptureFixture[str]) -> None:
    from steer_trio.testing import __main__ as module_command

    with pytest.raises(SystemExit):
        cli.main(["fake-server", "--help"])
    cli_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        module_command.main(["--help"])
    module_help = capsys.readouterr().out
    assert "Run the fake LLM provider" in cli_help and "--story-delay" in cli_help
    # The same description and options, whichever way it is started.
    assert cli_help.split("\n\n", 1)[1] == module_help.split("\n\n", 1)[1]


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


def test_json_after_a_failure_has_the_error_and_the_partial_text(
    server: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    server.enqueue(
        Scenario(text=["Hello", " wor", "ld"], fault=Fault("drop_after", after_events=2))
    )
    assert stream_from(server, "--json", "Hi") == cli.EXIT_STREAM_FAILED
    result = json.loads(capsys.readouterr().out)
    assert result["error"]["type"] == "StreamInterruptedError"
    assert "broke mid-stream" in result["error"]["message"]
    assert result["error"]["partial_text"] == "Hello wor" == result["text"]
    assert result["is_partial"] is True


def test_json_for_a_configuration_error_has_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stream", "-m", "gpt-4o-mini", "--json", "Hi"]) == cli.EXIT_CONFIG
    result = json.loads(capsys.readouterr().out)
    assert result["error"]["type"] == "MissingAPIKeyError"
    assert "OPENAI_API_KEY" in result["error"]["message"]


def test_server_error_text_is_stripped_of_terminal_controls(
    server: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"error": {"message": HOSTILE, "type": "invalid_request_error"}})
    server.enqueue(Scenario(fault=Fault("http_error", status=400, body=body)))
    assert stream_from(server, "Hi") == cli.EXIT_STREAM_FAILED
    err = capsys.readouterr().err
    assert "BadRequestError" in err and "bad news here" in err and "safe" in err
    assert not any(c in err for c in "\x1b\x07\r\x9b\x7f")


def test_streamed_text_on_a_terminal_is_stripped_and_piped_is_exact(
    server: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.enqueue(Scenario(text=["Hi ", HOSTILE]))
    assert stream_from(server, "Hi") == cli.EXIT_OK
    piped = capsys.readouterr().out
    assert piped == "Hi " + HOSTILE + "\n"  # the product, byte for byte

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    server.enqueue(Scenario(text=["Hi ", HOSTILE]))
    assert stream_from(server, "Hi") == cli.EXIT_OK
    shown = capsys.readouterr().out
    assert shown == "Hi bad news heresafe end\n"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text\twith tab\nand newline", "plain text\twith tab\nand newline"),
        ("\x1b[1;31mred\x1b[0m", "red"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST ends
        ("\x1b]52;c;cGFzdGU=\x07copied", "copied"),  # OSC 52: write the clipboard
        ("title\x1b]0;cut off", "title"),  # an OSC the text ends inside
        ("\x1bPq#0;2;0;0;0\x1b\\after", "after"),  # DCS (sixel) string
        ("keep\x1b7\x1b8\x1bc going", "keep going"),  # save/restore cursor, reset
        ("\x9b2J8-bit\x9d0;t\x9c csi", "8-bit csi"),
        ("back\x08\x08ck", "backck"),
        ("caf\u00e9 \u4e2d\u6587 \U0001f600", "caf\u00e9 \u4e2d\u6587 \U0001f600"),
    ],
)
def test_terminal_safe(text: str, shown: str) -> None:
    assert cli.terminal_safe(text) == shown


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
    rows = {line.split()[0]: line.split() for line in lines[1:] if not line.startswith(" ")}
    assert {"gpt-4o", "claude-sonnet-4-5", "grok-4"} <= set(rows)
    # A long-context tier is the indented line under its model.
    at = next(i for i, line in enumerate(lines) if line.startswith("gemini-2.5-pro "))
    assert rows["gemini-2.5-pro"][1:4] == ["1.25", "0.125", "-"]
    assert lines[at + 1].split() == ["prompt", ">", "200,000", "2.5", "0.25", "-", "15", "2026-07"]


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
