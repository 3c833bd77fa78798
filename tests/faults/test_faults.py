"""Every failure a provider or the network can produce, against the fake provider.

Each case checks the error class, that nothing streamed is lost, that the pool still
works afterwards, and that it cannot hang (autojump clock + fail_after)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx2
import pytest
import trio

from steer_trio import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    CallbackError,
    ConnectTimeout,
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SteerClient,
    StreamIncompleteError,
    StreamingOptions,
    StreamInterruptedError,
    StreamProtocolError,
)
from steer_trio.testing import FakeProvider, Fault, Scenario

TEXT = ["one ", "two ", "three ", "four ", "five "]


def client(server: FakeProvider, **options: Any) -> SteerClient:
    return SteerClient(
        api_keys={"openai": "k", "anthropic": "k"},
        base_urls={"openai": server.openai_base_url, "anthropic": server.anthropic_base_url},
        streaming_options=StreamingOptions(**options),
        retry_policy=RetryPolicy(rng=lambda: 1.0),  # no jitter: exact delays
        limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
    )


async def still_works(c: SteerClient, server: FakeProvider, model: str = "gpt-4o") -> None:
    server.enqueue(Scenario(text=["ok"]))
    with trio.fail_after(30):
        assert (await c.stream_with_usage("again", model=model)).get_text() == "ok"


# -- network -------------------------------------------------------------------------------


async def test_connection_refused_retries_then_raises(autojump_clock: Any) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
    c = SteerClient(
        api_keys={"openai": "k"},
        base_urls={"openai": f"http://127.0.0.1:{port}/v1"},
        retry_policy=RetryPolicy(rng=lambda: 1.0),
    )
    start = trio.current_time()
    with trio.fail_after(60), pytest.raises(APIConnectionError) as info:
        await c.stream_with_usage("x", model="gpt-4o")
    metrics = info.value.partial.metrics
    assert metrics["attempts"] == 3
    assert metrics["retry_delays"] == [0.5, 1.0]  # exponential, no jitter here
    assert trio.current_time() - start >= 1.5
    await c.aclose()


async def test_reset_before_headers_is_retried(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(fault=Fault("reset_before_headers")), Scenario(text=["fine"]))
    async with client(fake_provider) as c:
        with trio.fail_after(60):
            response = await c.stream_with_usage("x", model="gpt-4o")
        assert response.get_text() == "fine"
        assert response.metrics["attempts"] == 2
        ids = {r.headers["idempotency-key"] for r in fake_provider.requests}
        assert len(fake_provider.requests) == 2 and len(ids) == 1  # same key every attempt
        await still_works(c, fake_provider)


async def test_drop_mid_stream_after_content_is_not_retried(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("drop_after", after_events=2)))
    seen: list[str] = []
    async with client(fake_provider) as c:
        with trio.fail_after(60), pytest.raises(StreamInterruptedError) as info:
            await c.stream_with_usage(
                "x", model="gpt-4o", on_delta=lambda e: seen.append(e.delta.value)
            )
        assert info.value.partial.get_text() == "one two "
        assert seen == ["one ", "two "]  # delivered once, never again
        assert info.value.content_delivered and info.value.is_retryable
        assert len(fake_provider.requests) == 1
        await still_works(c, fake_provider)


async def test_drop_before_content_is_retried(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("drop_after", after_events=0)), Scenario(text=TEXT)
    )
    async with client(fake_provider) as c:
        with trio.fail_after(60):
            response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == "".join(TEXT)
    assert len(fake_provider.requests) == 2


@pytest.mark.parametrize("kind", ["truncate_after", "content_length_short"])
async def test_cut_bodies(fake_provider: FakeProvider, kind: str, autojump_clock: Any) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault(kind, after_events=3)))  # type: ignore[arg-type]
    expected = StreamIncompleteError if kind == "truncate_after" else StreamInterruptedError
    async with client(fake_provider) as c:
        with trio.fail_after(60), pytest.raises(expected) as info:
            await c.stream_with_usage("x", model="gpt-4o")
        assert info.value.partial.get_text() == "one two three "
        await still_works(c, fake_provider)


async def test_plain_iteration_keeps_what_was_yielded(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("truncate_after", after_events=2)))
    got: list[str] = []
    async with client(fake_provider) as c:
        stream = c.stream("x", model="gpt-4o")
        with trio.fail_after(30), pytest.raises(StreamIncompleteError) as info:
            async for chunk in stream:
                got.append(chunk)
    assert got == ["one ", "two "]
    assert info.value.partial.get_text() == "one two "
    assert stream.response is info.value.partial


# -- time ------------------------------------------------------------------------------------


async def test_stall_before_first_byte(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("stall_before_headers", seconds=600)))
    async with client(fake_provider, first_token_timeout=5, max_retries=0) as c:
        start = trio.current_time()
        with trio.fail_after(60), pytest.raises(FirstTokenTimeout):
            await c.stream_with_usage("x", model="gpt-4o")
        assert trio.current_time() - start == pytest.approx(5, abs=0.1)
        await still_works(c, fake_provider)


async def test_stall_mid_stream(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("stall_after", after_events=2, seconds=600))
    )
    async with client(fake_provider, read_timeout=7) as c:
        with trio.fail_after(60), pytest.raises(IdleTimeout) as info:
            await c.stream_with_usage("x", model="gpt-4o")
        assert info.value.partial.get_text() == "one two "
        await still_works(c, fake_provider)


async def test_keepalive_trickle_stopped_by_deadline(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("keepalive_trickle", seconds=10_000)))
    async with client(fake_provider, deadline=30, read_timeout=None) as c:
        start = trio.current_time()
        with trio.fail_after(120), pytest.raises(DeadlineExceeded):
            await c.stream_with_usage("x", model="gpt-4o")
        assert trio.current_time() - start == pytest.approx(30, abs=1.1)


async def test_keepalives_do_not_reset_idle_timer(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("keepalive_trickle", seconds=10_000)))
    async with client(fake_provider, read_timeout=5) as c:
        with trio.fail_after(120), pytest.raises(FirstTokenTimeout):
            await c.stream_with_usage("x", model="gpt-4o")


# -- HTTP statuses -----------------------------------------------------------------------------

HTML = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.mark.parametrize(
    ("status", "cls", "body"),
    [
        (400, BadRequestError, '{"error": {"message": "bad", "type": "invalid_request_error"}}'),
        (401, AuthenticationError, '{"error": {"message": "key", "type": "authentication_error"}}'),
        (403, PermissionDeniedError, '{"error": {"message": "no"}}'),
        (404, NotFoundError, '{"error": {"message": "model?"}}'),
        (409, BadRequestError, '{"error": {"message": "conflict"}}'),
        (413, BadRequestError, "<html><h1>413 Request Entity Too Large</h1></html>"),
        (422, BadRequestError, '{"error": {"message": "unprocessable"}}'),
        (500, ServerError, '{"error": {"message": "oops"}}'),
        (502, ServerError, HTML),
        (503, ServerError, "Service Unavailable"),
        (
            529,
            OverloadedError,
            '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
        ),
    ],
)
async def test_statuses(
    fake_provider: FakeProvider, status: int, cls: type, body: str, autojump_clock: Any
) -> None:
    fake_provider.route("gpt-4o", Scenario(fault=Fault("http_error", status=status, body=body)))
    async with client(fake_provider) as c:
        with trio.fail_after(60), pytest.raises(cls) as info:
            await c.stream_with_usage("x", model="gpt-4o")
        err = info.value
        assert err.status_code == status
        assert "<" not in err.message and err.message
        retried = err.is_retryable
        assert len(fake_provider.requests) == (3 if retried else 1)
        await still_works(c, fake_provider)


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "100000"}, 0.5),  # unreasonable: falls back to the backoff
    ],
)
async def test_429_retry_after(
    fake_provider: FakeProvider, headers: dict[str, str], delay: float, autojump_clock: Any
) -> None:
    assert await waited_after_429(fake_provider, headers) == pytest.approx(delay, abs=0.05)


async def waited_after_429(fake_provider: FakeProvider, headers: dict[str, str]) -> float:
    """Seconds (trio clock) a request took that got a 429 with ``headers``, then text."""
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=429, headers=headers, body="{}")),
        Scenario(text=["done"]),
    )
    async with client(fake_provider) as c:
        start = trio.current_time()
        with trio.fail_after(600):
            response = await c.stream_with_usage("x", model="gpt-4o")
        assert response.get_text() == "done"
        return trio.current_time() - start


async def test_429_retry_after_http_date(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    # An HTTP date is wall-clock time; the wait is slept on trio's (autojump) clock.
    # The date has whole seconds, so the wait is 20 s minus the current fraction.
    when = email.utils.formatdate(time.time() + 21, usegmt=True)
    assert 19.0 <= await waited_after_429(fake_provider, {"retry-after": when}) <= 21.5
    assert len(fake_provider.requests) == 2


def test_retry_after_http_date_parsing() -> None:
    from steer_trio._retry import parse_retry_after

    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(httpx2.Headers({"retry-after": when}), now=1_000_000) == 30
    past = email.utils.formatdate(999_000, usegmt=True)
    assert parse_retry_after(httpx2.Headers({"retry-after": past}), now=1_000_000) == 0.0
    assert parse_retry_after(httpx2.Headers({"retry-after": "soon"}), now=1_000_000) is None


async def test_quota_429_not_retried(fake_provider: FakeProvider) -> None:
    body = '{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}'
    fake_provider.enqueue(Scenario(fault=Fault("http_error", status=429, body=body)))
    async with client(fake_provider) as c:
        with pytest.raises(RateLimitError) as info:
            await c.stream_with_usage("x", model="gpt-4o")
    assert not info.value.is_retryable and len(fake_provider.requests) == 1


@pytest.mark.parametrize(("status", "header", "attempts"), [(500, "false", 1), (400, "true", 3)])
async def test_x_should_retry(
    fake_provider: FakeProvider, status: int, header: str, attempts: int, autojump_clock: Any
) -> None:
    fault = Scenario(fault=Fault("http_error", status=status, headers={"x-should-retry": header}))
    fake_provider.route("gpt-4o", fault)
    async with client(fake_provider) as c:
        with trio.fail_after(60), pytest.raises(ProviderError):
            await c.stream_with_usage("x", model="gpt-4o")
    assert len(fake_provider.requests) == attempts


async def test_backoff_longer_than_deadline_fails_now(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=429, headers={"retry-after": "50"}))
    )
    async with client(fake_provider, deadline=10) as c:
        start = trio.current_time()
        with pytest.raises(RateLimitError):
            await c.stream_with_usage("x", model="gpt-4o")
        assert trio.current_time() - start < 0.1


async def test_cancel_during_backoff_returns_at_once(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=503, headers={"retry-after": "40"}))
    )
    async with client(fake_provider) as c:
        start = trio.current_time()
        with trio.move_on_after(5):
            await c.stream_with_usage("x", model="gpt-4o")
        assert trio.current_time() - start == pytest.approx(5)


# -- payloads ----------------------------------------------------------------------------------


async def test_json_body_instead_of_stream(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(fault=Fault("json_body_instead_of_stream")))
    async with client(fake_provider, max_retries=0) as c:
        with pytest.raises(StreamProtocolError, match="instead of text/event-stream"):
            await c.stream_with_usage("x", model="gpt-4o")


async def test_malformed_json_line(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("malformed_json_after", after_events=2)))
    async with client(fake_provider) as c:
        with pytest.raises(StreamProtocolError) as info:
            await c.stream_with_usage("x", model="gpt-4o")
        assert info.value.raw == "{not json"
        assert info.value.partial.get_text() == "one two "
        await still_works(c, fake_provider)


async def test_events_after_done_are_ignored(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, fault=Fault("events_after_done")))
    async with client(fake_provider) as c:
        response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == "".join(TEXT)


@pytest.mark.parametrize("seed", range(5))
async def test_multibyte_bom_crlf_random_chunks(fake_provider: FakeProvider, seed: int) -> None:
    text = ["héllo ", "wörld ", "😀 ", "日本語 ", "ok"]
    fake_provider.enqueue(
        Scenario(text=text, bom=True, line_ending="\r\n", chunking="random", seed=seed)
    )
    async with client(fake_provider) as c:
        response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == "".join(text)


async def test_one_megabyte_event(fake_provider: FakeProvider) -> None:
    big = "x" * (1024 * 1024)
    fake_provider.enqueue(Scenario(text=[big, "!"]))
    async with client(fake_provider) as c:
        response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == big + "!"


async def test_event_over_the_limit_is_typed(fake_provider: FakeProvider) -> None:
    from steer_trio import SSEEventTooLargeError

    fake_provider.enqueue(Scenario(text=["y" * 5000]))
    async with client(fake_provider, max_event_bytes=1000) as c:
        with pytest.raises(SSEEventTooLargeError, match="max_event_bytes"):
            await c.stream_with_usage("x", model="gpt-4o")
        await still_works(c, fake_provider)


async def test_hundred_thousand_tiny_events(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["a"] * 100_000, chunking="whole"))
    async with client(fake_provider) as c:
        response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == "a" * 100_000


async def test_empty_deltas_and_keepalive_comments(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["", "a", "", "b"], keepalive_comments=True))
    async with client(fake_provider) as c:
        response = await c.stream_with_usage("x", model="gpt-4o")
    assert response.get_text() == "ab"


@pytest.mark.parametrize(
    ("model", "error_type", "cls"),
    [
        ("gpt-4o", "server_error", ServerError),
        ("claude-haiku-4-5", "overloaded_error", OverloadedError),
        ("claude-haiku-4-5", "rate_limit_error", RateLimitError),
    ],
)
async def test_in_stream_errors(
    fake_provider: FakeProvider, model: str, error_type: str, cls: type
) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("in_stream_error", after_events=2, error_type=error_type))
    )
    async with client(fake_provider) as c:
        with pytest.raises(cls) as info:
            await c.stream_with_usage("x", model=model)
        err = info.value
        assert err.in_stream and err.status_code != 200
        assert err.partial.get_text() == "one two "
        assert len(fake_provider.requests) == 1  # content was delivered: never retried
        await still_works(c, fake_provider, model)


# -- cancellation and callbacks ----------------------------------------------------------------


async def test_cancel_closes_connection_at_once(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=["w "] * 1000, delay=1.0))
    async with client(fake_provider) as c:
        with trio.move_on_after(3.5):
            await c.stream_with_usage("x", model="gpt-4o")
        cancelled_at = trio.current_time()
        with trio.fail_after(1):
            await fake_provider.wait_connection_closed(1)
        assert fake_provider.closed_events[0] - cancelled_at < 0.05
        await still_works(c, fake_provider)


async def test_cancel_during_connect(autojump_clock: Any) -> None:
    # A local listener whose accept queue is full: the kernel drops further SYNs, so a
    # new connection hangs in the TCP handshake (no dependence on outside networks).
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    host, port = listener.getsockname()
    filler = trio.socket.socket()
    await filler.connect((host, port))  # takes the only place in the queue
    c = SteerClient(api_keys={"openai": "k"}, base_urls={"openai": f"http://{host}:{port}/v1"})
    try:
        start = trio.current_time()
        with trio.move_on_after(2) as scope:
            await c.stream_with_usage(
                "x",
                model="gpt-4o",
                streaming_options=StreamingOptions(max_retries=0, connection_timeout=30),
            )
        assert scope.cancelled_caught  # cancelled, not an error
        assert trio.current_time() - start <= 2.5
        # The same hang with a connection_timeout is a ConnectTimeout: the stall above
        # was in the handshake, not after it.
        with trio.fail_after(60), pytest.raises(ConnectTimeout):
            await c.stream_with_usage(
                "x",
                model="gpt-4o",
                streaming_options=StreamingOptions(max_retries=0, connection_timeout=1),
            )
    finally:
        await c.aclose()
        filler.close()
        listener.close()


async def test_callback_that_raises_stops_the_stream(fake_provider: FakeProvider) -> None:
    class Boom(Exception):
        pass

    calls: list[int] = []

    def on_delta(event: Any) -> None:
        calls.append(event.chunk_index)
        if len(calls) == 2:
            raise Boom("callback failed")

    errors: list[Any] = []
    fake_provider.enqueue(Scenario(text=TEXT))
    async with client(fake_provider) as c:
        with pytest.raises(CallbackError) as caught:
            await c.stream_with_usage(
                "x", model="gpt-4o", on_delta=on_delta, on_error=errors.append
            )
        assert calls == [0, 1]
        await still_works(c, fake_provider)
    # The caller's own exception, untouched, is the cause; the partial is kept.
    assert isinstance(caught.value.__cause__, Boom)
    assert caught.value.callback == "on_delta"
    assert caught.value.partial is not None and caught.value.partial.text == TEXT[0] + TEXT[1]
    assert [e.error for e in errors] == [caught.value]


async def test_cancel_during_a_callback_fires_nothing_after(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    seen: list[str] = []

    async def slow(event: Any) -> None:
        seen.append("delta")
        await trio.sleep(10)

    fake_provider.enqueue(Scenario(text=TEXT))
    async with client(fake_provider) as c:
        with trio.move_on_after(15):
            await c.stream_with_usage(
                "x",
                model="gpt-4o",
                on_delta=slow,
                on_complete=lambda e: seen.append("complete"),
                on_error=lambda e: seen.append(f"error:{e.error_type}"),
            )
    assert seen == ["delta", "delta", "error:cancelled"]


async def test_slow_callback_applies_backpressure(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    """A callback slower than the server: the provider task stops reading once the
    bounded channel is full, instead of buffering the whole stream."""
    from steer_trio._transport import Exchange

    reads = 0
    original = Exchange.read_batch

    async def counting(self: Exchange) -> Any:
        nonlocal reads
        reads += 1
        return await original(self)

    processed = 0

    async def slow(event: Any) -> None:
        nonlocal processed
        processed += 1
        await trio.sleep(1)

    fake_provider.enqueue(Scenario(text=["x"] * 2000))
    Exchange.read_batch = counting  # type: ignore[method-assign]
    try:
        async with client(fake_provider, buffer_size=4) as c:
            with trio.move_on_after(20.5):
                await c.stream_with_usage("x", model="gpt-4o", on_delta=slow)
    finally:
        Exchange.read_batch = original  # type: ignore[method-assign]
    assert processed == 21
    # Reads ran ahead of processing by at most the channel's few batches.
    assert reads - processed <= 4 + 3


@pytest.mark.parametrize("how", ["stream_with_usage", "async_for", "async_with"])
async def test_ctrl_c_is_one_exception_and_closes_the_connection(
    fake_provider: FakeProvider, how: str
) -> None:
    """trio delivers Ctrl-C as KeyboardInterrupt at a checkpoint; a callback raising it
    stands in for that here. The caller sees KeyboardInterrupt itself, never a group."""

    def interrupt(event: Any) -> None:
        if event.chunk_index == 2:
            raise KeyboardInterrupt

    fake_provider.enqueue(Scenario(text=["w "] * 1000, delay=0.001))
    async with client(fake_provider) as c:
        with trio.fail_after(10), pytest.raises(KeyboardInterrupt):
            if how == "stream_with_usage":
                await c.stream_with_usage("x", model="gpt-4o", on_delta=interrupt)
            elif how == "async_for":
                async for _ in c.stream("x", model="gpt-4o", on_delta=interrupt):
                    pass
            else:
                async with c.stream("x", model="gpt-4o", on_delta=interrupt) as chunks:
                    async for _ in chunks:
                        pass
        with trio.fail_after(5):
            await fake_provider.wait_connection_closed(1)
        await still_works(c, fake_provider)
