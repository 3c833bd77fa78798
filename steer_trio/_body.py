"""Reading a streamed body: per call, everything one network read brought.

``open_body`` picks the cheapest reader that is exact for the response:

* ``BulkBody``: an HTTP/1.1 chunked body from httpx2's own pool (what every provider
  streams). Each network read is de-chunked in one pass (``_chunked.ChunkedDecoder``,
  h11's rules) and handed over as one ``bytes``; at the last chunk h11 reads the
  trailers itself, so the connection returns to the pool exactly as httpcore2 leaves it.
* ``DirectBody``: any other HTTP/1.1 body from the pool: h11 parses it, and every
  ``Data`` event one read completed is handed over at once.
* httpx2's own iteration for everything else (compressed bodies, HTTP/2, a mock or
  custom transport).

None of them is an async generator, so nothing is left half-run for the garbage
collector when a stream is abandoned; the first two skip five generator layers of
httpx2 and httpcore2 per read.

They reach into httpcore2's connection and h11's state (private attributes, checked
when the reader is attached: a layout they do not know falls back to the next reader).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import trio

from ._chunked import ChunkedDecoder, ChunkedFramingError

__all__ = ["BulkBody", "DirectBody", "ReadyBody", "open_body"]

#: Bytes asked of the network per read. Everything a read brings is parsed in one
#: task step: at 16 KiB (about 130 small events) that step stays near 2 ms, where
#: httpcore2's 64 KiB made it 13-17 ms while a fast server streamed a 1 MB answer
#: (bench_memory.py, "step"); the extra reads cost nothing measurable per event.
READ_BYTES = 16 * 1024


def open_body(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body's bytes, one item per network read, as an iterator we own and must
    ``aclose()``."""
    encoding = response.headers.get("content-encoding", "identity").lower()
    if encoding not in ("identity", ""):
        # A server (or proxy) compressed it anyway: let httpx2 decode it.
        return response.aiter_bytes()
    connection = _http11_connection(response)
    if connection is not None:
        timeout = response.request.extensions.get("timeout", {}).get("read")
        bulk = BulkBody.attach(response, connection, timeout)
        if bulk is not None:
            return bulk
        return DirectBody(connection, timeout)
    stream = response.stream
    assert isinstance(stream, httpx2.AsyncByteStream)  # an AsyncClient's response
    return aiter(stream)


def _http11_connection(response: httpx2.Response) -> Any:
    """httpcore2's HTTP/1.1 connection carrying ``response``, or None."""
    try:
        import httpcore2
        from httpcore2._async.http11 import HTTP11ConnectionByteStream

        stream: Any = response.stream
        pool_stream = stream._stream._httpcore_stream
        byte_stream = pool_stream._stream
        if not isinstance(byte_stream, HTTP11ConnectionByteStream):
            return None
        connection = byte_stream._connection
        if not isinstance(connection, httpcore2.AsyncHTTP11Connection):
            return None
        connection._receive_event  # noqa: B018 - the method we rely on exists
        connection._h11_state.next_event  # noqa: B018 - and h11's, for the rest of a read
    except (AttributeError, ImportError):
        return None
    return connection


class DirectBody:
    """Reads an HTTP/1.1 body from httpcore2's connection state: per call, everything
    one network read completed.

    httpcore2's own body iterator hands over one HTTP chunk per step, through two layers
    of coroutines; a provider's event is usually one chunk, and a fast one packs many
    into a read. Here, after the first ``Data`` event (which may read the network),
    every ``Data`` event h11 can parse from what it already holds is taken too, so the
    layers above (SSE, the parser, the pipeline) run once per read, not once per chunk.
    h11 still parses every chunk, so the connection goes back to the pool exactly as
    httpcore2 would leave it."""

    __slots__ = ("_connection", "_done", "_pending", "_timeout")

    def __init__(self, connection: Any, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._done = False
        #: A protocol error h11 raised after data of the same read: raised on the next
        #: call, so the data before it is delivered first.
        self._pending: BaseException | None = None

    def __aiter__(self) -> DirectBody:
        return self

    async def __anext__(self) -> bytes:
        import h11

        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._done = True
            raise pending
        if self._done:
            raise StopAsyncIteration
        try:
            while True:
                event = await self._connection._receive_event(timeout=self._timeout)
                if isinstance(event, h11.Data):
                    break
                if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                    self._done = True
                    raise StopAsyncIteration
        except Exception as exc:
            _raise_mapped(exc)
            raise
        first = event.data
        parts: list[Any] | None = None
        state = self._connection._h11_state
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                error = httpx2.RemoteProtocolError(str(exc) or "protocol error")
                error.__cause__ = exc
                self._pending = error
                break
            if isinstance(event, h11.Data):
                if parts is None:
                    parts = [first]
                parts.append(event.data)
                continue
            if isinstance(event, h11.EndOfMessage):
                self._done = True
            break  # NEED_DATA: this read is all used
        return bytes(first) if parts is None else b"".join(parts)


class BulkBody:
    """A chunked HTTP/1.1 body read straight from the connection's network stream and
    de-chunked a whole read at a time."""

    __slots__ = (
        "_connection",
        "_decoder",
        "_done",
        "_network",
        "_pending_bytes",
        "_pending_error",
        "_receive",
        "_timeout",
    )

    def __init__(self, connection: Any, buffered: bytes, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._decoder = ChunkedDecoder()
        self._done = False
        network = connection._network_stream
        self._network = network
        # httpcore2's trio stream: its socket (or TLS) stream directly, without a
        # context manager and a cancel scope per read; any other: its own read().
        inner = getattr(network, "_stream", None)
        self._receive = inner.receive_some if isinstance(inner, trio.abc.ReceiveStream) else None
        #: What h11 had read past the head: the start of the body.
        self._pending_bytes = buffered
        self._pending_error: ChunkedFramingError | None = None

    @classmethod
    def attach(
        cls, response: httpx2.Response, connection: Any, timeout: float | None
    ) -> BulkBody | None:
        if response.headers.get("transfer-encoding", "").strip().lower() != "chunked":
            return None
        try:
            from h11._receivebuffer import ReceiveBuffer

            state = connection._h11_state
            reader = state._reader
            # h11 must be at the very start of the chunked body, and hold nothing else.
            if (
                type(reader).__name__ != "ChunkedReader"
                or reader._bytes_in_chunk
                or reader._bytes_to_discard
                or reader._reading_trailer
            ):
                return None
            buffered, closed = state.trailing_data
            if closed:
                return None
            connection._network_stream  # noqa: B018 - the stream we read
            state._receive_buffer = ReceiveBuffer()
        except (AttributeError, ImportError):
            return None
        return cls(connection, buffered, timeout)

    def __aiter__(self) -> BulkBody:
        return self

    async def __anext__(self) -> bytes:
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            self._done = True
            await trio.lowlevel.checkpoint()
            raise httpx2.RemoteProtocolError(str(error)) from error
        while not self._done:
            if self._pending_bytes:
                data, self._pending_bytes = self._pending_bytes, b""
                await trio.lowlevel.checkpoint()
            else:
                data = await self._read()
                if not data:
                    self._done = True
                    raise httpx2.RemoteProtocolError(
                        "peer closed connection without sending complete message body "
                        "(incomplete chunked read)"
                    )
            decoder = self._decoder
            try:
                body = decoder.feed(data)
            except ChunkedFramingError as exc:
                self._done = True
                raise httpx2.RemoteProtocolError(str(exc)) from exc
            if decoder.error is not None:
                # The bytes before the break first; the next call raises it.
                self._pending_bytes = b""
                self._pending_error = decoder.error
                return body
            if decoder.done:
                self._done = True
                await self._hand_back()
            if body:
                return body
        raise StopAsyncIteration

    async def _read(self) -> bytes:
        receive = self._receive
        try:
            if receive is None:
                data: bytes = await self._network.read(READ_BYTES, timeout=self._timeout)
                return data
            if self._timeout is None:
                return bytes(await receive(READ_BYTES))
            with trio.move_on_after(self._timeout):
                return bytes(await receive(READ_BYTES))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__) from exc
        except Exception as exc:
            _raise_mapped(exc)
            raise
        raise httpx2.ReadTimeout("read timed out")

    async def _hand_back(self) -> None:
        """The last chunk and what follows go back to h11, which reads the trailers
        (from the network if need be) and ends the message, as it always does."""
        import h11

        connection = self._connection
        connection._h11_state.receive_data(self._decoder.rest)
        try:
            while True:
                event = await connection._receive_event(timeout=self._timeout)
                if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                    return
                if (
                    isinstance(event, h11.Data) and event.data
                ):  # pragma: no cover - h11 reads trailers here
                    raise httpx2.RemoteProtocolError("body data after the last chunk")
        except Exception as exc:
            _raise_mapped(exc)
            raise


def _raise_mapped(exc: Exception) -> None:
    """Raise httpx2's error for httpcore2's (as httpx2 itself maps them)."""
    import httpcore2

    if isinstance(exc, httpcore2.TimeoutException):
        raise httpx2.ReadTimeout(str(exc) or "read timed out") from exc
    if isinstance(exc, httpcore2.RemoteProtocolError):
        raise httpx2.RemoteProtocolError(str(exc) or "protocol error") from exc
    if isinstance(exc, httpcore2.NetworkError | httpcore2.ProtocolError):
        raise httpx2.ReadError(str(exc) or type(exc).__name__) from exc


class ReadyBody:
    """A body that is already in memory, as the one chunk of an async iterator."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> ReadyBody:
        return self

    async def __anext__(self) -> bytes:
        await trio.lowlevel.checkpoint()
        body, self._body = self._body, None
        if body is None:
            raise StopAsyncIteration
        return body
