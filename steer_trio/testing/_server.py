"""The fake provider: a real HTTP/1.1 server on 127.0.0.1 (trio + h11).

It speaks OpenAI Chat Completions (``/v1/chat/completions``), xAI (the same path for
``grok-*`` models, and ``/xai/v1/chat/completions``), Anthropic Messages
(``/v1/messages``), the OpenAI Responses API (``/v1/responses``, and ``GET
/v1/responses/{id}`` to resume a background response) and Google Gemini
(``/v1beta/models/{model}:streamGenerateContent?alt=sse`` and ``:generateContent``),
keeps connections alive between responses, notices a client that hangs up (even while
it stalls), and records what it was sent.
"""

from __future__ import annotations

import functools
import json
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio

from .._checkpoints import caller_checkpoints
from .._tasks import open_task_nursery
from . import _wire, _wire_gemini, _wire_responses
from ._scenario import Replay, Scenario

__all__ = ["Answer", "FakeProvider", "RecordedRequest", "RouteHook", "open_fake_provider"]

#: What a route hook answers: status, body (JSON-able, or bytes as they are), extra
#: headers, content type.
Answer = tuple[int, Any, dict[str, str], str]
#: An extra endpoint: called with (method, path, lower-cased headers, body) for every
#: request; answers it, or returns None to leave it to the next hook and the defaults.
RouteHook = Callable[[str, str, dict[str, str], bytes], Awaitable[Answer | None]]

_MAX_REQUEST = 16 * 1024 * 1024
#: Closing a connection is shielded, and bounded by this.
_CLOSE_SECONDS = 5.0


@attrs.define
class RecordedRequest:
    """A request the fake provider received: method, path, lower-cased headers, JSON body
    and the query string (without its ``?``)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    query: str = ""


class _ClientGone(Exception):
    pass


class _Incoming:
    """One request as h11 hands it over, event by event."""

    def __init__(self) -> None:
        self.request: h11.Request | None = None
        self.body: list[bytes] = []
        self.complete = False

    def take(self, conn: h11.Connection) -> bool:
        """Take the events h11 has; True once the request is whole or the client is done
        (False: more bytes are needed)."""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Request):
                self.request = event
            elif isinstance(event, h11.Data):
                self.body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
                return True
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return True

    def whole(self) -> tuple[h11.Request, bytes] | None:
        if not self.complete:
            return None
        assert self.request is not None
        return self.request, b"".join(self.body)


class FakeProvider:
    """A running fake provider. Use :func:`open_fake_provider` to get one."""

    def __init__(self, host: str, port: int, *, dialect: str | None, story_delay: float) -> None:
        self.host = host
        self.port = port
        self.dialect = dialect
        self.story_delay = story_delay
        self.requests: list[RecordedRequest] = []
        self.connections_opened = 0
        self.active_connections = 0
        self.closed_events: list[float] = []
        self._queue: deque[Scenario | Replay] = deque()
        self._routes: dict[str, Scenario | Replay] = {}
        self._closed_changed = trio.Event()
        self._responses_kept: dict[str, list[tuple[bytes, bool]]] = {}
        #: Extra endpoints (the batch APIs): each hook answers a request or returns None.
        self.route_hooks: list[RouteHook] = []

    @property
    def base_url(self) -> str:
        """``http://host:port``, the server's root."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The base URL for OpenAI clients (``OPENAI_BASE_URL``), ending in ``/v1``."""
        return self.base_url + "/v1"

    @property
    def xai_base_url(self) -> str:
        """The base URL for xAI clients (``XAI_BASE_URL``), ending in ``/v1``."""
        return self.base_url + "/xai/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The base URL for Anthropic clients (``ANTHROPIC_BASE_URL``), without ``/v1``."""
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        """The base URL for Gemini clients (``GEMINI_BASE_URL``), ending in ``/v1beta``."""
        return self.base_url + "/v1beta"

    def enqueue(self, *items: Scenario | Replay) -> None:
        """Serve these, in order, to the next requests."""
        self._queue.extend(items)

    def route(self, model: str, item: Scenario | Replay) -> None:
        """Serve ``item`` to every request for ``model`` (when the queue is empty)."""
        self._routes[model] = item

    async def wait_connection_closed(self, count: int = 1) -> None:
        """Wait until ``count`` connections in all have been closed (by either side)."""
        await trio.lowlevel.checkpoint()
        while len(self.closed_events) < count:
            await self._closed_changed.wait()

    def _pick(self, request: dict[str, Any], dialect: str) -> Scenario | Replay:
        if self._queue:
            return self._queue.popleft()
        model = request.get("model")
        if isinstance(model, str) and model in self._routes:
            return self._routes[model]
        return _wire.default_scenario(request, self.story_delay, dialect)

    def _note_closed(self) -> None:
        self.active_connections -= 1
        self.closed_events.append(trio.current_time())
        self._closed_changed.set()
        self._closed_changed = trio.Event()

    # -- connections ---------------------------------------------------------------------

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections_opened += 1
        self.active_connections += 1
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST)
        try:
            while True:
                got = await self._read_request(conn, stream)
                if got is None:
                    break
                request, body = got
                keep = await self._respond_watching(conn, stream, request, body)
                if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
                await stream.aclose()
            self._note_closed()

    async def _read_request(
        self, conn: h11.Connection, stream: trio.SocketStream
    ) -> tuple[h11.Request, bytes] | None:
        """The next whole request, or None when the client is done. A checkpoint even
        when the request was already read (pipelined behind the one before)."""
        await trio.lowlevel.checkpoint()
        incoming = _Incoming()
        while not incoming.take(conn):
            data = await stream.receive_some(65536)
            if not data:
                return None
            conn.receive_data(data)
        return incoming.whole()

    @caller_checkpoints  # _handle calls it right after _read_request, a checkpoint
    async def _respond_watching(
        self, conn: h11.Connection, stream: trio.SocketStream, request: h11.Request, body: bytes
    ) -> bool:
        """Respond while a second task watches for the client hanging up."""
        gone = False
        result = True

        @caller_checkpoints  # a watcher task, not a call: nobody waits for it to return
        async def watch(scope: trio.CancelScope) -> None:
            nonlocal gone
            try:
                data = await stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                gone = True
                scope.cancel()
            else:
                conn.receive_data(data)  # a pipelined next request: keep it for later
                await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, nursery.cancel_scope)
            try:
                result = await self._respond(conn, stream, request, body)
            except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError):
                # Raised here, not out of the nursery: it would arrive as a group.
                gone = True
            finally:
                nursery.cancel_scope.cancel()
        if gone:
            raise _ClientGone
        return result

    async def _send(self, conn: h11.Connection, stream: trio.SocketStream, event: Any) -> None:
        # Sending nothing is still a checkpoint (trio's send_all of no bytes).
        await stream.send_all(conn.send(event) or b"")

    async def _respond(
        self, conn: h11.Connection, stream: trio.SocketStream, request: h11.Request, body: bytes
    ) -> bool:
        path, _, query = request.target.decode("latin-1").partition("?")
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        method = request.method.decode()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        self.requests.append(RecordedRequest(method, path, headers, payload, query))
        for hook in self.route_hooks:
            answer = await hook(method, path, headers, body)
            if answer is not None:
                status, out, extra, content_type = answer
                return await self._json(conn, stream, status, out, extra, content_type)
        if method == "GET" and path.endswith("/models"):
            return await self._json(conn, stream, 200, _models())
        if method == "GET" and "/responses/" in path:
            return await self._resume(conn, stream, request.target.decode("latin-1"))
        if method != "POST" or not isinstance(payload, dict):
            return await self._json(
                conn,
                stream,
                400,
                {"error": {"message": "expected a JSON POST", "type": "invalid_request_error"}},
            )
        if path.endswith("/messages"):
            dialect = "anthropic"
        elif path.endswith("/chat/completions"):
            xai = path.startswith("/xai/") or self.dialect == "xai"
            xai = xai or str(payload.get("model", "")).startswith("grok")
            dialect = "xai" if xai else "openai"
        elif path.endswith("/responses"):
            dialect, payload = "responses", _wire_responses.chat_view(payload)
        elif path.endswith((":streamGenerateContent", ":generateContent")):
            dialect, payload = "gemini", _wire_gemini.chat_view(path, payload)
        else:
            return await self._json(
                conn,
                stream,
                404,
                {"error": {"message": f"no route {path}", "type": "not_found_error"}},
            )
        item = self._pick(payload, dialect)
        if isinstance(item, Replay):
            return await self._replay(conn, stream, item)
        return await self._scenario(conn, stream, dialect, item, payload)

    async def _json(
        self,
        conn: h11.Connection,
        stream: trio.SocketStream,
        status: int,
        body: Any,
        extra: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> bool:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [
            ("content-type", content_type),
            ("content-length", str(len(raw))),
            ("x-request-id", "req_fake"),
            *((extra or {}).items()),
        ]
        await self._send(conn, stream, h11.Response(status_code=status, headers=headers))
        await self._send(conn, stream, h11.Data(data=raw))
        await self._send(conn, stream, h11.EndOfMessage())
        return True

    async def _scenario(
        self,
        conn: h11.Connection,
        stream: trio.SocketStream,
        dialect: str,
        scenario: Scenario,
        request: dict[str, Any],
    ) -> bool:
        fault = scenario.fault
        kind = fault.kind if fault else None
        if kind == "stall_before_headers":
            assert fault is not None
            await trio.sleep(fault.seconds)
        if kind == "reset_before_headers":
            _reset(stream)
            raise _ClientGone
        if kind == "http_error":
            assert fault is not None
            body = fault.body.encode() if isinstance(fault.body, str) else fault.body
            is_html = body.lstrip().startswith(b"<")
            return await self._json(
                conn,
                stream,
                fault.status,
                body,
                fault.headers,
                "text/html" if is_html else "application/json",
            )
        if not request.get("stream"):
            if dialect == "anthropic":
                return await self._json(
                    conn, stream, 200, _wire.anthropic_message(scenario, request)
                )
            if dialect in _BODIES:
                return await self._json(conn, stream, 200, _BODIES[dialect](scenario, request))
            return await self._json(conn, stream, 200, _wire.openai_completion(scenario, request))
        if kind == "json_body_instead_of_stream":
            return await self._json(conn, stream, 200, _wire.openai_completion(scenario, request))
        if dialect == "anthropic":
            events = _wire.anthropic_events(scenario, request)
        elif dialect == "responses":
            events = _wire_responses.events(scenario, request)
            _wire_responses.keep(self._responses_kept, request, events)
        elif dialect == "gemini":
            events = _wire_gemini.events(scenario, request)
        else:
            events = _wire.openai_events(scenario, request, xai=dialect == "xai")
        request_id_header = "request-id" if dialect == "anthropic" else "x-request-id"
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            (request_id_header, "req_fake_" + str(len(self.requests))),
            *scenario.headers.items(),
        ]
        if kind == "content_length_short":
            headers.append(("content-length", "1000000"))
        await self._send(conn, stream, h11.Response(status_code=200, headers=headers))
        return await self._stream_events(conn, stream, dialect, scenario, events)

    async def _stream_events(
        self,
        conn: h11.Connection,
        stream: trio.SocketStream,
        dialect: str,
        scenario: Scenario,
        events: list[tuple[bytes, bool]],
    ) -> bool:
        fault = scenario.fault
        kind = fault.kind if fault else None
        after = fault.after_events if fault else 0
        eol = scenario.line_ending.encode()
        if kind == "keepalive_trickle":
            assert fault is not None
            waited = 0.0
            while waited < fault.seconds:
                await self._send(conn, stream, h11.Data(data=b": keep-alive\n\n"))
                await trio.sleep(1.0)
                waited += 1.0
        if kind == "events_after_done":
            events = [
                *events,
                (b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n', False),
            ]
        out: list[bytes] = []
        content_sent = 0
        first = True
        fault_done = False
        for raw, is_content in events:
            if (
                fault is not None
                and not fault_done
                and content_sent >= after
                and kind
                in (
                    "stall_after",
                    "drop_after",
                    "reset_after",
                    "truncate_after",
                    "in_stream_error",
                    "malformed_json_after",
                    "content_length_short",
                )
            ):
                fault_done = True
                # "whole": the events before an in-stream fault leave in one write with it.
                coalesce = scenario.chunking == "whole" and kind in _COALESCED_FAULTS
                if not coalesce:
                    await self._flush(conn, stream, out)
                if kind == "stall_after":
                    await trio.sleep(fault.seconds)
                elif kind in ("drop_after", "content_length_short"):
                    # A clean TCP close in the middle of the body: the chunked body (or
                    # the Content-Length) is cut short, and everything sent arrives.
                    await stream.send_eof()
                    raise _ClientGone
                elif kind == "reset_after":
                    # RST: the kernel may discard data the client has not read yet.
                    _reset(stream)
                    raise _ClientGone
                elif kind == "truncate_after":
                    await self._flush(conn, stream, out, end=True)
                    return True
                elif kind == "in_stream_error":
                    if dialect == "anthropic":
                        error = _wire.anthropic_error_event(fault.error_type, fault.message)
                    elif dialect in _ERROR_EVENTS:
                        error = _ERROR_EVENTS[dialect](fault.error_type, fault.message)
                    else:
                        error = _wire.openai_error_event(fault.error_type, fault.message)
                    out.append(error)
                    await self._flush(conn, stream, out, end=True)
                    return True
                elif kind == "malformed_json_after":
                    out.append(b"data: {not json\n\n")
                    if not coalesce:
                        await self._flush(conn, stream, out)
            data = raw if eol == b"\n" else raw.replace(b"\n", eol)
            if first and scenario.bom:
                data = b"\xef\xbb\xbf" + data
            first = False
            if scenario.keepalive_comments:
                data = b": keep-alive" + eol + eol + data
            out.append(data)
            if is_content:
                content_sent += 1
            if scenario.chunking == "event":
                await self._flush(conn, stream, out)
                if scenario.delay:
                    await trio.sleep(scenario.delay)
        await self._flush(
            conn, stream, out, seed=scenario.seed, random_split=scenario.chunking == "random"
        )
        await self._send(conn, stream, h11.EndOfMessage())
        return True

    async def _flush(
        self,
        conn: h11.Connection,
        stream: trio.SocketStream,
        out: list[bytes],
        *,
        seed: int = 0,
        random_split: bool = False,
        end: bool = False,
    ) -> None:
        """Send ``out`` (and, with ``end``, the end of the body) in one write."""
        body = b"".join(out)
        out.clear()
        if random_split:
            for piece in _wire.rechunk(body, seed):
                await self._send(conn, stream, h11.Data(data=piece))
            body = b""
        data = conn.send(h11.Data(data=body)) if body else b""
        data = (data or b"") + ((conn.send(h11.EndOfMessage()) or b"") if end else b"")
        await stream.send_all(data)

    async def _resume(self, conn: h11.Connection, stream: trio.SocketStream, target: str) -> bool:
        """``GET /v1/responses/{id}?stream=true&starting_after=N``: a queued Replay (a
        recorded resumed stream), else the kept events of a background response."""
        if self._queue and isinstance(self._queue[0], Replay):
            item = self._queue.popleft()
            assert isinstance(item, Replay)
            return await self._replay(conn, stream, item)
        events = _wire_responses.resume(self._responses_kept, target)
        if events is None:
            error = {"message": f"no background response at {target}", "type": "not_found"}
            return await self._json(conn, stream, 404, {"error": error})
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("x-request-id", "req_fake"),
        ]
        await self._send(conn, stream, h11.Response(status_code=200, headers=headers))
        return await self._stream_events(conn, stream, "responses", Scenario(), events)

    async def _replay(self, conn: h11.Connection, stream: trio.SocketStream, item: Replay) -> bool:
        body = await trio.Path(item.path).read_bytes()
        # One recording lacks the blank line after its last event (an artifact of how it
        # was stored); the real server sent it, so complete the final event.
        if not body.endswith(b"\n\n"):
            body += b"\n" if body.endswith(b"\n") else b"\n\n"
        is_anthropic = b"event: message_start" in body[:200]
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("request-id" if is_anthropic else "x-request-id", "req_replay"),
        ]
        await self._send(conn, stream, h11.Response(status_code=200, headers=headers))
        if item.chunking == "whole":
            pieces = [body]
        elif item.chunking == "random":
            pieces = _wire.rechunk(body, item.seed)
        else:
            end = b"\r\n\r\n" if b"\r\n\r\n" in body[:65536] else b"\n\n"  # Gemini: CRLF
            pieces = [e + end for e in body.split(end) if e]
        for piece in pieces:
            await self._send(conn, stream, h11.Data(data=piece))
            if item.delay:
                await trio.sleep(item.delay)
        await self._send(conn, stream, h11.EndOfMessage())
        return True


def _reset(stream: trio.SocketStream) -> None:
    """Close with RST (SO_LINGER 0): what a crashed server or a proxy cut looks like."""
    try:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    stream.socket.close()


#: Faults that ``chunking="whole"`` packs into one write with the events before them.
_COALESCED_FAULTS = ("truncate_after", "in_stream_error", "malformed_json_after")

_BODIES = {"responses": _wire_responses.body, "gemini": _wire_gemini.body}
_ERROR_EVENTS = {"responses": _wire_responses.error_event, "gemini": _wire_gemini.error_event}


def _models() -> dict[str, Any]:
    names = ["gpt-4o", "gpt-4o-mini", "claude-haiku-4-5", "grok-3-mini", "steer-story"]
    names += ["gpt-5-pro", "gemini-2.5-flash"]
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "owned_by": "fake"} for n in names],
    }


@asynccontextmanager
async def open_fake_provider(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    dialect: str | None = None,
    story_delay: float = 0.0,
) -> AsyncIterator[FakeProvider]:
    """Serve in the background for the duration of the ``async with`` block."""
    provider = FakeProvider(host, port, dialect=dialect, story_delay=story_delay)
    async with open_task_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, provider._handle, port, host=host)
        )
        provider.port = listeners[0].socket.getsockname()[1]
        yield provider
