"""A prototype, kept out of the package: an HTTP/1.1 chunked body de-chunked in bulk,
read straight from the socket of a connection httpx2 opened.

httpx2 sends the request and parses the head as usual. From then on, instead of
asking h11 for one ``Data`` event per HTTP chunk (a parse, an event object and a
buffer compaction each, behind two coroutine layers of httpcore2), each network read
is de-chunked in one pass here and returned as one ``bytes``. At the end of the body
the terminating ``0\\r\\n...`` is handed back to h11, so the connection returns to
httpx2's pool as if h11 had read the whole body.

What a real version would still need (not done here): the read timeout (a
``trio.fail_after`` around ``receive_some``), mapping trio's errors to httpx2's, and
chunk extensions beyond ``;`` (ignored here as h11 ignores them).
"""

from __future__ import annotations

from typing import Any

import httpx2

try:
    from h11._receivebuffer import ReceiveBuffer
except ImportError:  # pragma: no cover - another h11 layout
    ReceiveBuffer = None  # type: ignore[assignment,misc]

READ_BYTES = 64 * 1024


class BulkChunkedBody:
    """``async for data in BulkChunkedBody.attach(response)``: the body's bytes, one
    ``bytes`` per network read (all the chunks that read completed)."""

    __slots__ = ("_buffer", "_connection", "_done", "_remaining", "_socket_stream", "_unread")

    def __init__(self, connection: Any, socket_stream: Any, buffered: bytes) -> None:
        self._connection = connection
        self._socket_stream = socket_stream
        self._buffer = buffered
        #: Data bytes left in the current chunk (0: a chunk header comes next); -2 / -1:
        #: the CR LF that ends a chunk is still (partly) to be skipped.
        self._remaining = 0
        self._done = False
        self._unread = bool(buffered)

    @classmethod
    def attach(cls, response: httpx2.Response) -> BulkChunkedBody | None:
        from steer_trio._transport import _DirectBody

        if response.headers.get("transfer-encoding", "").lower() != "chunked":
            return None
        direct = _DirectBody.attach(response)
        if direct is None or ReceiveBuffer is None:
            return None
        connection = direct._connection
        state = connection._h11_state
        trio_stream = getattr(connection._network_stream, "_stream", None)
        if trio_stream is None or not hasattr(trio_stream, "receive_some"):
            return None
        # Whatever h11 read past the head is the start of the body: take it over.
        buffered, _closed = state.trailing_data
        state._receive_buffer = ReceiveBuffer()
        return cls(connection, trio_stream, buffered)

    def __aiter__(self) -> BulkChunkedBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            if self._unread:
                # What came with the head: de-chunk it before reading the network.
                self._unread = False
                out = self._dechunk(self._buffer)
            else:
                data = await self._socket_stream.receive_some(READ_BYTES)
                if not data:
                    raise httpx2.RemoteProtocolError("the server closed the connection mid-body")
                out = self._dechunk(self._buffer + data if self._buffer else data)
            if self._done:
                await self._hand_back()
            if out:
                return out
        raise StopAsyncIteration

    def _dechunk(self, buf: bytes) -> bytes:
        out = []
        pos = 0
        end = len(buf)
        remaining = self._remaining
        while pos < end:
            if remaining > 0:
                take = remaining if remaining <= end - pos else end - pos
                out.append(buf[pos : pos + take])
                pos += take
                remaining -= take
                if remaining == 0:
                    remaining = -2  # the CR LF after the data
                continue
            if remaining < 0:
                skip = -remaining if -remaining <= end - pos else end - pos
                pos += skip
                remaining += skip
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(buf[pos:eol].split(b";", 1)[0], 16)
            if size == 0:
                # The last chunk: h11 reads it (and any trailers) so that its state,
                # and the pool's, say the body is complete.
                self._done = True
                self._buffer = buf[pos:]
                self._remaining = 0
                return b"".join(out)
            pos = eol + 2
            remaining = size
        self._remaining = remaining
        self._buffer = buf[pos:]
        return b"".join(out)

    async def _hand_back(self) -> None:
        import h11

        state = self._connection._h11_state
        state.receive_data(self._buffer)
        self._buffer = b""
        while True:
            event = await self._connection._receive_event()
            if isinstance(event, h11.EndOfMessage):
                return
            if isinstance(event, h11.Data) and event.data:
                raise httpx2.RemoteProtocolError("data after the last chunk")

    async def aclose(self) -> None:
        # An unfinished body: h11's state is not DONE, so releasing the response
        # closes the connection (as it would with h11 reading).
        self._done = True


class DrainedH11Body:
    """The smaller change: still h11, but one ``bytes`` per network read. After the
    first ``Data`` event (which may have read the network), every ``Data`` event h11
    can produce from what it already holds is taken too, without another read, so the
    layers above run once per read instead of once per HTTP chunk."""

    __slots__ = ("_connection", "_done", "_timeout")

    def __init__(self, connection: Any, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._done = False

    @classmethod
    def attach(cls, response: httpx2.Response) -> DrainedH11Body | None:
        from steer_trio._transport import _DirectBody

        direct = _DirectBody.attach(response)
        if direct is None:
            return None
        return cls(direct._connection, direct._timeout)

    def __aiter__(self) -> DrainedH11Body:
        return self

    async def __anext__(self) -> bytes:
        import h11

        if self._done:
            raise StopAsyncIteration
        connection = self._connection
        while True:
            event = await connection._receive_event(timeout=self._timeout)
            if isinstance(event, h11.Data):
                break
            if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                self._done = True
                raise StopAsyncIteration
        parts = [event.data]
        state = connection._h11_state
        while True:
            event = state.next_event()
            if isinstance(event, h11.Data):
                parts.append(event.data)
                continue
            if isinstance(event, h11.EndOfMessage):
                self._done = True
            # NEED_DATA (or the end): hand over what this read gave.
            return b"".join(parts)
