"""Sending a request, retrying before content, and the network-read loop.

The only module that touches httpx2. An :class:`Exchange` is one logical request:
``open()`` sends it (retrying transient failures with backoff), ``read_batch()``
returns the events parsed from one network read, ``aclose()`` releases the
connection (shielded, bounded).

Cost discipline: no cancel scope per event. Silence is caught by the transport's
read timeout; deadlines and the idle gap are a clock comparison per read. A cancel
scope per read is opened only while a first-token or total deadline is pending,
because only a scope can interrupt a read that is waiting on a trickle.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import trio

from ._config import StreamingOptions
from ._errors import (
    APIConnectionError,
    ConnectTimeout,
    DeadlineExceeded,
    FirstTokenTimeout,
    IdleTimeout,
    ProviderError,
    SteerError,
    StreamIncompleteError,
    StreamInterruptedError,
    StreamProtocolError,
    error_from_status,
)
from ._events import StreamDeltaEvent, StreamEvent
from ._providers._base import ProviderRequest, WireParser
from ._retry import RetryPolicy, parse_retry_after, should_retry_header
from ._sse import SSEDecoder

__all__ = ["DEFAULT_LIMITS", "Exchange", "RetryPolicy", "make_http_client", "parse_retry_after"]

#: Batch jobs run hundreds of concurrent streams; httpx2's defaults (100) would queue them.
DEFAULT_LIMITS = httpx2.Limits(
    max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60.0
)
#: After the end marker, read at most this much of the rest of the body so the
#: connection can go back to the pool; beyond it we close the connection instead.
_DRAIN_MAX_BYTES = 64 * 1024
_DRAIN_MAX_SECONDS = 1.0
#: Cleanup that awaits is shielded, and bounded by this.
_CLOSE_TIMEOUT = 2.0
#: Error bodies are read up to this size for the message.
_ERROR_BODY_MAX = 64 * 1024


_ssl_context: Any = None


def _build_http_client(limits: httpx2.Limits | None) -> httpx2.AsyncClient:
    """Blocking: building the TLS context reads the trust store (tens of ms)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx2.create_ssl_context()
    return httpx2.AsyncClient(limits=limits or DEFAULT_LIMITS, timeout=None, verify=_ssl_context)


async def make_http_client(limits: httpx2.Limits | None = None) -> httpx2.AsyncClient:
    """A connection pool, built off the event loop the first time (the TLS context is
    then cached for the process, so later pools are cheap)."""
    if _ssl_context is not None:
        return _build_http_client(limits)
    return await trio.to_thread.run_sync(_build_http_client, limits)


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
    ) -> None:
        self._http = http
        self._url = url
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
        self.content_seen = False
        self.finished = False
        self.started_at = trio.current_time()
        self.first_token_at: float | None = None
        self._last_content_at = self.started_at
        self._response: httpx2.Response | None = None
        self._raw: AsyncIterator[bytes] | None = None
        self._decoder = SSEDecoder(max_event_bytes=options.max_event_bytes)
        self._deadline_at = (
            self.started_at + options.deadline if options.deadline is not None else math.inf
        )
        self._first_token_at_limit = (
            self.started_at + options.first_token_timeout
            if options.first_token_timeout is not None
            else math.inf
        )
        self._cancel_at = min(self._deadline_at, self._first_token_at_limit)
        #: False for a non-streaming request (``generate()``): the body is one JSON.
        self.expect_stream = True
        self._json_body: dict[str, Any] | None = None

    # -- sending -------------------------------------------------------------------

    def _timeout(self) -> httpx2.Timeout:
        o = self.options
        return httpx2.Timeout(
            connect=o.connection_timeout, read=o.read_timeout, write=o.connection_timeout, pool=None
        )

    async def open(self) -> None:
        """Send the request, retrying transient failures; returns once headers are in."""
        last_error: SteerError | None = None
        while True:
            self.attempts += 1
            try:
                await self._send_once()
                return
            except SteerError as exc:
                last_error = exc
            delay = self._retry_delay(last_error)
            if delay is None:
                raise last_error
            self.retry_delays.append(delay)
            # Sleeping is a checkpoint: cancelling during backoff returns at once.
            await trio.sleep(delay)

    def _retry_delay(self, error: SteerError) -> float | None:
        """The delay before the next attempt, or None when we must not retry."""
        if self.content_seen or self.attempts > self.options.max_retries:
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

    async def _send_once(self) -> None:
        req = self._http.build_request(
            "POST",
            self._url,
            json=self._request.json,
            headers={
                **self._request.headers,
                "idempotency-key": self.idempotency_key,
                # A stream is read raw, event by event: ask servers not to compress it.
                **({"accept-encoding": "identity"} if self.expect_stream else {}),
            },
            timeout=self._timeout(),
        )
        try:
            with trio.move_on_at(self._cancel_at) as scope:
                response = await self._http.send(req, stream=True)
        except httpx2.ConnectTimeout as exc:
            raise ConnectTimeout(
                f"could not connect to {self.provider} within "
                f"{self.options.connection_timeout}s ({self._url})"
            ) from exc
        except httpx2.TimeoutException as exc:
            raise self._silence_error() from exc
        except httpx2.TransportError as exc:
            raise APIConnectionError(
                f"could not reach {self.provider} at {self._url}: {exc or type(exc).__name__}"
            ) from exc
        if scope.cancelled_caught:
            raise self._deadline_error()
        self.headers = dict(response.headers)
        self.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        if response.status_code >= 400:
            raise await self._status_error(response)
        content_type = response.headers.get("content-type", "")
        if not self.expect_stream:
            self._json_body = await self._read_json(response, content_type)
            return
        if "text/event-stream" not in content_type:
            raise await self._not_a_stream_error(response, content_type)
        self._response = response
        if response.headers.get("content-encoding", "identity").lower() in ("identity", ""):
            # The transport's own byte stream: one async-generator layer fewer per read
            # than aiter_raw() (whose chunker and byte count we do not need).
            stream = response.stream
            assert isinstance(stream, httpx2.AsyncByteStream)  # an AsyncClient's response
            self._raw = aiter(stream)
        else:
            # A server (or proxy) compressed it anyway: let httpx2 decode it.
            self._raw = response.aiter_bytes()
        self.parser = self._parser_factory()
        self._decoder = SSEDecoder(max_event_bytes=self.options.max_event_bytes)

    async def _read_body(self, response: httpx2.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            with trio.move_on_after(_DRAIN_MAX_SECONDS * 5):
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= _ERROR_BODY_MAX:
                        break
        except httpx2.HTTPError:
            pass
        finally:
            await _close_response(response)  # noqa: ASYNC102 - shielded, bounded inside
        return b"".join(chunks)

    async def _status_error(self, response: httpx2.Response) -> ProviderError:
        body = await self._read_body(response)
        return error_from_status(
            self.provider,
            response.status_code,
            body,
            request_id=self.request_id,
            retry_after=parse_retry_after(response.headers),
            should_retry=should_retry_header(response.headers),
            headers=dict(response.headers),
        )

    async def fetch_json(self) -> dict[str, Any]:
        """A non-streaming request: send (with retries) and return the JSON body."""
        self.expect_stream = False
        await self.open()
        assert self._json_body is not None
        self.finished = True
        return self._json_body

    async def _read_json(self, response: httpx2.Response, content_type: str) -> dict[str, Any]:
        try:
            with trio.move_on_at(self._cancel_at) as scope:
                body = await response.aread()
        except httpx2.TimeoutException as exc:
            raise self._silence_error() from exc
        except httpx2.TransportError as exc:
            raise self._broken_error(exc) from exc
        finally:
            await _close_response(response)  # noqa: ASYNC102 - shielded, bounded inside
        if scope.cancelled_caught:
            raise self._deadline_error()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise StreamProtocolError(
                f"{self.provider} answered with {content_type or 'no content-type'} that is "
                f"not a JSON object; body starts: {body[:300]!r}",
                raw=body[:2000],
            )
        return payload

    async def _not_a_stream_error(self, response: httpx2.Response, content_type: str) -> SteerError:
        body = await self._read_body(response)
        snippet = body[:300].decode("utf-8", errors="replace")
        return StreamProtocolError(
            f"{self.provider} answered a streaming request with {content_type or 'no content-type'}"
            f" instead of text/event-stream; body starts: {snippet!r}",
            raw=body[:2000],
        )

    # -- reading -------------------------------------------------------------------

    async def read_batch(self) -> list[StreamEvent] | None:
        """Events parsed from the next network read; None once the stream is complete.

        A transient failure before any content is retried here, transparently. (One
        coroutine per read, no more: this runs for every network read of every stream.)
        """
        raw = self._raw
        if raw is None or self.finished:
            return None
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
            out: list[StreamEvent] = []
            parser = self.parser
            for sse in self._decoder.feed(chunk):
                parser.feed(sse, out)
            now = trio.current_time()
            if out:
                if not self.content_seen and any(isinstance(e, StreamDeltaEvent) for e in out):
                    self.content_seen = True
                    self.first_token_at = now
                    self._cancel_at = self._deadline_at
                self._last_content_at = now
            elif (
                self.options.read_timeout is not None
                and now - self._last_content_at > self.options.read_timeout
            ):
                # Keep-alives arrive but no content: they must not keep us waiting forever.
                raise self._silence_error()
            if now > self._deadline_at:
                raise self._deadline_error()
            if parser.done:
                await self._finish()
            return out
        except SteerError as exc:
            return await self._retry_then_read(exc)

    async def _retry_then_read(self, exc: SteerError) -> list[StreamEvent] | None:
        """Retry the request after ``exc`` if that is allowed, else raise it."""
        delay = self._retry_delay(exc)
        if delay is None:
            raise exc
        await self._close_current()
        self.retry_delays.append(delay)
        await trio.sleep(delay)
        await self.open()
        return await self.read_batch()  # recursion bounded by max_retries

    def _at_eof(self) -> list[StreamEvent] | None:
        out: list[StreamEvent] = []
        for sse in self._decoder.close():
            self.parser.feed(sse, out)
        self.parser.at_eof()
        if not self.parser.done:
            raise StreamIncompleteError(
                f"{self.provider} closed the stream without its end marker "
                "([DONE] / message_stop): the answer may be cut short"
            )
        self.finished = True
        return out or None

    async def _finish(self) -> None:
        """End marker seen: drain what is left (bounded) so the connection is reused."""
        self.finished = True
        response, raw = self._response, self._raw
        if response is None or raw is None:
            return
        drained = 0
        with trio.move_on_after(_DRAIN_MAX_SECONDS):
            try:
                async for chunk in raw:
                    drained += len(chunk)
                    if drained > _DRAIN_MAX_BYTES:
                        break
            except httpx2.HTTPError:
                pass
        await self._close_current()

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
        detail = str(exc) or type(exc).__name__
        if self.content_seen:
            return StreamInterruptedError(
                f"the connection to {self.provider} broke mid-stream: {detail}"
            )
        return APIConnectionError(
            f"the connection to {self.provider} broke before any content: {detail}"
        )

    # -- cleanup -------------------------------------------------------------------

    async def _close_current(self) -> None:
        response, self._response, self._raw = self._response, None, None
        if response is not None:
            await _close_response(response)

    async def aclose(self) -> None:
        """Release the connection. Idempotent; shielded and bounded."""
        await self._close_current()

    def timing(self) -> dict[str, Any]:
        now = trio.current_time()
        data: dict[str, Any] = {"duration_ms": (now - self.started_at) * 1000.0}
        if self.first_token_at is not None:
            data["time_to_first_token_ms"] = (self.first_token_at - self.started_at) * 1000.0
        data["attempts"] = self.attempts
        data["retry_delays"] = list(self.retry_delays)
        return data


async def _close_response(response: httpx2.Response) -> None:
    # An unread body closes the connection instead of returning it: exactly what we
    # want on cancel. Shielded so a cancelled caller still releases the pool slot.
    with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
        try:
            await response.aclose()
        except httpx2.HTTPError:
            pass
