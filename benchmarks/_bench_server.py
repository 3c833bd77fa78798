"""The benchmark server: a fake provider in its own process, cheap enough to stay out
of the way of the client being measured.

It speaks the same wire formats as ``steer_trio.testing`` (the event bodies are
rendered by the testing package's writers, once, and cached), but it is a plain
``selectors`` loop that writes pre-encoded HTTP/1.1 chunks: per event it costs a few
microseconds, so on a 2-core machine nearly all of the other core is left to the
client. What it serves is chosen per request by an ``x-bench`` header::

    x-bench: n=20000;k=20;pace=2:5;tag=run7

* ``n``: content events (text deltas; for ``kind=tool``, argument fragments);
* ``k``: events per HTTP chunk (1: one chunk per event, as real providers send);
* ``pace``: milliseconds between chunks, drawn uniformly from ``min:max`` with a
  fixed seed (no pace: everything is written at once);
* ``hold``: after the first ``first`` chunks (default 1), wait this many seconds
  before the rest (idle streams);
* ``kind``: ``text`` (``w{i} `` deltas), ``tool`` (one tool call whose arguments are
  ``bytes`` long, in ``frag``-byte fragments), ``json`` (a JSON document of about
  ``bytes`` bytes in ``dsize``-byte deltas; ``shape=records`` or ``shape=string``),
  ``bigtext`` (``bytes`` of text in ``dsize``-byte deltas);
* ``usage=0``: send no usage (for local token counting);
* ``tag``: remembered per connection, so ``GET /bench/closed?tag=...`` can say when
  this server saw each of those connections closed (``time.monotonic()``, the same
  clock in every process of this machine).

Run by the benchmark scripts (``start_server()``); prints ``listening on URL``.
"""

from __future__ import annotations

import errno
import heapq
import json
import random
import re
import selectors
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# -- rendering the bodies ----------------------------------------------------------------

_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[bytes, list[bytes]]] = {}


def parse_spec(header: str) -> dict[str, str]:
    spec: dict[str, str] = {}
    for part in header.split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            spec[key.strip()] = value.strip()
    return spec


def spec_header(**fields: object) -> dict[str, str]:
    """The ``x-bench`` header for these fields (``pace=(2, 5)`` becomes ``2:5``)."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ":".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return {"x-bench": ";".join(parts)}


def _text_pieces(spec: dict[str, str]) -> list[str]:
    kind = spec.get("kind", "text")
    if kind == "text":
        return [f"w{i} " for i in range(int(spec.get("n", "100")))]
    size = int(spec.get("bytes", "1000000"))
    dsize = int(spec.get("dsize", "100"))
    if kind == "bigtext":
        words = " ".join(f"word{i}" for i in range(size // 6 + 1))[:size]
        return [words[i : i + dsize] for i in range(0, len(words), dsize)]
    if kind == "json":
        document = json_document(size, spec.get("shape", "records"))
        return [document[i : i + dsize] for i in range(0, len(document), dsize)]
    raise ValueError(f"unknown kind {kind!r}")


def json_document(size: int, shape: str) -> str:
    """About ``size`` bytes of JSON: many small records (typical structured output), or
    one long string."""
    if shape == "string":
        return json.dumps({"answer": "lorem ipsum dolor sit amet " * (size // 27 + 1)})[:size] + (
            '"}'
        )
    records = []
    total = 0
    i = 0
    while total < size:
        record = json.dumps(
            {
                "id": i,
                "name": f"item number {i}",
                "tags": ["alpha", "beta", f"t{i % 17}"],
                "score": i * 0.5,
                "note": "a short free-text note about this record",
            }
        )
        records.append(record)
        total += len(record) + 1
        i += 1
    return '{"items":[' + ",".join(records) + "]}"


def _tool_events(spec: dict[str, str], model: str) -> list[bytes]:
    """One OpenAI tool call whose arguments arrive in ``frag``-byte fragments."""
    size = int(spec.get("bytes", "1000000"))
    frag = int(spec.get("frag", "4096"))
    arguments = '{"data":"' + "x" * (size - 11) + '"}'
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    call = {"index": 0, "id": "call_bench", "type": "function"}
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [{**call, "function": {"name": "store", "arguments": ""}}]}),
    ]
    for start in range(0, len(arguments), frag):
        piece = arguments[start : start + frag]
        events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    events.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 20, "completion_tokens": size // 4, "total_tokens": 20 + size // 4}
    events.append(
        b"data: "
        + json.dumps({**head, "choices": [], "usage": usage}, separators=(",", ":")).encode()
        + b"\n\n"
    )
    events.append(b"data: [DONE]\n\n")
    return events


def render(
    dialect: str, spec: dict[str, str], request: dict[str, Any]
) -> tuple[bytes, list[bytes]]:
    """The response head and the chunk-encoded body pieces (``k`` events per chunk)."""
    key = (dialect, tuple(sorted((k, v) for k, v in spec.items() if k != "tag")))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    from steer_trio.testing import Scenario, _wire, _wire_gemini, _wire_responses

    model = str(request.get("model") or "bench")
    if spec.get("kind") == "tool":
        events = _tool_events(spec, model)
    else:
        pieces = _text_pieces(spec)
        send_usage = spec.get("usage", "1") != "0"
        scenario = Scenario(
            text=pieces,
            prompt_tokens=20,
            completion_tokens=len(pieces) if send_usage else None,
            send_usage=send_usage,
        )
        view = {
            "model": model,
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
            "stream_options": {"include_usage": send_usage},
        }
        if dialect == "anthropic":
            rendered = _wire.anthropic_events(scenario, view)
        elif dialect == "responses":
            rendered = _wire_responses.events(scenario, view)
        elif dialect == "gemini":
            rendered = _wire_gemini.events(scenario, view)
        else:
            rendered = _wire.openai_events(scenario, view)
        events = [raw for raw, _content in rendered]
    k = max(1, int(spec.get("k", "1")))
    body = []
    for start in range(0, len(events), k):
        data = b"".join(events[start : start + k])
        body.append(b"%x\r\n%s\r\n" % (len(data), data))
    body.append(b"0\r\n\r\n")
    request_id = b"request-id" if dialect == "anthropic" else b"x-request-id"
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
        + request_id
        + b": req_bench\r\n\r\n"
    )
    _cache[key] = (head, body)
    return head, body


def _json_answer(status: int, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    return b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        reason,
        len(body),
        body,
    )


# -- the server ----------------------------------------------------------------------------


class _Conn:
    __slots__ = ("body", "closed", "due", "inbuf", "next", "out", "rng", "schedule", "sock", "tag")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.out = bytearray()
        self.closed = False
        self.tag = ""
        # The paced body being sent: pieces, the next one's index, the pacing.
        self.body: list[bytes] = []
        self.next = 0
        self.schedule: tuple[float, float, float] | None = None  # (min s, max s, hold s)
        self.rng = random.Random(0)
        self.due = 0.0


class Server:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(8192)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.timers: list[tuple[float, int, _Conn]] = []
        self._seq = 0
        self.closed: dict[str, list[float]] = {}

    @property
    def url(self) -> str:
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        select = self.selector.select
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, mask in select(timeout):
                conn = key.data
                if conn is None:
                    self._accept()
                    continue
                if mask & selectors.EVENT_READ:
                    self._readable(conn)
                if mask & selectors.EVENT_WRITE and not conn.closed:
                    self._flush(conn)
            if self.timers:
                self._run_timers()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _close(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.closed.setdefault(conn.tag, []).append(time.monotonic())
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.inbuf += data
        while not conn.closed and not conn.body:
            request = self._parse(conn)
            if request is None:
                return
            self._respond(conn, *request)

    def _parse(self, conn: _Conn) -> tuple[str, str, dict[str, str], bytes] | None:
        end = conn.inbuf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = conn.inbuf[:end].decode("latin-1").split("\r\n")
        method, target, _version = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(conn.inbuf) < end + 4 + length:
            return None
        body = conn.inbuf[end + 4 : end + 4 + length]
        conn.inbuf = conn.inbuf[end + 4 + length :]
        return method, target, headers, body

    def _respond(
        self, conn: _Conn, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> None:
        path, _, query = target.partition("?")
        if method == "GET" and path == "/bench/closed":
            tag = urllib.parse.parse_qs(query).get("tag", [""])[0]
            self._send(conn, _json_answer(200, self.closed.get(tag, [])))
            return
        if method == "GET" and path == "/bench/ping":
            self._send(conn, _json_answer(200, {"ok": True}))
            return
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        if path.endswith("/chat/completions"):
            dialect = "openai"
        elif path.endswith("/responses"):
            dialect = "responses"
        elif path.endswith("/messages"):
            dialect = "anthropic"
        elif ":streamGenerateContent" in path:
            dialect = "gemini"
            match = re.search(r"/models/([^:/]+):", path)
            request = {**request, "model": match.group(1) if match else "gemini"}
        else:
            self._send(conn, _json_answer(404, {"error": {"message": f"no route {path}"}}))
            return
        spec = parse_spec(headers.get("x-bench", ""))
        conn.tag = spec.get("tag", "")
        head, pieces = render(dialect, spec, request)
        pace = spec.get("pace")
        hold = float(spec.get("hold", "0"))
        if pace is None and not hold:
            self._send(conn, head + b"".join(pieces))
            return
        low, _, high = (pace or "0").partition(":")
        conn.schedule = (float(low) / 1e3, float(high or low) / 1e3, hold)
        conn.rng = random.Random(len(self.closed) + self._seq)
        conn.body = pieces
        conn.next = max(1, int(spec.get("first", "1")))
        self._send(conn, head + b"".join(pieces[: conn.next]))
        self._arm(conn, time.monotonic() + (hold or self._gap(conn)))

    def _gap(self, conn: _Conn) -> float:
        assert conn.schedule is not None
        low, high, _hold = conn.schedule
        return low if high <= low else conn.rng.uniform(low, high)

    def _arm(self, conn: _Conn, due: float) -> None:
        conn.due = due
        self._seq += 1
        heapq.heappush(self.timers, (due, self._seq, conn))

    def _run_timers(self) -> None:
        now = time.monotonic()
        timers = self.timers
        while timers and timers[0][0] <= now:
            _due, _seq, conn = heapq.heappop(timers)
            if conn.closed or not conn.body:
                continue
            # Every piece due by now goes in one send (a late server catches up).
            due = conn.due
            out = []
            while conn.next < len(conn.body) and due <= now:
                out.append(conn.body[conn.next])
                conn.next += 1
                due += self._gap(conn)
            self._send(conn, b"".join(out))
            if conn.next < len(conn.body):
                self._arm(conn, due)
            else:
                conn.body = []
                conn.schedule = None
                if conn.inbuf and not conn.closed:  # a pipelined request waited
                    self._readable_buffered(conn)

    def _readable_buffered(self, conn: _Conn) -> None:
        while not conn.closed and not conn.body:
            request = self._parse(conn)
            if request is None:
                return
            self._respond(conn, *request)

    def _send(self, conn: _Conn, data: bytes) -> None:
        if conn.closed:
            return
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(data):
            conn.out += data[sent:]
            self.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        del conn.out[:sent]
        if not conn.out:
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)


# -- for the benchmark scripts -------------------------------------------------------------


@contextmanager
def running_server() -> Iterator[str]:
    """Start the server in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_bench_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    try:
        if not match:
            raise SystemExit(f"benchmark server did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = Server()
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
