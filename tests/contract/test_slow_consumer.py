"""A slow consumer: an error reaches it however slowly it reads, on every path, and its
slowness is never mistaken for a silent provider."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from steer_trio import ProviderError, SteerError, StreamIncompleteError, StreamInterruptedError
from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import FORMATS, MODES, STREAM_PATHS, TEXT, Recorder, make_client, run_path

SLOW = 5.0  # seconds per chunk, on the autojump clock
FAULTS = {
    "in_stream_error": ProviderError,
    "drop_after": StreamInterruptedError,
    "truncate_after": StreamIncompleteError,
}


async def crawl(_chunk: str) -> None:
    await trio.sleep(SLOW)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_error_reaches_a_slow_consumer(
    fake_provider: FakeProvider,
    recorder: Recorder,
    path: str,
    kind: str,
    mode: str,
    autojump_clock: Any,
) -> None:
    fault = Fault(kind, after_events=4)  # type: ignore[arg-type]
    fake_provider.enqueue(Scenario(text=TEXT, fault=fault, chunking=mode))  # type: ignore[arg-type]
    async with make_client(fake_provider) as client:
        start = trio.current_time()
        with trio.fail_after(600):
            outcome = await run_path(path, client, per_chunk=crawl, **recorder.callbacks())
        took = trio.current_time() - start
    assert isinstance(outcome.error, FAULTS[kind]), repr(outcome.error)
    assert outcome.chunks == TEXT[:4]
    assert outcome.partial.text == "".join(TEXT[:4])
    assert took == pytest.approx(4 * SLOW, abs=0.01)  # the error came right after the last
    assert recorder.count("on_error") == 1 and recorder.count("on_complete") == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_slow_consumer_is_not_an_idle_provider(
    fake_provider: FakeProvider, path: str, fmt: str, autojump_clock: Any
) -> None:
    """20 chunks at 5 s each (100 s) with read_timeout=10: the provider sent everything
    at once; the time is the consumer's, and the stream completes."""
    text = [f"w{i} " for i in range(20)]
    fake_provider.enqueue(Scenario(text=text))
    async with make_client(fake_provider, read_timeout=10) as client:
        with trio.fail_after(600):
            outcome = await run_path(path, client, fmt, per_chunk=crawl)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.response is not None and outcome.response.text == "".join(text)
    assert outcome.chunks == text


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_slow_consumer_of_a_long_erroring_stream(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    """The server finished writing (and closed) long before the consumer reaches the
    error: the error is still the provider's, not a timeout, after every chunk."""
    text = [f"w{i} " for i in range(40)]
    fault = Fault("in_stream_error", after_events=30, error_type="rate_limit_error")
    fake_provider.enqueue(Scenario(text=text, fault=fault, chunking="whole"))
    async with make_client(fake_provider, read_timeout=10) as client:
        with trio.fail_after(600):
            outcome = await run_path(path, client, per_chunk=crawl)
    assert isinstance(outcome.error, SteerError) and type(outcome.error).__name__ == (
        "RateLimitError"
    )
    assert outcome.chunks == text[:30]
