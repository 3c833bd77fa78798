"""Body readers to compare against the one steer_trio ships (``steer_trio._body``),
swapped in by patching ``steer_trio._transport.open_body`` in a benchmark process.

* ``PerChunkH11Body``: how the body was read before the bulk reader: one h11 ``Data``
  event (one HTTP chunk) per call, through httpcore2's ``_receive_event``;
* ``DirectBody`` (shipped, for bodies that are not chunked): h11 still parses every
  chunk, and every chunk one network read completed is handed over at once;
* ``BulkBody`` (shipped, for chunked bodies): each read de-chunked in one pass.
"""

from __future__ import annotations

from typing import Any

import httpx2

import steer_trio._transport as transport
from steer_trio._body import BulkBody, DirectBody, _http11_connection


class PerChunkH11Body:
    __slots__ = ("_connection", "_done", "_timeout")

    def __init__(self, connection: Any, timeout: float | None) -> None:
        self._connection = connection
        self._timeout = timeout
        self._done = False

    def __aiter__(self) -> PerChunkH11Body:
        return self

    async def __anext__(self) -> bytes:
        import h11

        if self._done:
            raise StopAsyncIteration
        while True:
            event = await self._connection._receive_event(timeout=self._timeout)
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                self._done = True
                raise StopAsyncIteration


READERS: dict[str, Any] = {
    "per-chunk": PerChunkH11Body,
    "drained": DirectBody,
    "bulk": BulkBody,
}

_original_open_body = transport.open_body


def reader_for(response: httpx2.Response, kind: str) -> Any:
    """A body reader of ``kind`` for ``response`` (which must be chunked HTTP/1.1)."""
    connection = _http11_connection(response)
    assert connection is not None, "not an HTTP/1.1 response from httpx2's pool"
    timeout = response.request.extensions.get("timeout", {}).get("read")
    if kind == "bulk":
        reader = BulkBody.attach(response, connection, timeout)
        assert reader is not None, "not a chunked body"
        return reader
    return READERS[kind](connection, timeout)


def use_reader(kind: str | None) -> None:
    """Make steer_trio read bodies with ``kind`` in this process (None: as shipped)."""
    if kind is None:
        transport.open_body = _original_open_body
        return

    def open_body(response: httpx2.Response) -> Any:
        return reader_for(response, kind)

    transport.open_body = open_body
