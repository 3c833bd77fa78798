"""Sending a request, retrying before the answer starts, and the network-read loop.

The only module that touches httpx2. An :class:`Exchange` is one logical request:
``open()`` sends it (retrying transient failures with backoff, never once a byte of
the answer body has arrived), ``read_batch()`` returns the events parsed from one
network read, ``aclose()`` releases the connection (shielded, bounded) and
``abandon()`` shuts the socket at once, synchronously, for a stream the caller left
without closing it (the async release of the pool slot follows on the client's next
call or its close).

Clocks (all on trio's clock, so tests run them on an autojump clock):

* the ``deadline`` counts from the start of the caller's call: waiting for a pool
  slot, connecting, retries and backoff, reading, and the callbacks;
* the first-token limit and the idle clock start when the request is *sent* (after
  the pool handed out a connection): waiting for a slot is not silence;
* idle time is time spent waiting inside reads since the last content: a slow
  consumer is not a silent provider, a trickle of keep-alives is.

Cost discipline: no cancel scope per event. A cancel scope per read is opened only
while a first-token or total deadline is pending, because only a scope can interrupt a
read that is waiting on a trickle.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
import uuid
import warnings
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import trio

from ._body import ReadyBody, open_body
from ._checkpoints import caller_checkpoints
from ._config import StreamingOptions
from ._errors import (
    APIConnectionError,
    ConnectTimeout,
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    ProviderError,
    ResponseTooLargeError,
    SteerError,
    StreamIncompleteError,
    StreamInterruptedError,
    StreamProtocolError,
    error_from_payload,
    error_from_status,
)
from ._events import StreamDeltaEvent, StreamEvent
from ._http_pool import DEFAULT_LIMITS, make_http_client
from ._providers._base import ProviderRequest, WireParser
from ._retry import RetryPolicy, parse_retry_after, should_retry_header
from ._sse import SSEDecoder

__all__ = [
    "DEFAULT_LIMITS",
    "Exchange",
    "InsecureTransportWarning",
    "RetryPolicy",
    "make_http_client",
    "parse_retry_after",
    "redact_url",
]

#: After the end marker, read at most this much of the rest of the body so the
#: connection can go back to the pool; beyond it we close the connection instead.
_DRAIN_MAX_BYTES = 64 * 1024
_DRAIN_MAX_SECONDS = 1.0
#: Cleanup that awaits is shielded, and bounded by this.
_CLOSE_TIMEOUT = 2.0
#: Error bodies are read up to this size, and for at most this long, for the message.
_ERROR_BODY_MAX = 64 * 1024
_ERROR_BODY_SECONDS = 5.0
#: Redirects followed (307/308 only, and only when the caller's client follows them).
_MAX_REDIRECTS = 5
#: Headers that carry a credential: never sent to another origin.
_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
    }
)
#: Query parameters whose values are redacted from URLs shown in messages.
_SECRET_PARAMS = ("key", "token", "secret", "password", "signature", "sig")


class InsecureTransportWarning(UserWarning):
    """An API key is about to travel over plain ``http://`` to a host that is not this
    machine. Warned once per host; use ``https://`` or a loopback address."""


_warned_insecure_hosts: set[str] = set()


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` and secret-looking query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            name, sep, _value = piece.partition("=")
            if sep and any(word in name.lower() for word in _SECRET_PARAMS):
                piece = f"{name}=***"
            pieces.append(piece)
        query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warn_if_insecure(url: httpx2.URL, headers: Mapping[str, str]) -> None:
    if url.scheme != "http" or not any(h.lower() in _CREDENTIAL_HEADERS for h in headers):
        return
    host = url.host
    if _is_loopback(host) or host in _warned_insecure_hosts:
        return
    _warned_insecure_hosts.add(host)
    warnings.warn(
        f"an API key is being sent over plain http:// to {host}; anyone on the path can "
        "read it. Use https://, or a loopback address for a local server.",
        InsecureTransportWarning,
        stacklevel=2,
    )


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


class Exchange:
    """One logical request to a provider, from sending to the last byte."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        url: str,
        request: ProviderRequest,
        parser_factory: Callable[[], WireParser],
        provider: str,
        options: StreamingOptions,
        retry_policy: RetryPolicy | None = None,
        started_at: float | None = None,
        resume: Callable[[WireParser], ProviderRequest | None] | None = None,
        base_url: str | None = None,
    ) -> None:
        self._http = http
        self._url = url
        #: A format whose answer survives a dropped connection (a background Responses
        #: API response) reads the rest of it with this request; None: it cannot.
        self._resume = resume
        self._base_url = base_url
        self.resumes = 0
        self._keep_parser = False
        self._request = request
        self._parser_factory = parser_factory
        self.provider = provider
        self.options = options
        self._retry = retry_policy or RetryPolicy()
        self.parser: WireParser = parser_factory()
        self.idempotency_key = f"steer-trio-{uuid.uuid4().hex}"
        self.attempts = 0
        self.retry_delays: list[float] = []
        self.request_id: str | None = None
        #: The headers of the provider's last answer (rate limits, request ids).
        self.headers: dict[str, str] = {}
        #: A delta that carries something arrived (text, reasoning, a tool call's id,
        #: name or arguments): from here on an interruption is mid-stream.
        self.content_seen = False
        #: At least one byte of a successful answer's body arrived: never re-send.
        self.body_started = False
        #: The provider answered at all (any status).
        self.answered = False
        #: An attempt was sent and has not been refused: the provider may bill it.
        self.in_flight = False
        self.finished = False
        now = trio.current_time()
        #: The caller's call started here: the deadline counts from it.
        self.started_at = now if started_at is None else started_at
        #: The request left for the provider (after the pool gave us a connection).
        self.sent_at: float | None = None
        self.first_token_at: float | None = None
        self._idle_spent = 0.0
        self._send_scope: trio.CancelScope | None = None
        self._response: httpx2.Response | None = None
        self._raw: AsyncIterator[bytes] | None = None
        self._decoder = SSEDecoder(max_event_bytes=options.max_event_bytes)
        self._deadline_at = (
            self.started_at + options.deadline if options.deadline is not None else math.inf
        )
        self._cancel_at = self._deadline_at
        #: Raised by the next ``read_batch``: the events before it were delivered first.
        self._pending_error: BaseException | None = None
        #: The end marker was seen and its batch delivered: drain and close next.
        self._end_seen = False
        self._drain_on_close = False
        self._abandoned: list[tuple[AsyncIterator[bytes] | None, httpx2.Response]] = []
        #: False for a non-streaming request (``generate()``): the body is one JSON.
        self.expect_stream = True
        self._json_body: dict[str, Any] | None = None

    @property
    def deadline_at(self) -> float:
        """Where the caller's deadline falls on trio's clock (``inf`` without one)."""
        return self._deadline_at

    # -- sending -------------------------------------------------------------------

    def _timeout(self) -> httpx2.Timeout:
        o = self.options
        return httpx2.Timeout(
            connect=o.connection_timeout, read=o.read_timeout, write=o.connection_timeout, pool=None
        )

    async def open(self) -> None:
        """Send the request, retrying transient failures; returns once headers are in."""
        while True:
            self.attempts += 1
            try:
                await self._send_once()
                return
            except SteerError as exc:
                error = exc
            delay = self._retry_delay(error)
            if delay is None:
                raise error
            self.retry_delays.append(delay)
            # Sleeping is a checkpoint: cancelling during backoff returns at once.
            await trio.sleep(delay)

    def _retry_delay(self, error: SteerError) -> float | None:
        """The delay before the next attempt, or None when we must not retry."""
        if self.body_started or self.attempts > self.options.max_retries:
            return None
        if isinstance(error, APIConnectionError | StreamIncompleteError):
            if not self.options.retry_on_connection_error:
                return None
        elif isinstance(error, ProviderError):
            if not error.is_retryable:
                return None
        else:
            return None
        retry_after = error.retry_after if isinstance(error, ProviderError) else None
        delay = self._retry.delay_for(self.attempts, retry_after)
        if trio.current_time() + delay >= self._deadline_at:
            return None  # the deadline would pass while waiting: fail now with this error
        return delay

    def _build(self, url: httpx2.URL | str, headers: dict[str, str]) -> httpx2.Request:
        body = self._request.json
        method = getattr(self._request, "method", "POST")
        return self._http.build_request(
            method,
            url,
            json=body if method != "GET" else None,
            headers=headers,
            timeout=self._timeout(),
            extensions={"trace": self._trace},
        )

    @caller_checkpoints  # httpcore2's hook: a checkpoint would only add one inside its send
    async def _trace(self, event: str, info: dict[str, Any]) -> None:
        # The request leaves once the pool gave us a connection: the first-token and
        # idle clocks start here, not while we queued for a slot.
        if event.endswith("send_request_headers.started"):
            self._mark_sent(trio.current_time())

    def _mark_sent(self, now: float) -> None:
        self.sent_at = now
        self.in_flight = True
        self._idle_spent = 0.0
        first = self.options.first_token_timeout
        if first is not None and not self.content_seen:
            self._cancel_at = min(self._deadline_at, now + first)
            if self._send_scope is not None:
                self._send_scope.deadline = self._cancel_at

    async def _send_once(self) -> None:
        headers = {
            **self._request.headers,
            "idempotency-key": self.idempotency_key,
            # A stream is read raw, event by event, and a JSON body is size-capped as it
            # is read: ask servers not to compress either.
            "accept-encoding": "identity",
        }
        url: httpx2.URL | str = self._url
        for _hop in range(_MAX_REDIRECTS + 1):
            req = self._build(url, headers)
            _warn_if_insecure(req.url, headers)
            response = await self._send_request(req)
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if (
                    response.status_code in (307, 308)
                    and location
                    and getattr(self._http, "follow_redirects", False)
                ):
                    await _close_response(response)
                    next_url = req.url.join(location)
                    if _origin(next_url) != _origin(req.url):
                        # A credential never follows a request to another origin.
                        headers = {
                            k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS
                        }
                    url = next_url
                    continue
                raise await self._redirect_error(response, req.url)
            await self._accept(response)
            return
        raise APIConnectionError(
            f"{self.provider} redirected more than {_MAX_REDIRECTS} times "
            f"(last: {redact_url(str(url))})"
        )

    async def _send_request(self, req: httpx2.Request) -> httpx2.Response:
        shown = redact_url(str(req.url))
        attempt_started = trio.current_time()
        try:
            with trio.move_on_at(self._cancel_at) as scope:
                self._send_scope = scope
                # Redirects are ours to follow: see _send_once (credentials).
                response = await self._http.send(req, stream=True, follow_redirects=False)
        except httpx2.ConnectTimeout as exc:
            raise ConnectTimeout(
                f"could not connect to {self.provider} within "
                f"{self.options.connection_timeout}s ({shown})"
            ) from exc
        except httpx2.TimeoutException as exc:
            raise self._silence_error() from exc
        except httpx2.TransportError as exc:
            detail = redact_url(str(exc)) if str(exc) else type(exc).__name__
            raise APIConnectionError(
                f"could not reach {self.provider} at {shown}: {detail}"
            ) from exc
        finally:
            self._send_scope = None
        if scope.cancelled_caught:
            raise self._deadline_error()
        now = trio.current_time()
        if self.sent_at is None or self.sent_at < attempt_started:
            # A transport without the trace hook (a mock): sent when we asked.
            self._mark_sent(attempt_started)
        assert self.sent_at is not None
        self._idle_spent = now - self.sent_at
        self.answered = True
        return response

    @caller_checkpoints
    async def _accept(self, response: httpx2.Response) -> None:
        """Check a final (non-redirect) response and make it the one we read."""
        self.headers = dict(response.headers)
        self.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        if response.status_code >= 400:
            self.in_flight = False  # refused: the provider does not bill a refusal
            raise await self._status_error(response)
        content_type = response.headers.get("content-type", "")
        if not self.expect_stream:
            self._json_body = await self._read_json(response, content_type)
            return
        if "text/event-stream" not in content_type:
            raise await self._not_a_stream_error(response, content_type)
        self._response = response
        self._raw = open_body(response)
        if not self._keep_parser:
            self.parser = self._parser_factory()
        self._decoder = SSEDecoder(max_event_bytes=self.options.max_event_bytes)

    async def _read_limited(
        self, response: httpx2.Response, limit: int, seconds: float
    ) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of the body within ``seconds`` (and the deadline);
        ``(body, complete)``. The response is closed either way."""
        chunks: list[bytes] = []
        size = 0
        complete = False
        iterator = response.aiter_raw()
        try:
            with trio.move_on_at(min(self._deadline_at, trio.current_time() + seconds)):
                async for chunk in iterator:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit:
                        break
                else:
                    complete = True
        except httpx2.HTTPError:
            pass
        finally:
            await _close_iterator(iterator)  # noqa: ASYNC102 - shielded, bounded inside
            await _close_response(response)  # noqa: ASYNC102 - shielded, bounded inside
        return b"".join(chunks), complete

    async def _status_error(self, response: httpx2.Response) -> ProviderError:
        body, _complete = await self._read_limited(response, _ERROR_BODY_MAX, _ERROR_BODY_SECONDS)
        return error_from_status(
            self.provider,
            response.status_code,
            body,
            request_id=self.request_id,
            retry_after=parse_retry_after(response.headers),
            should_retry=should_retry_header(response.headers),
            headers=dict(response.headers),
        )

    async def _redirect_error(self, response: httpx2.Response, url: httpx2.URL) -> SteerError:
        await _close_response(response)
        location = response.headers.get("location")
        where = redact_url(str(url.join(location))) if location else "nowhere (no Location)"
        return StreamProtocolError(
            f"{self.provider} answered HTTP {response.status_code}, a redirect to {where}; "
            "the request was not sent there. Point base_url at the final address"
            + (
                ""
                if response.status_code in (307, 308)
                else " (a POST redirected with this status would lose its body)"
            )
        )

    async def fetch_json(self) -> dict[str, Any]:
        """A non-streaming request: send (with retries) and return the JSON body."""
        self.expect_stream = False
        await self.open()
        assert self._json_body is not None
        self.finished = True
        return self._json_body

    async def _read_json(self, response: httpx2.Response, content_type: str) -> dict[str, Any]:
        limit = self.options.max_response_bytes
        encoding = response.headers.get("content-encoding", "identity").lower()
        try:
            # A transport that hands over the body already read (a mock built with
            # ``content=``): it is here whole, and already decoded.
            ready: bytes | None = response.content
        except httpx2.ResponseNotRead:
            ready = None
        if ready is not None:
            encoding = "identity"
        decoder = _Decompressor(encoding, limit)
        iterator: AsyncIterator[bytes] = (
            ReadyBody(ready) if ready is not None else response.aiter_raw()
        )
        try:
            with trio.move_on_at(self._cancel_at) as scope:
                async for chunk in iterator:
                    self.body_started = True
                    decoder.feed(chunk)
                    if decoder.size > limit:
                        raise ResponseTooLargeError(
                            f"{self.provider} sent a response body over max_response_bytes="
                            f"{limit} bytes (decoded); raise StreamingOptions.max_response_bytes "
                            "if this is expected"
                        )
            body = decoder.finish()
        except httpx2.TimeoutException as exc:
            raise self._silence_error() from exc
        except httpx2.TransportError as exc:
            raise self._broken_error(exc) from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise StreamProtocolError(
                f"{self.provider} sent a {encoding}-encoded body that does not decode: {exc}"
            ) from exc
        finally:
            await _close_iterator(iterator)  # noqa: ASYNC102 - shielded, bounded inside
            if _has_extra_bytes(response):
                _shutdown(response)
            await _close_response(response)  # noqa: ASYNC102 - shielded, bounded inside
        if scope.cancelled_caught:
            raise self._deadline_error()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        error = error_from_payload_or_none(self.provider, payload, response.status_code)
        if error is not None:
            # A refusal in a 200 body, like one with an error status: not an answer,
            # not billed, and retried when its kind is transient.
            self.body_started = False
            self.in_flight = False
            raise error
        if not isinstance(payload, dict):
            raise StreamProtocolError(
                f"{self.provider} answered with {content_type or 'no content-type'} that is "
                f"not a JSON object; body starts: {body[:300]!r}",
                raw=body[:2000],
            )
        return payload

    async def _not_a_stream_error(self, response: httpx2.Response, content_type: str) -> SteerError:
        body, _complete = await self._read_limited(response, _ERROR_BODY_MAX, _ERROR_BODY_SECONDS)
        if "json" in content_type:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            error = error_from_payload_or_none(self.provider, payload, response.status_code)
            if error is not None:
                self.in_flight = False  # a refusal: not billed
                return error
        snippet = body[:300].decode("utf-8", errors="replace")
        return StreamProtocolError(
            f"{self.provider} answered a streaming request with {content_type or 'no content-type'}"
            f" instead of text/event-stream; body starts: {snippet!r}",
            raw=body[:2000],
        )

    # -- reading -------------------------------------------------------------------

    @caller_checkpoints
    async def read_batch(self) -> list[StreamEvent] | None:
        """Events parsed from the next network read; None once the stream is complete.

        An error found in a read is raised by the *next* call when events parsed
        before it in the same read are returned first: nothing received is dropped.
        A transient failure before any byte of the body is retried here, transparently.
        """
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            if isinstance(error, SteerError) and self._can_resume(error):
                return await self._resume_then_read(error)
            raise error
        if self._end_seen:
            # The answer is whole: complete now; the rest of the body is drained when
            # the connection is released (``aclose``), after the caller has it all.
            self._end_seen = False
            self.finished = True
            self._drain_on_close = True
            return None
        raw = self._raw
        if raw is None or self.finished:
            return None
        started = trio.current_time()
        try:
            try:
                if self._cancel_at == math.inf:
                    chunk = await raw.__anext__()
                else:
                    with trio.move_on_at(self._cancel_at) as scope:
                        chunk = await raw.__anext__()
                    if scope.cancelled_caught:
                        raise self._deadline_error()
            except StopAsyncIteration:
                return self._at_eof()
            except httpx2.TimeoutException as exc:
                raise self._silence_error() from exc
            except httpx2.TransportError as exc:
                raise self._broken_error(exc) from exc
        except SteerError as exc:
            return await self._retry_then_read(exc)
        self.body_started = True
        out: list[StreamEvent] = []
        parser = self.parser
        try:
            for sse in self._decoder.feed(chunk):
                parser.feed(sse, out)
        except SteerError as exc:
            if not out:
                raise
            self._pending_error = exc
        now = trio.current_time()
        if out and _carries_content(out):
            if not self.content_seen:
                self.content_seen = True
                self.first_token_at = now
                self._cancel_at = self._deadline_at
            self._idle_spent = 0.0
        else:
            self._idle_spent += now - started
            read_timeout = self.options.read_timeout
            if read_timeout is not None and self._idle_spent > read_timeout:
                # Keep-alives arrive but no content: they must not keep us waiting forever.
                self._pending_error = self._pending_error or self._silence_error()
        if now >= self._deadline_at:
            self._pending_error = self._pending_error or self._deadline_error()
        if parser.done and self._pending_error is None:
            self._end_seen = True
        if self._pending_error is not None and not out:
            error, self._pending_error = self._pending_error, None
            raise error
        return out

    def _can_resume(self, error: SteerError) -> bool:
        return (
            self._resume is not None
            and self.body_started
            and self.resumes < max(1, self.options.max_retries)
            and isinstance(error, APIConnectionError | StreamIncompleteError)
        )

    async def _resume_then_read(self, exc: SteerError) -> list[StreamEvent] | None:
        """Read the rest of an answer that lives on at the provider (a background
        response) after the connection broke: not a new request, the same answer from
        where it stopped; events already seen are dropped by their sequence numbers."""
        assert self._resume is not None
        request = self._resume(self.parser)
        if request is None or self._base_url is None:
            raise exc
        self.resumes += 1
        await self._close_current()
        saved = self._request, self._url
        self._request, self._url = request, self._base_url + request.path
        self._keep_parser = True
        self._end_seen = False
        self.finished = False
        failed: SteerError | None = None
        try:
            await self._send_once()
        except SteerError as again:
            if not self._can_resume(again):
                raise
            failed = again
        finally:
            self._request, self._url = saved
            self._keep_parser = False
        if failed is not None:
            return await self._resume_then_read(failed)
        return await self.read_batch()

    async def _retry_then_read(self, exc: SteerError) -> list[StreamEvent] | None:
        """Retry the request after ``exc`` if that is allowed, else raise it."""
        delay = self._retry_delay(exc)
        if delay is None:
            if self._can_resume(exc):
                return await self._resume_then_read(exc)
            raise exc
        await self._close_current()
        self.retry_delays.append(delay)
        await trio.sleep(delay)
        await self.open()
        return await self.read_batch()  # recursion bounded by max_retries

    def _at_eof(self) -> list[StreamEvent] | None:
        out: list[StreamEvent] = []
        error: SteerError | None = None
        try:
            for sse in self._decoder.close():
                self.parser.feed(sse, out)
            self.parser.at_eof()
        except SteerError as exc:
            error = exc
        if error is None and not self.parser.done:
            error = StreamIncompleteError(
                f"{self.provider} closed the stream without its end marker: the answer may "
                "be cut short"
            )
        if error is not None:
            if out:
                self._pending_error = error
                return out
            raise error
        self.finished = True
        self._end_seen = False
        return out or None

    @caller_checkpoints
    async def _drain(self) -> None:
        """After a complete answer: read what is left of the body (bounded) so the
        connection can go back to the pool. A body left unread closes its connection on
        release; a complete one is reused, unless bytes follow the body. Shielded: the
        caller has its answer, and this must not turn into a failure."""
        response, raw = self._response, self._raw
        if response is None or raw is None:
            return
        drained = 0
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(_DRAIN_MAX_SECONDS),
        ):
            try:
                while drained <= _DRAIN_MAX_BYTES:
                    drained += len(await raw.__anext__())
            except StopAsyncIteration:
                if _has_extra_bytes(response):
                    _shutdown(response)
            except httpx2.HTTPError:
                pass

    # -- errors --------------------------------------------------------------------

    def _silence_error(self) -> SteerError:
        if not self.content_seen:
            return FirstTokenTimeout(
                f"{self.provider} sent no content within the read timeout "
                f"({self.options.read_timeout}s)"
            )
        return IdleTimeout(
            f"{self.provider} sent no content for more than {self.options.read_timeout}s"
        )

    def _deadline_error(self) -> SteerError:
        if trio.current_time() >= self._deadline_at:
            return DeadlineExceeded(
                f"the request to {self.provider} exceeded its deadline of {self.options.deadline}s"
            )
        return FirstTokenTimeout(
            f"{self.provider} sent no content within first_token_timeout="
            f"{self.options.first_token_timeout}s"
        )

    def _broken_error(self, exc: Exception) -> SteerError:
        detail = redact_url(str(exc)) if str(exc) else type(exc).__name__
        if self.content_seen:
            return StreamInterruptedError(
                f"the connection to {self.provider} broke mid-stream: {detail}"
            )
        return APIConnectionError(
            f"the connection to {self.provider} broke before any content: {detail}"
        )

    # -- cleanup -------------------------------------------------------------------

    @caller_checkpoints
    async def _close_current(self) -> None:
        if self._drain_on_close:
            self._drain_on_close = False
            await self._drain()
        response, self._response = self._response, None
        raw, self._raw = self._raw, None
        if raw is not None:
            await _close_iterator(raw)
        if response is not None:
            await _close_response(response)

    async def aclose(self) -> None:
        """Release the connection (and any abandoned one). Idempotent; shielded, bounded."""
        abandoned, self._abandoned = self._abandoned, []
        for raw, response in abandoned:
            if raw is not None:
                await _close_iterator(raw)
            await _close_response(response)
        await self._close_current()

    def abandon(self) -> bool:
        """The caller left without closing: shut the socket now (synchronously, so the
        provider sees it at once) and keep the response for ``aclose()`` to release.
        True if there was a connection to shut."""
        response, self._response = self._response, None
        raw, self._raw = self._raw, None
        self.finished = True
        self._drain_on_close = False
        if response is None:
            return False
        _shutdown(response)
        self._abandoned.append((raw, response))
        return True

    def timing(self) -> dict[str, Any]:
        now = trio.current_time()
        data: dict[str, Any] = {"duration_ms": (now - self.started_at) * 1000.0}
        if self.first_token_at is not None:
            # From the call's start, as the caller experiences it (pool wait included).
            data["time_to_first_token_ms"] = (self.first_token_at - self.started_at) * 1000.0
        if self.sent_at is not None:
            data["queued_ms"] = (self.sent_at - self.started_at) * 1000.0
        data["attempts"] = self.attempts
        data["retry_delays"] = list(self.retry_delays)
        return data


def _carries_content(events: list[StreamEvent]) -> bool:
    """Whether a batch holds a delta with something in it (keep-alives and empty
    tool-call deltas such as ``{"index": 0}`` do not count as content)."""
    for event in events:
        if isinstance(event, StreamDeltaEvent):
            delta = event.delta
            if delta.value or delta.tool_call_id or delta.tool_name:
                return True
    return False


class _Decompressor:
    """Decoded size as the body arrives, so a compression bomb stops at the cap."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self.size = 0
        self._z: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            raise StreamProtocolError(
                f"the response is {encoding}-encoded although identity was asked for"
            )

    def feed(self, data: bytes) -> None:
        if self._z is not None:
            # Never inflate more than one byte past the cap, whatever the ratio.
            data = self._z.decompress(data, self._limit + 1 - self.size)
        self.size += len(data)
        if self.size <= self._limit:
            self._parts.append(data)

    def finish(self) -> bytes:
        if self._z is not None and self.size <= self._limit:
            tail = self._z.flush()
            self.size += len(tail)
            self._parts.append(tail)
        return b"".join(self._parts)


def error_from_payload_or_none(provider: str, payload: Any, status: int) -> ProviderError | None:
    """A typed error when ``payload`` is a provider's error object, else None."""
    candidate = payload[0] if isinstance(payload, list) and len(payload) == 1 else payload
    if not isinstance(candidate, dict):
        return None
    if not candidate.get("error") and candidate.get("type") != "error":
        return None  # no error, or ``"error": null`` as the Responses API writes
    error = error_from_payload(provider, candidate)
    error.in_stream = False
    return error


def _network_socket(response: httpx2.Response) -> Any:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        return stream.get_extra_info("socket")
    except Exception:
        return None


def _has_extra_bytes(response: httpx2.Response) -> bool:
    """Bytes after the end of the body: the connection must not serve another request
    (they would be read as the next response)."""
    stream = response.extensions.get("network_stream")
    try:
        if stream is not None and stream.get_extra_info("is_readable"):
            return True
    except Exception:
        pass
    return bool(_h11_trailing_data(response))


def _h11_trailing_data(response: httpx2.Response) -> bytes:
    """Bytes the HTTP/1.1 parser already read past this response (best effort: the
    connection object sits a few wrappers below the response's stream)."""
    node: Any = response.stream
    for _ in range(8):
        state = getattr(node, "_h11_state", None)
        if state is not None:
            data, _closed = state.trailing_data
            return bytes(data)
        nxt = getattr(node, "_connection", None) or getattr(node, "_stream", None)
        if nxt is None:
            nxt = getattr(node, "_httpcore_stream", None)
        if nxt is None:
            return b""
        node = nxt
    return b""


def _shutdown(response: httpx2.Response) -> None:
    """Shut the connection's socket down now, without awaiting: the provider sees the
    close at once, and the pool discards the connection when it is released."""
    sock = _network_socket(response)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@caller_checkpoints
async def _close_iterator(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
        try:
            await aclose()
        except (httpx2.HTTPError, RuntimeError):
            pass


@caller_checkpoints
async def _close_response(response: httpx2.Response) -> None:
    # An unread body closes the connection instead of returning it: exactly what we
    # want on cancel. Shielded so a cancelled caller still releases the pool slot.
    with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
        try:
            await response.aclose()
        except httpx2.HTTPError:
            pass
