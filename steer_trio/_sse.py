"""A sans-IO Server-Sent Events decoder: bytes in, events out.

Follows the WHATWG event-stream rules: CR, LF and CRLF line ends (a CR that ends one
network chunk and the LF that starts the next are one line end); a leading UTF-8 BOM
stripped once, even when split across chunks; ``:`` comment lines ignored (and
counted: they are keep-alives); the ``event``, ``data``, ``id`` and ``retry`` fields;
exactly one space after the colon stripped; multi-line ``data`` joined with ``\\n``; no
event for an empty data buffer; an unterminated final event discarded at EOF.

Bytes are decoded one complete line at a time, so a multibyte character split across
chunks decodes correctly; invalid UTF-8 becomes U+FFFD instead of raising (a stream
must not die on one bad byte, and what arrived before it must not be lost).

Cost: each byte is searched for line ends once. A partial line is kept as a list of
pieces and joined once, when its end arrives, so a 16 MB event in 16-byte pieces is
linear. The common case, one complete event per chunk with LF line ends, takes a fast
path of one ``split``.
"""

from __future__ import annotations

import attrs

from ._errors import SSEEventTooLargeError

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


@attrs.define(slots=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    #: The last event id in force when this event was dispatched.
    id: str | None = None
    #: A ``retry`` value set within this event, if any.
    retry: int | None = None


class SSEDecoder:
    __slots__ = (
        "_bom_pending",
        "_data",
        "_event",
        "_event_bytes",
        "_partial",
        "_partial_len",
        "_retry",
        "_skip_lf",
        "comment_count",
        "last_event_id",
        "max_event_bytes",
    )

    def __init__(self, *, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_event_bytes = max_event_bytes
        self.comment_count = 0
        self.last_event_id: str | None = None
        # None once the start of the stream has been checked for a BOM.
        self._bom_pending: bytes | None = b""
        self._partial: list[bytes] = []
        self._partial_len = 0
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self._event_bytes = 0

    # -- input ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._bom_pending is not None:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if (
            # Fast path: one whole `data:` event in one chunk, as providers send them.
            chunk[:6] == b"data: "
            and not self._partial
            and not self._data
            and not self._skip_lf
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1:] == b"\n"
            and b"\r" not in chunk
            and len(chunk) <= self.max_event_bytes
        ):
            event = ServerSentEvent(
                self._event or "message",
                chunk[6:-2].decode("utf-8", "replace"),
                self.last_event_id,
                self._retry,
            )
            if self._event or self._retry is not None:
                self._reset_event()
            return [event]
        out: list[ServerSentEvent] = []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" not in chunk:
            lines = chunk.split(b"\n")
            tail = lines.pop()
            if self._partial and lines:
                lines[0] = b"".join(self._partial) + lines[0]
                self._partial.clear()
                self._partial_len = 0
            for line in lines:
                self._line(line, out)
            if tail:
                self._keep_partial(tail)
            return out
        self._feed_with_cr(chunk, out)
        return out

    def _feed_with_cr(self, chunk: bytes, out: list[ServerSentEvent]) -> None:
        start = 0
        size = len(chunk)
        while start < size:
            cr = chunk.find(b"\r", start)
            lf = chunk.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, nxt = lf, lf + 1
            else:
                end, nxt = cr, cr + 1
                if nxt < size:
                    if chunk[nxt] == 0x0A:
                        nxt += 1
                else:
                    # The LF of this CRLF may be the first byte of the next chunk.
                    self._skip_lf = True
            piece = chunk[start:end]
            if self._partial:
                self._partial.append(piece)
                piece = b"".join(self._partial)
                self._partial.clear()
                self._partial_len = 0
            self._line(piece, out)
            start = nxt
        if start < size:
            self._keep_partial(chunk[start:])

    def _strip_bom(self, chunk: bytes) -> bytes:
        assert self._bom_pending is not None
        head = self._bom_pending + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._bom_pending = head  # might still become a BOM: wait for more bytes
            return b""
        self._bom_pending = None
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _keep_partial(self, piece: bytes) -> None:
        self._partial.append(piece)
        self._partial_len += len(piece)
        if self._partial_len + self._event_bytes > self.max_event_bytes:
            self._too_large(b"".join(self._partial)[:200])

    def _too_large(self, raw: bytes) -> None:
        limit = self.max_event_bytes
        self._partial.clear()
        self._partial_len = 0
        self._reset_event()
        raise SSEEventTooLargeError(
            f"an event-stream event exceeded {limit} bytes; if the provider really sends "
            "events this large, raise the limit with StreamingOptions(max_event_bytes=...)",
            raw=raw,
        )

    # -- lines -----------------------------------------------------------------------

    def _line(self, raw: bytes, out: list[ServerSentEvent]) -> None:
        if not raw:
            self._dispatch(out)
            return
        if raw[0] == 0x3A:  # ":" comment, usually a keep-alive
            self.comment_count += 1
            return
        self._event_bytes += len(raw)
        if self._event_bytes > self.max_event_bytes:
            self._too_large(raw[:200])
        if raw[:6] == b"data: ":
            self._data.append(raw[6:].decode("utf-8", "replace"))
            return
        line = raw.decode("utf-8", "replace")
        colon = line.find(":")
        if colon == -1:
            name, value = line, ""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == " " else line[colon + 1 :]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, out: list[ServerSentEvent]) -> None:
        if self._data:
            out.append(
                ServerSentEvent(
                    self._event or "message",
                    "\n".join(self._data) if len(self._data) > 1 else self._data[0],
                    self.last_event_id,
                    self._retry,
                )
            )
        self._reset_event()

    def _reset_event(self) -> None:
        self._data = []
        self._event = ""
        self._retry = None
        self._event_bytes = 0

    # -- end -------------------------------------------------------------------------

    def close(self) -> list[ServerSentEvent]:
        """End of stream. An event without its closing blank line is discarded."""
        self._partial.clear()
        self._partial_len = 0
        self._reset_event()
        self._skip_lf = False
        return []
