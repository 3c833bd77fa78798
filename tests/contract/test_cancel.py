"""Cancellation: a cancel scope around any path, firing while the library awaits the
network, while a callback runs, or while the caller's own loop body sleeps. The
``Cancelled`` propagates (trio semantics: the scope catches it), the server sees the
connection closed at once, ``on_error`` fires once with ``error_type == "cancelled"``
and the text so far, and the pool slot is free again."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from steer_trio import StreamingResponse
from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import (
    ALL_PATHS,
    FORMATS,
    STREAM_PATHS,
    Outcome,
    Recorder,
    make_client,
    pool_of_one,
    run_path,
)

LONG = [f"w{i} " for i in range(200)]


def slow_story() -> Scenario:
    return Scenario(text=LONG, delay=1.0)


async def next_call_works(client: Any, server: FakeProvider) -> None:
    server.enqueue(Scenario(text=["ok"]))
    with trio.fail_after(5):
        assert (await client.stream_with_usage("again", model="gpt-4o")).text == "ok"


def check_cancelled_partial(
    recorder: Recorder, delivered: str, *, billed: bool = True
) -> StreamingResponse[Any]:
    assert recorder.count("on_error") == 1, recorder.names()
    (event,) = recorder.events("on_error")
    assert event.error_type == "cancelled"
    assert isinstance(event.error, trio.Cancelled)
    partial = event.partial
    assert partial is not None and partial.is_partial
    assert partial.text == delivered
    if billed:
        assert partial.usage_info is not None  # estimated from what arrived
    else:
        assert partial.usage_info is None and partial.cost_usd == 0.0
    assert recorder.count("on_complete") == 0
    return partial  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_cancel_while_awaiting_the_network(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str, autojump_clock: Any
) -> None:
    if path == "generate":
        # A non-streaming answer comes at once: stall it before its headers.
        fake_provider.enqueue(Scenario(fault=Fault("stall_before_headers", seconds=600)))
        callbacks: dict[str, Any] = {}
    else:
        fake_provider.enqueue(slow_story())
        callbacks = recorder.callbacks()
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        outcome = Outcome([])
        with trio.move_on_after(5.5) as scope:
            await run_path(
                path,
                client,
                fmt,
                per_chunk=lambda _: None,
                catch=(),
                outcome=outcome,
                **callbacks,
            )
        cancelled_at = trio.current_time()
        assert scope.cancelled_caught
        assert await wait_closed_at(fake_provider) == cancelled_at
        if path != "generate":
            partial = check_cancelled_partial(recorder, "".join(outcome.chunks))
            assert outcome.chunks, "the cancel should fall mid-stream"
            assert partial.text == "".join(LONG[: len(outcome.chunks)])
        if outcome.stream is not None:
            assert outcome.stream.ended and outcome.stream.response.is_partial
        await next_call_works(client, fake_provider)


async def wait_closed_at(server: FakeProvider) -> float:
    with trio.fail_after(0.05):
        await server.wait_connection_closed(1)
    return server.closed_events[0]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_cancel_while_in_a_callback(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=LONG))
    seen: list[str] = []

    async def slow_on_delta(event: Any) -> None:
        seen.append(event.delta.value)
        await trio.sleep(10)

    async with make_client(fake_provider, limits=pool_of_one()) as client:
        with trio.move_on_after(25) as scope:
            await run_path(path, client, on_delta=slow_on_delta, catch=(), **recorder.callbacks())
        cancelled_at = trio.current_time()
        assert scope.cancelled_caught
        assert seen == LONG[:3]  # the third callback was cut
        # Everything received is kept: the delta being handed to on_delta included.
        check_cancelled_partial(recorder, "".join(seen))
        assert await wait_closed_at(fake_provider) == cancelled_at
        await next_call_works(client, fake_provider)


@pytest.mark.parametrize("callback", ["on_start", "on_usage", "on_complete"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_cancel_in_a_framing_callback(
    fake_provider: FakeProvider, recorder: Recorder, path: str, callback: str, autojump_clock: Any
) -> None:
    """Cancelled while on_start / on_usage / on_complete sleeps: on_error is told, once,
    and on_complete never finished."""
    text = ["a ", "b "]
    fake_provider.enqueue(Scenario(text=text))
    callbacks = recorder.callbacks("on_error")

    async def sleepy(event: Any) -> None:
        await trio.sleep(100)

    callbacks[callback] = sleepy
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        with trio.move_on_after(5) as scope:
            await run_path(path, client, catch=(), **callbacks)
        assert scope.cancelled_caught
        check_cancelled_partial(recorder, "" if callback == "on_start" else "".join(text))
        await next_call_works(client, fake_provider)


@pytest.mark.parametrize("path", ["iterate", "async_with"])
async def test_cancel_in_the_callers_loop_body(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    """Cancelled while the caller's own loop body sleeps, between two chunks. (b): the
    ``async with`` block sees the ``Cancelled`` leave it and reports it to ``on_error``.
    (a): the library is not running at that moment; the loop lets go of its iterator and
    the stream is abandoned like a ``break``: closed at once, partial kept, ``on_error``
    not told (see docs/stream-contract.md)."""
    fake_provider.enqueue(slow_story())

    async def dawdle(_chunk: str) -> None:
        await trio.sleep(10)

    async with make_client(fake_provider, limits=pool_of_one()) as client:
        outcome = Outcome([])
        with trio.move_on_after(25.5) as scope:
            await run_path(
                path, client, per_chunk=dawdle, catch=(), outcome=outcome, **recorder.callbacks()
            )
        cancelled_at = trio.current_time()
        assert scope.cancelled_caught
        assert await wait_closed_at(fake_provider) == cancelled_at
        assert outcome.stream is not None
        response = outcome.stream.response
        assert response is not None and response.is_partial
        # Everything received: the chunks the loop took, then what came in the same
        # network reads and was not taken yet (words piled up while the body slept).
        delivered = "".join(outcome.chunks)
        assert len(outcome.chunks) == 3
        assert response.text.startswith(delivered) and len(response.text) > len(delivered)
        assert "".join(LONG).startswith(response.text)
        assert recorder.count("on_complete") == 0
        if path == "async_with":
            assert check_cancelled_partial(recorder, response.text) is response
        else:
            assert recorder.count("on_error") == 0
        await next_call_works(client, fake_provider)


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_cancel_during_retry_backoff(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    fake_provider.route(
        "gpt-4o", Scenario(fault=Fault("http_error", status=503, headers={"retry-after": "40"}))
    )
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider) as client:
        start = trio.current_time()
        with trio.move_on_after(5) as scope:
            await run_path(path, client, catch=(), **callbacks)
        assert scope.cancelled_caught
        assert trio.current_time() - start == pytest.approx(5)
        assert len(fake_provider.requests) == 1
    if path != "generate":
        # The one attempt was refused (503): nothing the provider bills.
        check_cancelled_partial(recorder, "", billed=False)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_cancel_during_backoff_after_a_refusal_is_not_billed(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    fake_provider.route(
        "gpt-4o", Scenario(fault=Fault("http_error", status=503, headers={"retry-after": "40"}))
    )
    async with make_client(fake_provider) as client:
        with trio.move_on_after(5):
            await run_path(path, client, catch=(), **recorder.callbacks())
    (event,) = recorder.events("on_error")
    partial = event.partial
    assert partial.usage_info is None and partial.cost_usd == 0.0
    assert (partial.cost_reason or "").startswith("not billed")


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_cancel_is_not_turned_into_an_error(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    """``fail_after`` around a stream raises trio's ``TooSlowError``: the library let the
    ``Cancelled`` through to the scope."""
    fake_provider.enqueue(slow_story())
    async with make_client(fake_provider) as client:
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(3.5):
                await run_path(path, client, catch=())


@pytest.mark.parametrize("path", ["iterate", "stream_with_usage", "background"])
async def test_on_error_raising_does_not_swallow_the_cancel(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(slow_story())

    def on_error(event: Any) -> None:
        raise ValueError("on_error's own bug")

    async with make_client(fake_provider) as client:
        with trio.move_on_after(3.5) as scope:
            await run_path(path, client, catch=(), on_error=on_error)
    assert scope.cancelled_caught


async def test_on_error_raising_in_async_with_keeps_the_cancel(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    """(b) already holds: the block's exit lets the Cancelled through."""
    fake_provider.enqueue(slow_story())

    def on_error(event: Any) -> None:
        raise ValueError("on_error's own bug")

    async with make_client(fake_provider) as client:
        with trio.move_on_after(3.5) as scope:
            await run_path("async_with", client, catch=(), on_error=on_error)
    assert scope.cancelled_caught
