"""One rooted error tree. Every failure a caller can see is one of these::

    SteerError
    ├── ConfigurationError          bad input, caught before any request is sent
    │   ├── UnknownModelError       a model no provider claims (lists the choices)
    │   ├── ClientClosedError       a client used after ``aclose()``
    │   └── MissingAPIKeyError      names the environment variable to set
    ├── ProviderError               the provider said no (HTTP status or in-stream error)
    │   ├── BadRequestError         400, 409, 413, 422
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── RateLimitError          429 (quota exhausted: not retryable)
    │   ├── OverloadedError         529, Anthropic ``overloaded_error``
    │   └── ServerError             5xx
    ├── APIConnectionError          could not reach the provider / the connection broke
    │   ├── ConnectTimeout
    │   └── StreamInterruptedError  the connection broke after content arrived
    ├── StreamTimeoutError
    │   ├── FirstTokenTimeout
    │   ├── IdleTimeout
    │   └── DeadlineExceeded
    ├── StreamIncompleteError       the body ended cleanly without ``[DONE]``/``message_stop``
    ├── StreamNotFinishedError      ``stream.response`` read before the stream ended
    ├── StreamProtocolError         a payload we cannot read (keeps the raw line)
    │   ├── SSEEventTooLargeError   an event over ``max_event_bytes``
    │   └── ResponseTooLargeError   a JSON body over ``max_response_bytes``
    ├── ResponseValidationError     JSON that does not fit ``response_model``
    └── CallbackError               the caller's own callback, filter or transformer raised

``is_retryable`` says whether the failure is transient (a new request may succeed).
Whether the SDK retries by itself is a separate fact: never once content reached the
caller. Every error raised from a stream carries ``partial``: the response so far.

Sans-IO: this module imports neither trio nor httpx2.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._response import StreamingResponse

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "CallbackError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectTimeout",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "IdleTimeout",
    "MissingAPIKeyError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "SSEEventTooLargeError",
    "ServerError",
    "SteerError",
    "StreamIncompleteError",
    "StreamInterruptedError",
    "StreamNotFinishedError",
    "StreamProtocolError",
    "StreamTimeoutError",
    "UnknownModelError",
    "error_from_payload",
    "error_from_status",
]


class SteerError(Exception):
    """Root of every error steer_trio raises."""

    #: Whether a new request may succeed.
    is_retryable: bool = False

    def __init__(self, message: str, *, partial: StreamingResponse[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The response so far (text, usage, cost) for an error that ended a stream;
        #: None for errors raised before a request was made (bad input).
        self.partial: StreamingResponse[Any] | None = partial
        #: True when some content had already been delivered to the caller.
        self.content_delivered = False

    def __str__(self) -> str:
        return self.message


class ConfigurationError(SteerError, ValueError):
    """Bad input: raised before any request is sent. The message says what to fix."""


class UnknownModelError(ConfigurationError):
    """No provider is known for the model; the message lists the ways to name one."""


class StreamNotFinishedError(SteerError, RuntimeError):
    """``stream.response`` was read before the stream ended: iterate it to the end, or
    leave its ``async with`` block, first."""


class ClientClosedError(ConfigurationError):
    """The client was closed (``aclose()`` or the end of its ``async with``); make a new
    ``SteerClient`` instead of reusing it."""


class MissingAPIKeyError(ConfigurationError):
    """The provider needs a key and none was given; the message names the environment variable."""


class ProviderError(SteerError):
    """The provider refused or failed the request (an HTTP status or an in-stream error)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        is_retryable: bool | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        in_stream: bool = False,
        partial: StreamingResponse[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.provider = provider
        #: The HTTP response headers (rate limits, ``retry-after``); empty in-stream.
        self.headers: dict[str, str] = dict(headers or {})
        self.status_code = status_code
        if is_retryable is not None:
            self.is_retryable = is_retryable
        self.error_type = error_type
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body
        self.in_stream = in_stream

    def __str__(self) -> str:
        where = "in stream" if self.in_stream else f"HTTP {self.status_code}"
        kind = f" {self.error_type}" if self.error_type else ""
        return f"{self.provider or 'provider'} {where}{kind}: {self.message}"


class BadRequestError(ProviderError):
    """HTTP 400, 409, 413 or 422: the provider rejected the request as sent. Not retryable."""

    is_retryable = False


class AuthenticationError(ProviderError):
    """HTTP 401: the key is missing, wrong or revoked. Not retryable."""

    is_retryable = False


class PermissionDeniedError(ProviderError):
    """HTTP 403: the key may not use this model or feature. Not retryable."""

    is_retryable = False


class NotFoundError(ProviderError):
    """HTTP 404: an unknown model or a wrong base URL. Not retryable."""

    is_retryable = False


class RateLimitError(ProviderError):
    """HTTP 429: too many requests or tokens. Retryable (``retry_after`` says when),
    except a 429 for an exhausted quota."""

    is_retryable = True


class OverloadedError(ProviderError):
    """HTTP 529 or Anthropic's ``overloaded_error``: the provider is busy. Retryable."""

    is_retryable = True


class ServerError(ProviderError):
    """Any other HTTP 5xx: a failure on the provider's side. Retryable."""

    is_retryable = True


class APIConnectionError(SteerError):
    """The provider could not be reached, or the connection failed."""

    is_retryable = True


class ConnectTimeout(APIConnectionError):
    """The TCP/TLS connection was not made within ``connection_timeout``."""


class StreamInterruptedError(APIConnectionError):
    """The connection broke after content had started to arrive."""


class StreamTimeoutError(SteerError):
    """A time limit of ``StreamingOptions`` ran out; ``partial`` keeps what arrived. Retryable."""

    is_retryable = True


class FirstTokenTimeout(StreamTimeoutError):
    """No content arrived within ``first_token_timeout`` (or ``read_timeout``) of
    sending the request."""


class IdleTimeout(StreamTimeoutError):
    """Content stopped arriving for longer than ``read_timeout`` (keep-alives do not count)."""


class DeadlineExceeded(StreamTimeoutError):
    """The whole request, retries and backoff included, passed its ``deadline``."""


class StreamIncompleteError(SteerError):
    """The body ended cleanly but without the provider's end marker."""

    is_retryable = True


class StreamProtocolError(SteerError):
    """A payload the SDK cannot read. ``raw`` holds the offending line or body snippet."""

    def __init__(
        self,
        message: str,
        *,
        raw: str | bytes | None = None,
        partial: StreamingResponse[Any] | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.raw = raw


class SSEEventTooLargeError(StreamProtocolError):
    """One server-sent event grew past ``max_event_bytes``; ``raw`` keeps its start."""


class ResponseTooLargeError(StreamProtocolError):
    """A non-streaming body larger than ``StreamingOptions.max_response_bytes`` (decoded)."""


class ResponseValidationError(SteerError, ValueError):
    """The streamed JSON does not fit the requested ``response_model``."""

    def __init__(
        self,
        message: str,
        *,
        raw_json: str = "",
        value: Any = None,
        partial: StreamingResponse[Any] | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.raw_json = raw_json
        self.value = value


class CallbackError(SteerError):
    """Your own code raised while the stream ran: a callback (``on_delta``...) or an
    event processor's filter or transformer. ``__cause__`` is exactly what it raised;
    ``callback`` names it; ``partial`` is the response so far. When ``on_error`` itself
    raised, ``stream_error`` (also the ``__context__``) is the error it was told about."""

    def __init__(
        self, message: str, *, callback: str, partial: StreamingResponse[Any] | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.callback = callback
        self.stream_error: BaseException | None = None


# -- mapping -----------------------------------------------------------------------

_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: BadRequestError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
    529: OverloadedError,
}

# Provider error "type" strings (OpenAI's error.type / error.code, Anthropic's error.type).
_TYPE_CLASSES: dict[str, type[ProviderError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "invalid_api_key": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "permission_denied": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "model_not_found": NotFoundError,
    "request_too_large": BadRequestError,
    "rate_limit_error": RateLimitError,
    "rate_limit_exceeded": RateLimitError,
    "insufficient_quota": RateLimitError,
    "overloaded_error": OverloadedError,
    "api_error": ServerError,
    "server_error": ServerError,
    "internal_error": ServerError,
    "timeout_error": ServerError,
}

_TYPE_STATUS: dict[type[ProviderError], int] = {
    BadRequestError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    RateLimitError: 429,
    OverloadedError: 529,
    ServerError: 500,
}

_QUOTA_MARKERS = ("insufficient_quota", "quota", "billing")


def _class_for_status(status: int) -> type[ProviderError]:
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return BadRequestError if 400 <= status < 500 else ProviderError


def _snippet(text: str, limit: int = 300) -> str:
    """A readable one-line excerpt of a body that may be HTML or anything else."""
    import re

    flat = re.sub(r"<[^>]+>", " ", text)
    flat = " ".join(flat.split())
    return flat[:limit] + ("..." if len(flat) > limit else "")


def _extract_error(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) from the usual ``{"error": {...}}`` shapes."""
    if not isinstance(body, dict):
        return None, None, None
    err = body.get("error", body)
    if isinstance(err, str):
        return err, body.get("type") if isinstance(body.get("type"), str) else None, None
    if not isinstance(err, dict):
        return None, None, None
    message = err.get("message")
    etype = err.get("type")
    code = err.get("code")
    return (
        message if isinstance(message, str) else None,
        etype if isinstance(etype, str) else None,
        code if isinstance(code, str) else None,
    )


def _is_quota(etype: str | None, code: str | None, message: str | None) -> bool:
    text = " ".join(x for x in (etype, code, message) if x).lower()
    return any(m in text for m in _QUOTA_MARKERS)


def error_from_status(
    provider: str,
    status: int,
    body_bytes: bytes,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    should_retry: bool | None = None,
    headers: dict[str, str] | None = None,
) -> ProviderError:
    """Map an HTTP error response to the typed error (``x-should-retry`` overrides)."""
    text = body_bytes.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    message, etype, code = _extract_error(body)
    if message is None:
        message = _snippet(text) or f"HTTP {status} with an empty body"
    cls = _class_for_status(status)
    retryable = cls.is_retryable
    if cls is RateLimitError and _is_quota(etype, code, message):
        retryable = False
    if should_retry is not None:
        retryable = should_retry
    return cls(
        message,
        provider=provider,
        status_code=status,
        is_retryable=retryable,
        error_type=etype or code,
        request_id=request_id,
        retry_after=retry_after,
        body=body,
        headers=headers,
    )


def error_from_payload(provider: str, payload: Any) -> ProviderError:
    """Map an error sent *inside* a 200 stream to the same classes as HTTP statuses."""
    message, etype, code = _extract_error(payload)
    status = None
    if isinstance(payload, dict):
        inner = payload.get("error")
        raw_status = inner.get("status_code") if isinstance(inner, dict) else None
        if isinstance(raw_status, int):
            status = raw_status
    cls: type[ProviderError] | None = None
    for key in (code, etype):
        if key and key in _TYPE_CLASSES:
            cls = _TYPE_CLASSES[key]
            break
    if cls is None:
        cls = _class_for_status(status) if status is not None else ServerError
    retryable = cls.is_retryable
    if cls is RateLimitError and _is_quota(etype, code, message):
        retryable = False
    return cls(
        message or "the provider reported an error in the stream",
        provider=provider,
        status_code=status if status is not None else _TYPE_STATUS.get(cls),
        is_retryable=retryable,
        error_type=etype or code,
        body=payload,
        in_stream=True,
    )
