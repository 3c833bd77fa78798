"""Shared helpers of the stream-contract suite: the provider formats, the ways to stream, and a
recorder of callbacks.

The suite tests the contract from the outside (the public API against the fake
provider over real sockets): a stream completes, or the caller gets one ``SteerError``
whose ``partial`` holds everything received; nothing is dropped or delivered twice;
nothing is re-sent once the answer started; the connection closes at once when the
caller stops.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import httpx2
import trio

from steer_trio import (
    RetryPolicy,
    SteerClient,
    StreamingOptions,
    StreamingResponse,
    TextStream,
    create_event_processor,
)
from steer_trio.testing import FakeProvider

#: Each wire format the fake provider writes, and how a call selects it.
FORMATS: dict[str, dict[str, Any]] = {
    "openai": {"model": "gpt-4o"},
    "anthropic": {"model": "claude-haiku-4-5"},
    "responses": {"model": "gpt-4o", "api": "responses"},
    "gemini": {"model": "gemini-2.5-flash"},
}
#: How the fake provider writes a body: one event per TCP write, or every event up to
#: (and including) a fault in one write.
MODES = ("event", "whole")
#: The streaming paths: (a) plain ``async for``, (b) ``async with`` then ``async for``,
#: (c) ``stream_with_usage``, (e) ``stream_with_usage`` with a background processor.
STREAM_PATHS = ("iterate", "async_with", "stream_with_usage", "background")
#: Every path, the non-streaming ``generate`` (d) included.
ALL_PATHS = (*STREAM_PATHS, "generate")

TEXT = ["one ", "two ", "three ", "four ", "five ", "six "]


def make_client(server: FakeProvider, **options: Any) -> SteerClient:
    """A client whose every provider points at ``server``; exact (jitter-free) backoff."""
    limits = options.pop("limits", None)
    retry_policy = options.pop("retry_policy", None) or RetryPolicy(rng=lambda: 1.0)
    streaming_options = StreamingOptions(**options)
    client = SteerClient(
        api_keys={"openai": "sk-t", "anthropic": "sk-ant-t", "xai": "xai-t", "gemini": "gm-t"},
        base_urls={
            "openai": server.openai_base_url,
            "anthropic": server.anthropic_base_url,
            "xai": server.xai_base_url,
            "gemini": server.gemini_base_url,
        },
        streaming_options=streaming_options,
        retry_policy=retry_policy,
        limits=limits,
    )
    _CLIENT_OPTIONS[client] = streaming_options
    return client


#: The options each client of ``make_client`` was made with.
_CLIENT_OPTIONS: weakref.WeakKeyDictionary[SteerClient, StreamingOptions] = (
    weakref.WeakKeyDictionary()
)


@attrs.define
class Recorder:
    """Every callback call, in order, as ``(name, event)``."""

    calls: list[tuple[str, Any]] = attrs.field(factory=list)

    def callback(self, name: str) -> Callable[[Any], None]:
        def record(event: Any) -> None:
            self.calls.append((name, event))

        return record

    def callbacks(self, *names: str) -> dict[str, Callable[[Any], None]]:
        """Recording callbacks. The default set leaves the text fast path on (no
        ``on_delta``): on_start, on_usage, on_complete, on_error."""
        names = names or ("on_start", "on_usage", "on_complete", "on_error")
        return {name: self.callback(name) for name in names}

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    def events(self, name: str) -> list[Any]:
        return [e for n, e in self.calls if n == name]

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]


@attrs.define
class Outcome:
    """How one call ended: the chunks the caller got, and the response or the error."""

    chunks: list[str]
    response: StreamingResponse[Any] | None = None
    error: BaseException | None = None
    stream: TextStream | None = None

    @property
    def partial(self) -> StreamingResponse[Any]:
        assert self.error is not None, f"the call completed: {self.response!r}"
        partial = getattr(self.error, "partial", None)
        assert partial is not None, f"{self.error!r} carries no partial"
        return partial  # type: ignore[no-any-return]


def call_kwargs(fmt: str, **kwargs: Any) -> dict[str, Any]:
    return {**FORMATS[fmt], **kwargs}


async def run_path(
    path: str,
    client: SteerClient,
    fmt: str = "openai",
    *,
    prompt: str = "x",
    per_chunk: Callable[[str], Any] | None = None,
    options: StreamingOptions | None = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    outcome: Outcome | None = None,
    transformers: tuple[Any, ...] = (),
    **kwargs: Any,
) -> Outcome:
    """Run one call on ``path``; the error it raised (of ``catch``) is kept, not raised.
    Pass ``outcome`` to see what arrived when the call raises anyway (a cancel).
    ``transformers`` run in an event processor (in its own task on "background").

    ``per_chunk`` is awaited for each chunk the caller's loop body receives (paths (a)
    and (b)); for the other paths it runs in an ``on_delta`` callback."""
    kwargs = call_kwargs(fmt, **kwargs)
    outcome = outcome or Outcome([])
    chunks = outcome.chunks
    if path == "background" or transformers:
        processor = create_event_processor(
            background=path == "background", transformers=transformers
        )
        base = options or _CLIENT_OPTIONS.get(client) or StreamingOptions()
        options = base.replace(event_processor=processor)
    if options is not None:
        kwargs["streaming_options"] = options
    if path in ("stream_with_usage", "background") and per_chunk is not None:
        user_on_delta = kwargs.pop("on_delta", None)

        async def on_delta(event: Any) -> None:
            if user_on_delta is not None:
                user_on_delta(event)
            if event.delta.kind == "text":
                chunks.append(event.delta.value)
                result = per_chunk(event.delta.value)
                if result is not None:
                    await result

        kwargs["on_delta"] = on_delta
    try:
        if path == "iterate":
            stream = client.stream(prompt, **kwargs)
            outcome.stream = stream
            async for chunk in stream:
                chunks.append(chunk)
                if per_chunk is not None:
                    result = per_chunk(chunk)
                    if result is not None:
                        await result
            outcome.response = stream.response
        elif path == "async_with":
            async with client.stream(prompt, **kwargs) as stream:
                outcome.stream = stream
                async for chunk in stream:
                    chunks.append(chunk)
                    if per_chunk is not None:
                        result = per_chunk(chunk)
                        if result is not None:
                            await result
            outcome.response = stream.response
        elif path in ("stream_with_usage", "background"):
            outcome.response = await client.stream_with_usage(prompt, **kwargs)
        elif path == "generate":
            outcome.response = await client.generate(prompt, **kwargs)
        else:  # pragma: no cover - a typo in a parametrization
            raise AssertionError(path)
    except catch as exc:
        outcome.error = exc
    return outcome


async def wait_closed(server: FakeProvider, count: int = 1, within: float = 0.05) -> float:
    """Wait (bounded, on trio's clock) for ``count`` closed connections; the time the
    last of them closed."""
    with trio.fail_after(within):
        await server.wait_connection_closed(count)
    return server.closed_events[count - 1]


def pool_of_one() -> httpx2.Limits:
    return httpx2.Limits(max_connections=1, max_keepalive_connections=1)


# -- a bare HTTP/1.1 server, for bodies the fake provider does not write -----------------

#: ``handler(stream, request, index)`` writes a whole response for the ``index``-th request
#: (0-based, over all connections) and returns True to keep the connection for another.
RawHandler = Callable[[trio.SocketStream, bytes, int], Awaitable[bool]]

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
CHUNKED_END = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def openai_delta(text: str | None = None, **delta: Any) -> bytes:
    """One OpenAI chat-completions SSE event with this delta."""
    import json

    if text is not None:
        delta["content"] = text
    body = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


OPENAI_FINISH = (
    b'data: {"id":"chatcmpl-raw","object":"chat.completion.chunk","created":1,'
    b'"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@attrs.define
class RawServer:
    port: int = 0
    requests: list[bytes] = attrs.field(factory=list)
    connections: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _read_request(stream: trio.SocketStream, buffer: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None
        rest += data
    buffer[:] = rest[length:]
    return head + b"\r\n\r\n" + rest[:length]


@asynccontextmanager
async def open_raw_server(handler: RawHandler) -> AsyncIterator[RawServer]:
    server = RawServer()

    async def serve(stream: trio.SocketStream) -> None:
        server.connections += 1
        buffer = bytearray()
        try:
            while True:
                request = await _read_request(stream, buffer)
                if request is None:
                    return
                server.requests.append(request)
                if not await handler(stream, request, len(server.requests) - 1):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        server.port = listeners[0].socket.getsockname()[1]
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
