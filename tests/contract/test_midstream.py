"""Failures after the answer started: one ``SteerError`` whose ``partial`` holds every
text delta the server sent before the failure (even when the failure came in the same
TCP write as those deltas), ``on_error`` once, ``on_complete`` never, and never a
second request once a byte of the body arrived.

Every fault runs for every provider format, on every streaming path, with the server
writing one event per TCP write ("event") and everything up to the fault in one write
("whole")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from steer_trio import (
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    ProviderError,
    SteerError,
    StreamIncompleteError,
    StreamInterruptedError,
    StreamProtocolError,
)
from steer_trio.testing import FakeProvider, Fault, Replay, Scenario

from ._support import FORMATS, MODES, STREAM_PATHS, TEXT, Outcome, Recorder, make_client, run_path

#: After this many content events, the fault.
CUT = 3

#: name: (fault, the error class, options)
FAULTS: dict[str, tuple[Fault, type[SteerError], dict[str, Any]]] = {
    "in_stream_error": (Fault("in_stream_error", after_events=CUT), ProviderError, {}),
    "drop": (Fault("drop_after", after_events=CUT), StreamInterruptedError, {}),
    "truncate": (Fault("truncate_after", after_events=CUT), StreamIncompleteError, {}),
    "malformed_json": (Fault("malformed_json_after", after_events=CUT), StreamProtocolError, {}),
    "content_length_short": (
        Fault("content_length_short", after_events=CUT),
        StreamInterruptedError,
        {},
    ),
    "idle_timeout": (
        Fault("stall_after", after_events=CUT, seconds=600),
        IdleTimeout,
        {"read_timeout": 5},
    ),
    "deadline": (
        Fault("stall_after", after_events=CUT, seconds=600),
        DeadlineExceeded,
        {"deadline": 20},
    ),
}


def check_one_error(outcome: Outcome, cls: type[SteerError], sent: list[str]) -> None:
    """The call raised one ``cls`` (no group) whose partial has exactly ``sent``."""
    error = outcome.error
    assert isinstance(error, cls), repr(error)
    assert not isinstance(error, BaseExceptionGroup)
    partial = outcome.partial
    assert partial.is_partial and partial.error is error
    assert partial.text == "".join(sent)
    assert outcome.chunks == sent  # each delta delivered once, in order, none lost
    assert error.content_delivered == bool(sent)
    if outcome.stream is not None:
        assert outcome.stream.response is partial


def check_callbacks(recorder: Recorder, error: BaseException | None) -> None:
    assert recorder.count("on_error") == 1
    (event,) = recorder.events("on_error")
    assert event.error is error and event.error_type == type(error).__name__
    assert event.partial is getattr(error, "partial", None)
    assert recorder.count("on_complete") == 0
    assert recorder.names()[-1] == "on_error"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
@pytest.mark.parametrize("fault_name", FAULTS)
async def test_fault_mid_stream(
    fake_provider: FakeProvider,
    recorder: Recorder,
    fault_name: str,
    path: str,
    fmt: str,
    mode: str,
    autojump_clock: Any,
) -> None:
    fault, cls, options = FAULTS[fault_name]
    fake_provider.enqueue(Scenario(text=TEXT, fault=fault, chunking=mode))  # type: ignore[arg-type]
    async with make_client(fake_provider, **options) as client:
        start = trio.current_time()
        with trio.fail_after(120):
            outcome = await run_path(
                path, client, fmt, per_chunk=lambda _: None, **recorder.callbacks()
            )
        took = trio.current_time() - start
    check_one_error(outcome, cls, TEXT[:CUT])
    check_callbacks(recorder, outcome.error)
    partial = outcome.partial
    usage = partial.usage
    assert usage is not None and usage["completion_tokens"] >= 1
    assert partial.cost_usd is not None and partial.cost_usd > 0
    assert not (partial.cost_reason or "").startswith("not billed")
    assert len(fake_provider.requests) == 1  # never re-sent once the body started
    if isinstance(outcome.error, ProviderError):
        assert outcome.error.in_stream
    if fault_name == "idle_timeout":
        assert took == pytest.approx(5, abs=0.01)
    if fault_name == "deadline":
        assert took == pytest.approx(20, abs=0.01)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_reset_mid_stream_keeps_a_prefix(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str
) -> None:
    """A TCP reset may discard bytes the client had not read yet (the kernel's choice):
    what the caller was given and what ``partial`` holds still agree, and nothing is
    re-sent."""
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("reset_after", after_events=CUT)))
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(
                path, client, fmt, per_chunk=lambda _: None, **recorder.callbacks()
            )
    error = outcome.error
    assert isinstance(error, SteerError) and not isinstance(error, BaseExceptionGroup)
    text = outcome.partial.text
    assert "".join(TEXT[:CUT]).startswith(text)
    assert "".join(outcome.chunks) == text
    check_callbacks(recorder, error)
    if text:
        assert len(fake_provider.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_in_stream_error_before_any_content_is_not_retried(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str, mode: str
) -> None:
    """An error event as the first thing of the body: a retryable error, but the body had
    started, so the request is not sent again."""
    fault = Fault("in_stream_error", after_events=0, error_type="overloaded_error")
    fake_provider.enqueue(Scenario(text=TEXT, fault=fault, chunking=mode), Scenario(text=TEXT))  # type: ignore[arg-type]
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt, **recorder.callbacks())
    check_one_error(outcome, ProviderError, [])
    assert isinstance(outcome.error, ProviderError) and outcome.error.in_stream
    assert outcome.error.is_retryable  # retryable by the caller, not by us
    assert len(fake_provider.requests) == 1
    check_callbacks(recorder, outcome.error)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_keepalive_bytes_then_silence_is_not_retried(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    """Keep-alive comments are bytes of the body: a timeout after them is not retried."""
    fault = Fault("keepalive_trickle", seconds=100)
    fake_provider.enqueue(Scenario(text=TEXT, fault=fault), Scenario(text=TEXT))
    async with make_client(fake_provider, read_timeout=5) as client:
        start = trio.current_time()
        with trio.fail_after(60):
            outcome = await run_path(path, client, **recorder.callbacks())
        took = trio.current_time() - start
    check_one_error(outcome, FirstTokenTimeout, [])
    assert took == pytest.approx(5, abs=1.01)  # keep-alives every second: checked on each
    assert len(fake_provider.requests) == 1
    check_callbacks(recorder, outcome.error)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_body_without_content_cut_short_is_not_retried(
    fake_provider: FakeProvider, recorder: Recorder, path: str, tmp_path: Path
) -> None:
    """The body started (a role chunk) and ended without its end marker: no retry."""
    body = tmp_path / "cut.sse"
    body.write_text(
        'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":null}]}\n\n'
    )
    fake_provider.enqueue(Replay(body), Scenario(text=TEXT))
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, **recorder.callbacks())
    check_one_error(outcome, StreamIncompleteError, [])
    assert len(fake_provider.requests) == 1
    check_callbacks(recorder, outcome.error)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_fault_with_on_delta_keeps_every_delta(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str
) -> None:
    """With ``on_delta`` (the callback path, not the fast path), in one TCP write: the
    deltas before the error reach ``on_delta`` once each, and the partial."""
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("in_stream_error", after_events=CUT), chunking="whole")
    )
    deltas: list[str] = []

    def on_delta(event: Any) -> None:
        if event.delta.kind == "text":
            deltas.append(event.delta.value)

    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt, on_delta=on_delta, **recorder.callbacks())
    assert isinstance(outcome.error, ProviderError)
    assert deltas == TEXT[:CUT]
    assert outcome.partial.text == "".join(TEXT[:CUT])
    check_callbacks(recorder, outcome.error)


@pytest.mark.parametrize("kind", ["drop_after", "reset_after"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_headers_then_nothing_is_retried_once_and_delivered_once(
    fake_provider: FakeProvider,
    recorder: Recorder,
    path: str,
    fmt: str,
    kind: str,
    autojump_clock: Any,
) -> None:
    """The answer's headers arrived, then the connection broke before any byte of the
    body: the request is sent again (nothing was received), and the caller sees one
    start and every text once."""
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault(kind, after_events=0)),  # type: ignore[arg-type]
        Scenario(text=TEXT),
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(
                path, client, fmt, per_chunk=lambda _: None, **recorder.callbacks()
            )
    assert outcome.error is None, repr(outcome.error)
    assert outcome.response is not None and outcome.response.text == "".join(TEXT)
    assert outcome.chunks == TEXT
    assert len(fake_provider.requests) == 2
    assert recorder.count("on_start") == recorder.count("on_complete") == 1
    assert recorder.count("on_error") == 0
    assert outcome.response.metrics["attempts"] == 2
