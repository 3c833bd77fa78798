"""A sans-IO Server-Sent Events decoder: bytes in, events out.

It follows the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html):

* CR, LF and CRLF all end a line, including a CR that ends one network chunk and the
  LF that starts the next (that pair is one line end, not a line end plus an empty
  line);
* one leading UTF-8 BOM is stripped, only at the very start of the stream, even when
  its three bytes arrive in separate chunks;
* a line starting with ``:`` is a comment (servers send them as keep-alives); it is
  ignored and counted in ``comment_count`` so callers can tell a live but silent
  connection from a dead one;
* ``event``, ``data``, ``id`` (ignored if the value holds a NUL) and ``retry`` (only
  ASCII digits, else ignored) are the fields; unknown fields are ignored; a line
  without a colon is a field name with an empty value; exactly one space after the
  colon is stripped;
* several ``data`` lines are joined with ``\\n``; a blank line dispatches the event,
  unless no ``data`` line was seen (then only the event type is reset);
* at end of stream an event without its closing blank line is discarded: the spec
  says so, and a truncated payload is worse than a missing one.

Text decoding. The spec decodes the stream as UTF-8 with replacement, so invalid bytes
become U+FFFD instead of raising: one bad byte from a proxy must not kill a stream or
lose what arrived before it, and callers never see a bare ``UnicodeDecodeError``.
Decoding happens per complete line (never per network chunk), so a multibyte character
split across chunks decodes correctly. Line ends are ASCII, so they can never be part
of a multibyte sequence and splitting raw bytes on them is safe.

Cost. This sits on the hot path of every stream, so:

* the common case, one chunk holding exactly one ``data: ...\\n\\n`` event while no
  other event is half-read, is answered by a handful of C-level bytes operations;
* otherwise CRs are normalised to LFs with two ``bytes.replace`` calls and the chunk
  is cut with one ``bytes.split``: no per-byte Python loop;
* an unterminated line is kept as a list of pieces and joined once, when its end
  arrives; only the newly fed bytes are ever searched. A 16 MB event fed 16 bytes at
  a time therefore costs linear time, never quadratic.

Size limit. ``max_event_bytes`` bounds the memory one event can pin: the bytes of all
lines read since the last blank line, plus the unterminated line so far (line ends
not counted; comment lines are checked against the limit but not added to the event,
which keeps the verdict independent of how the bytes were chunked). Going over raises
``SSEEventTooLargeError``. Events completed earlier in the same chunk are still
returned by that ``feed`` call and the error is raised by the next ``feed`` or
``close``, so nothing that arrived intact is lost. The error is final: the decoder
cannot find the end of an event it refused to read, so it raises again on every
later call.
"""

from __future__ import annotations

import attrs

from ._errors import SSEEventTooLargeError

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"
_RAW_SNIPPET = 200  # bytes of the offending event kept on SSEEventTooLargeError.raw


@attrs.define(slots=True, frozen=True)
class ServerSentEvent:
    """One dispatched event. Frozen: parsers may keep it without copying."""

    #: The ``event`` field, or ``"message"`` (the WHATWG default) when absent or empty.
    event: str = "message"
    #: The ``data`` lines joined with ``\n``.
    data: str = ""
    #: The last event id in force when this event was dispatched (ids persist across
    #: events, as the spec's "last event ID" does); None if the stream never set one.
    id: str | None = None
    #: The ``retry`` value set within this event, if any.
    retry: int | None = None


# Building events without the attrs ``__init__``. A frozen attrs class sets each field
# through ``object.__setattr__`` looked up by name, which was a third of the fast
# path's cost; calling the slot descriptors directly builds the identical object (same
# class, same fields, equal and hashable as usual) about 30% faster. The check keeps
# this honest: a field added to ServerSentEvent but not set below fails at import.
if tuple(f.name for f in attrs.fields(ServerSentEvent)) != ("event", "data", "id", "retry"):
    raise AssertionError("ServerSentEvent's fields changed: update the setters in _sse.py")
_new = object.__new__
_set_event = ServerSentEvent.__dict__["event"].__set__
_set_data = ServerSentEvent.__dict__["data"].__set__
_set_id = ServerSentEvent.__dict__["id"].__set__
_set_retry = ServerSentEvent.__dict__["retry"].__set__


def _make_event(name: str, data: str, last_id: str | None, retry: int | None) -> ServerSentEvent:
    event = _new(ServerSentEvent)
    _set_event(event, name)
    _set_data(event, data)
    _set_id(event, last_id)
    _set_retry(event, retry)
    return event


class SSEDecoder:
    """Incremental event-stream decoder. Feed it bytes split anywhere; no I/O."""

    __slots__ = (
        "_bom_head",
        "_cr_pending",
        "_data",
        "_error",
        "_event",
        "_event_bytes",
        "_fast",
        "_head",
        "_pending",
        "_pending_len",
        "_retry",
        "comment_count",
        "last_event_id",
        "max_event_bytes",
    )

    def __init__(self, *, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        #: Largest event accepted, in bytes (see the module docstring for what counts).
        self.max_event_bytes = max_event_bytes
        #: Comment lines (``:`` keep-alives) seen so far.
        self.comment_count = 0
        #: The stream's last event id (the spec's "last event ID buffer"): the value a
        #: client would send back as ``Last-Event-ID`` when reconnecting.
        self.last_event_id: str | None = None
        # The first bytes of the stream while they might still be a split BOM;
        # None once the start of the stream has been checked.
        self._bom_head: bytes | None = b""
        # The previous chunk ended with CR: an LF starting the next one belongs to it.
        self._cr_pending = False
        # The unterminated line: pieces joined once, when its line end arrives.
        self._pending: list[bytes] = []
        self._pending_len = 0
        # The event being read. Values stay bytes until dispatch: one decode per event.
        self._data: list[bytes] = []
        self._event = b""
        self._retry: int | None = None
        # Bytes of the field lines read for this event (zero: no event in progress),
        # and the start of its first line, kept for the error message (stale, and
        # unused, while _event_bytes is zero).
        self._event_bytes = 0
        self._head = b""
        # True when nothing is half-read (no event, no partial line, no pending CR or
        # BOM, no error), so a chunk holding one whole event may take the fast path.
        self._fast = False
        self._error: SSEEventTooLargeError | None = None

    # -- input ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` (any bytes, split anywhere); return the events it completes."""
        if chunk[-2:] != b"\n\n" and 13 not in chunk:
            # A network read rarely ends where an event does: the whole events go the
            # fast way, and only what is unfinished at either end the general way.
            return self._feed_split(chunk)
        if self._fast and chunk[-2:] == b"\n\n":
            # The chunk ends an event and nothing was half-read before it: the fast
            # paths apply. Membership tests with an int (10 is LF, 13 is CR) are single
            # memchr calls, much cheaper than searching for a bytes object.
            if chunk[:6] == b"data: ":
                # The most common chunk of all: exactly one ``data: {...}`` event.
                body = chunk[6:-2]
                if 10 not in body and 13 not in body and len(body) + 6 <= self.max_event_bytes:
                    data = body.decode("utf-8", "replace")
                    return [_make_event("message", data, self.last_event_id, None)]
            elif chunk[:7] == b"event: ":
                # Anthropic's shape: exactly one ``event: name`` + ``data: {...}`` event.
                eol = chunk.find(b"\n", 7)
                if chunk[eol + 1 : eol + 7] == b"data: ":
                    body = chunk[eol + 7 : -2]
                    if (
                        10 not in body
                        and 13 not in chunk
                        and len(chunk) - 3 <= self.max_event_bytes
                    ):
                        name = chunk[7:eol].decode("utf-8", "replace") or "message"
                        data = body.decode("utf-8", "replace")
                        return [_make_event(name, data, self.last_event_id, None)]
            else:
                return self._feed(chunk)  # a shape _feed_simple would give up on at once
            if 13 not in chunk:
                return self._feed_simple(chunk)
        return self._feed(chunk)

    def _feed_split(self, chunk: bytes) -> list[ServerSentEvent]:
        """A chunk without CR that does not end an event: the end of an event begun
        earlier (general path), the whole events after it (fast paths), and the start
        of the next (general path, kept)."""
        start = 0
        out: list[ServerSentEvent] = []
        if not self._fast:
            first = chunk.find(b"\n\n")
            if first < 0:
                return self._feed(chunk)
            start = first + 2
            # This ends the event: nothing is left half-read, so the fast paths apply
            # after it (or an oversized event was recorded, which feed raises below).
            out = self._feed(chunk[:start])
        try:
            last = chunk.rfind(b"\n\n", start)
            if last >= 0:
                out += self.feed(chunk[start : last + 2])
                start = last + 2
            out += self._feed(chunk[start:])
        except SSEEventTooLargeError:
            if not out:
                raise
            # Recorded by _feed: the next call raises it, after the events before it.
        return out

    def _feed_simple(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events of the shapes providers send, several per chunk when TCP coalesces them.

        Takes a chunk that ends with a blank line and holds no CR, and reads leading
        events shaped ``data: X`` or ``event: N`` + ``data: X``; the rest of the chunk,
        from the first event of any other shape, goes to the general path.
        """
        out: list[ServerSentEvent] = []
        limit = self.max_event_bytes
        last_id = self.last_event_id
        done = 0
        for part in chunk[:-2].split(b"\n\n"):
            if part[:6] == b"data: ":
                body = part[6:]
                name = "message"
            elif part[:7] == b"event: ":
                eol = part.find(b"\n")  # -1 fails the test below: part[0:6] is "event:"
                if part[eol + 1 : eol + 7] != b"data: ":
                    break
                body = part[eol + 7 :]
                name = part[7:eol].decode("utf-8", "replace") or "message"
            else:
                break
            if 10 in body or len(part) > limit:
                break
            out.append(_make_event(name, body.decode("utf-8", "replace"), last_id, None))
            done += len(part) + 2
        else:
            return out
        if not out:
            return self._feed(chunk)
        try:
            out += self._feed(chunk[done:])
        except SSEEventTooLargeError:
            pass  # recorded by _feed: raised by the next call, after these events
        return out

    def close(self) -> list[ServerSentEvent]:
        """End of stream: always ``[]`` (or the pending ``SSEEventTooLargeError``).

        A final event without its closing blank line is discarded, as the spec
        requires. Every line end, a trailing lone CR included, was already acted on by
        ``feed`` (a CR ends its line at once; it only remembers to swallow a following
        LF), so there is nothing left to flush. Buffers are released; a later ``feed``
        continues a stream whose start (and BOM) has already been seen.
        """
        if self._error is not None:
            raise self._error
        self._pending = []
        self._pending_len = 0
        self._cr_pending = False
        self._bom_head = None
        self._reset_event()
        self._fast = True
        return []

    # -- the general path ----------------------------------------------------------

    def _feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Any chunk: partial lines, several events, CRs, comments, ids, a BOM."""
        if self._error is not None:
            raise self._error
        if self._bom_head is not None:
            chunk = self._strip_bom(chunk)
        if self._cr_pending and chunk:
            self._cr_pending = False
            if chunk[0] == 10:  # the LF of a CRLF split across chunks
                chunk = chunk[1:]
        if 13 in chunk:
            # A CR at the very end ends its line now (no waiting for the next chunk);
            # remember it so a leading LF in the next chunk is not a second line end.
            self._cr_pending = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[ServerSentEvent] = []
        if 10 not in chunk:
            self._fast = False
            if chunk:
                try:
                    self._keep(chunk)
                except SSEEventTooLargeError as exc:
                    self._fail(exc)
                    raise
            return out
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        try:
            self._lines(lines, out)
            if tail:
                self._keep(tail)
        except SSEEventTooLargeError as exc:
            self._fail(exc)
            if out:
                return out  # deliver what arrived intact; the next call raises
            raise
        self._fast = not tail and not self._cr_pending and not self._event_bytes
        return out

    def _lines(self, lines: list[bytes], out: list[ServerSentEvent]) -> None:
        """Interpret complete lines (without their line ends).

        Written flat with state in locals: it runs for every line of every chunk that
        misses the fast path.
        """
        limit = self.max_event_bytes
        data = self._data
        event_bytes = self._event_bytes
        for line in lines:
            if not line:
                # A blank line dispatches the event, if any data line was seen.
                if data:
                    name = self._event
                    joined = b"\n".join(data) if len(data) > 1 else data[0]
                    out.append(
                        _make_event(
                            name.decode("utf-8", "replace") if name else "message",
                            joined.decode("utf-8", "replace"),
                            self.last_event_id,
                            self._retry,
                        )
                    )
                    data = self._data = []
                if event_bytes:
                    # Reset the event type and retry (set only by lines counted in
                    # event_bytes, so nothing to reset when it is zero).
                    self._event = b""
                    self._retry = None
                    event_bytes = 0
                continue
            size = len(line)
            if line[0] == 58:  # ":" a comment, usually a keep-alive
                self.comment_count += 1
                if event_bytes + size > limit:
                    self._event_bytes = event_bytes
                    raise self._too_large(self._head if event_bytes else line)
                continue
            if not event_bytes:
                # The start of the event, for the error message; meaningful only
                # while event_bytes > 0, so never reset. (A slice of a short line is
                # the line itself: no copy in the common case.)
                self._head = line[:_RAW_SNIPPET]
            event_bytes += size
            if event_bytes > limit:
                self._event_bytes = event_bytes
                raise self._too_large(self._head)
            if line[:6] == b"data: ":  # by far the most common field
                data.append(line[6:])
                continue
            colon = line.find(b":")
            if colon < 0:
                name, value = line, b""  # no colon: the whole line names the field
            else:
                name = line[:colon]
                # Exactly one space after the colon is stripped; any others are data.
                value = (
                    line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
                )
            if name == b"data":
                data.append(value)
            elif name == b"event":
                self._event = value
            elif name == b"id" and 0 not in value:  # an id holding a NUL is ignored
                self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                # bytes.isdigit() is true only for ASCII digits, and false for b"".
                self._retry = int(value)
            # any other field name is ignored, as the spec says
        self._event_bytes = event_bytes

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop one leading BOM, holding back up to two bytes that may start one."""
        assert self._bom_head is not None
        head = self._bom_head + chunk if self._bom_head else chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._bom_head = head  # b"", b"\xef" or b"\xef\xbb": wait for more bytes
            return b""
        self._bom_head = None
        return head[3:] if head[:3] == _BOM else head

    def _keep(self, piece: bytes) -> None:
        """Hold the start of a line whose end has not arrived yet."""
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len + self._event_bytes > self.max_event_bytes:
            raw = self._head if self._event_bytes else b""
            if not raw:
                for part in self._pending:  # no full join: the line may be huge
                    raw += part[: _RAW_SNIPPET - len(raw)]
                    if len(raw) >= _RAW_SNIPPET:
                        break
            raise self._too_large(raw)

    # -- errors ----------------------------------------------------------------------

    def _reset_event(self) -> None:
        self._data = []
        self._event = b""
        self._retry = None
        self._event_bytes = 0

    def _too_large(self, raw: bytes) -> SSEEventTooLargeError:
        limit = self.max_event_bytes
        return SSEEventTooLargeError(
            f"a server-sent event grew past max_event_bytes={limit} bytes; if the provider "
            "really sends events this large, raise the limit with "
            "StreamingOptions(max_event_bytes=...)",
            raw=raw[:_RAW_SNIPPET],
        )

    def _fail(self, exc: SSEEventTooLargeError) -> None:
        """Make the error final and let go of the oversized buffers."""
        self._error = exc
        self._fast = False
        self._pending = []
        self._pending_len = 0
        self._reset_event()
