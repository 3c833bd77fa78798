"""Deadlines and idle clocks. ``StreamingOptions(deadline=...)`` covers the pool wait,
connecting, retries and backoff, reads and the callbacks, and fires at its time (on
the autojump clock: within 10 ms). ``first_token_timeout`` and ``read_timeout`` start
when the request is sent, not while it waits for a pool slot; keep-alives and empty
deltas do not reset the idle clock; the last chunk is not held back by the drain."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from steer_trio import (
    DeadlineExceeded,
    IdleTimeout,
    ServerError,
    SteerClient,
    StreamingOptions,
)
from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import (
    ALL_PATHS,
    CHUNKED_END,
    OPENAI_FINISH,
    SSE_HEAD,
    STREAM_PATHS,
    TEXT,
    Outcome,
    Recorder,
    chunk,
    make_client,
    open_raw_server,
    openai_delta,
    pool_of_one,
    run_path,
)

EXACT = 0.01  # seconds: "at its time", on the autojump clock


def check_deadline(outcome: Outcome, took: float, deadline: float) -> None:
    assert isinstance(outcome.error, DeadlineExceeded), repr(outcome.error)
    assert str(deadline) in str(outcome.error)
    assert took == pytest.approx(deadline, abs=EXACT)
    assert outcome.partial.is_partial


async def timed(path: str, client: SteerClient, **kwargs: Any) -> tuple[Outcome, float]:
    start = trio.current_time()
    with trio.fail_after(600):
        outcome = await run_path(path, client, **kwargs)
    return outcome, trio.current_time() - start


async def hold_the_only_connection(
    client: SteerClient, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Take the pool's one connection and keep it (a slow stream, read to its end)."""
    async with client.stream("hold", model="gpt-4o") as stream:
        started = False
        async for _ in stream:
            if not started:
                task_status.started()
                started = True


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_deadline_covers_the_pool_wait(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=["w "] * 100, delay=1.0))
    async with (
        make_client(fake_provider, limits=pool_of_one()) as client,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(hold_the_only_connection, client)
        callbacks = {} if path == "generate" else recorder.callbacks()
        outcome, took = await timed(path, client, options=StreamingOptions(deadline=5), **callbacks)
        nursery.cancel_scope.cancel()
    check_deadline(outcome, took, 5)
    assert len(fake_provider.requests) == 1  # the second request was never sent
    partial = outcome.partial
    assert partial.usage_info is None and partial.cost_usd == 0.0
    assert (partial.cost_reason or "").startswith("not billed")
    if path != "generate":
        assert recorder.count("on_error") == 1 and recorder.count("on_start") == 0


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_deadline_covers_connecting(path: str, autojump_clock: Any) -> None:
    # A listener whose accept queue is full: the kernel drops the SYN, the handshake hangs.
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    host, port = listener.getsockname()
    filler = trio.socket.socket()
    await filler.connect((host, port))
    try:
        async with SteerClient(
            api_keys={"openai": "k"}, base_urls={"openai": f"http://{host}:{port}/v1"}
        ) as client:
            options = StreamingOptions(deadline=3, connection_timeout=30)
            outcome, took = await timed(path, client, options=options)
    finally:
        filler.close()
        listener.close()
    check_deadline(outcome, took, 3)


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_deadline_covers_retries_and_backoff(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=500, body="{}")),
        Scenario(fault=Fault("stall_before_headers", seconds=600)),
    )
    async with make_client(fake_provider, deadline=5) as client:
        outcome, took = await timed(path, client)
    check_deadline(outcome, took, 5)
    assert len(fake_provider.requests) == 2
    assert outcome.partial.metrics["attempts"] == 2


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_backoff_past_the_deadline_is_not_slept(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=503, headers={"retry-after": "40"}, body="{}"))
    )
    async with make_client(fake_provider, deadline=10) as client:
        outcome, took = await timed(path, client)
    assert isinstance(outcome.error, ServerError)  # the last error, at once
    assert took == pytest.approx(0, abs=EXACT)
    assert len(fake_provider.requests) == 1


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_deadline_covers_reading_a_keepalive_trickle(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("keepalive_trickle", seconds=10_000)))
    async with make_client(fake_provider, deadline=30, read_timeout=None) as client:
        outcome, took = await timed(path, client)
    check_deadline(outcome, took, 30)


@pytest.mark.parametrize("callback", ["on_start", "on_delta", "on_usage", "on_complete"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_deadline_cuts_a_slow_callback(
    fake_provider: FakeProvider, recorder: Recorder, path: str, callback: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))

    async def sleepy(event: Any) -> None:
        await trio.sleep(100)

    callbacks = recorder.callbacks("on_error")
    callbacks[callback] = sleepy
    async with make_client(fake_provider, deadline=5) as client:
        outcome, took = await timed(path, client, **callbacks)
    check_deadline(outcome, took, 5)
    expected = {"on_start": "", "on_delta": TEXT[0]}.get(callback, "".join(TEXT))
    assert outcome.partial.text == expected
    (event,) = recorder.events("on_error")
    assert event.error is outcome.error


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_deadline_on_a_fresh_client(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    """A client used without ``async with``: its first call makes the pool, and the
    deadline holds all the same."""
    fake_provider.enqueue(Scenario(fault=Fault("stall_before_headers", seconds=600)))
    client = make_client(fake_provider, deadline=4)
    try:
        outcome, took = await timed(path, client)
    finally:
        await client.aclose()
    check_deadline(outcome, took, 4)


@pytest.mark.parametrize("limit", ["first_token_timeout", "read_timeout"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_silence_clocks_start_when_the_request_is_sent(
    fake_provider: FakeProvider, path: str, limit: str, autojump_clock: Any
) -> None:
    """Waiting 10 s for the pool's only connection is not silence from the provider."""
    fake_provider.enqueue(Scenario(text=["w "] * 10, delay=1.0), Scenario(text=TEXT))
    async with (
        make_client(fake_provider, limits=pool_of_one()) as client,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(hold_the_only_connection, client)
        options = StreamingOptions(**{limit: 3})
        outcome, took = await timed(path, client, options=options)
    assert outcome.error is None, repr(outcome.error)
    assert outcome.response is not None and outcome.response.text == "".join(TEXT)
    assert took >= 9  # it did wait for the slot
    assert outcome.response.metrics["queued_ms"] >= 9000


def trickle(filler: bytes) -> Any:
    """A handler: two words, then ``filler`` every second, forever."""

    async def handler(stream: trio.SocketStream, request: bytes, index: int) -> bool:
        await stream.send_all(SSE_HEAD + chunk(openai_delta("one ") + openai_delta("two ")))
        while True:
            await trio.sleep(1)
            await stream.send_all(chunk(filler))

    return handler


@pytest.mark.parametrize(
    "filler",
    [
        b": keep-alive\n\n",
        openai_delta(tool_calls=[{"index": 0}]),
        openai_delta(""),
    ],
    ids=["comment", "empty_tool_call_delta", "empty_text_delta"],
)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_fillers_do_not_reset_the_idle_clock(
    path: str, filler: bytes, autojump_clock: Any
) -> None:
    async with (
        open_raw_server(trickle(filler)) as server,
        SteerClient(
            api_keys={"openai": "k"}, base_urls={"openai": server.base_url + "/v1"}
        ) as client,
    ):
        options = StreamingOptions(read_timeout=5)
        outcome, took = await timed(path, client, options=options, per_chunk=lambda _: None)
    assert isinstance(outcome.error, IdleTimeout), repr(outcome.error)
    assert outcome.partial.text == "one two " and outcome.chunks == ["one ", "two "]
    # Silence is measured when a filler arrives (one a second): caught within a second.
    assert 5 <= took <= 6 + EXACT


async def done_then_stall(stream: trio.SocketStream, request: bytes, index: int) -> bool:
    """The whole answer and its end marker at once, then the body stays open 1 s."""
    events = openai_delta("one ") + openai_delta("two ") + OPENAI_FINISH
    await stream.send_all(SSE_HEAD + chunk(events))
    await trio.sleep(1)
    await stream.send_all(CHUNKED_END)
    return True


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_last_chunk_is_not_held_back_by_the_drain(path: str, autojump_clock: Any) -> None:
    arrived: list[float] = []
    async with (
        open_raw_server(done_then_stall) as server,
        SteerClient(
            api_keys={"openai": "k"}, base_urls={"openai": server.base_url + "/v1"}
        ) as client,
    ):
        start = trio.current_time()
        outcome, took = await timed(
            path, client, per_chunk=lambda _: arrived.append(trio.current_time() - start)
        )
    assert outcome.error is None and outcome.response is not None
    assert outcome.chunks == ["one ", "two "]
    assert arrived == [0.0, 0.0]  # not after the body's last second
    assert took <= 1 + EXACT  # the drain is bounded


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_drain_does_not_fail_a_complete_stream(path: str, autojump_clock: Any) -> None:
    async def on_complete(event: Any) -> None:
        await trio.sleep(0)

    async with (
        open_raw_server(done_then_stall) as server,
        SteerClient(
            api_keys={"openai": "k"}, base_urls={"openai": server.base_url + "/v1"}
        ) as client,
    ):
        outcome, _took = await timed(
            path, client, options=StreamingOptions(deadline=0.5), on_complete=on_complete
        )
    assert outcome.error is None, repr(outcome.error)
    assert outcome.response is not None and outcome.response.text == "one two "
