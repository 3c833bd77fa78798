"""HTTP/1.1 chunked transfer coding, de-chunked a whole network read at a time.

Sans-IO: ``feed()`` takes the bytes of one read, split anywhere, and returns the body
bytes they complete, joined once. h11 does the same work one chunk per call (a parse,
an event object and a buffer compaction each): for a provider sending one small event
per chunk that is most of the cost of a read. The rules are h11's, so a body one
accepts the other accepts, byte for byte, and what h11 refuses is refused here with
its message: a chunk size of 1 to 20 hex digits, extensions after ``;`` ignored,
trailing spaces and tabs allowed, each chunk's data followed by exactly CR LF, a size
line at most ``MAX_LINE`` bytes.

A framing error comes after the body bytes before it: ``feed`` returns them and keeps
the error in ``error``; the next ``feed`` raises it.

The decoder stops at the last chunk (size 0): what follows it (trailers, the blank
line, and anything a server sent after) is ``rest``, for h11 to read as it always
does, so the connection's state says the message is complete.
"""

from __future__ import annotations

import re

__all__ = ["ChunkedDecoder", "ChunkedFramingError"]

# h11's chunk-header rule, without the line end (h11/_abnf.py: chunk_header).
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")


class ChunkedFramingError(ValueError):
    """The body is not valid chunked coding (the message says where it broke)."""


class ChunkedDecoder:
    """``feed(read) -> body bytes`` until ``done``; then ``rest`` is what came after."""

    #: Longest size line accepted (h11's limit on an incomplete event).
    MAX_LINE = 16 * 1024

    __slots__ = ("_footer", "_remaining", "_unparsed", "done", "error", "rest")

    def __init__(self) -> None:
        #: Bytes of a chunk's data still to come.
        self._remaining = 0
        #: The part of the CR LF after a chunk's data still to be checked.
        self._footer = b""
        #: The start of a size line whose end has not arrived.
        self._unparsed = b""
        #: The last chunk was read: nothing more to feed.
        self.done = False
        #: From the last chunk's size line on: trailers and whatever followed.
        self.rest = b""
        #: Where the coding broke, after the body bytes ``feed`` returned before it.
        self.error: ChunkedFramingError | None = None

    def feed(self, data: bytes) -> bytes:
        """The body bytes ``data`` completes (possibly ``b""``). At the first byte that
        breaks the coding: ``ChunkedFramingError``, raised now if no body bytes came
        before it in ``data``, else kept in ``error`` and raised by the next call."""
        if self.error is not None:
            raise self.error
        if self.done:
            raise ChunkedFramingError("data fed after the last chunk")
        out: list[bytes] = []
        try:
            self._feed(data, out)
        except ChunkedFramingError as exc:
            self.error = exc
            if not out:
                raise
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        buf = self._unparsed + data if self._unparsed else data
        self._unparsed = b""
        pos = 0
        end = len(buf)
        while pos < end:
            remaining = self._remaining
            if remaining:
                take = min(remaining, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._remaining = remaining - take
                if self._remaining == 0:
                    self._footer = b"\r\n"
                continue
            footer = self._footer
            if footer:
                seen = buf[pos : pos + len(footer)]
                if seen != footer[: len(seen)]:
                    raise ChunkedFramingError(
                        f"malformed chunk footer: {seen!r} (expected {footer!r})"
                    )
                self._footer = footer[len(seen) :]
                pos += len(seen)
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > self.MAX_LINE:
                    raise ChunkedFramingError("chunk size line too long")
                self._unparsed = buf[pos:]
                break
            line = buf[pos:eol]
            match = _SIZE_LINE.fullmatch(line)
            if match is None:
                header = buf[pos : eol + 2]
                raise ChunkedFramingError(f"illegal chunk header: {header!r}")
            size = int(match[1], 16)
            if size == 0:
                self.done = True
                self.rest = buf[pos:]
                break
            self._remaining = size
            pos = eol + 2
