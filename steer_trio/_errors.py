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
import math
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
    "error_from_json_body",
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

# The statuses with a class of their own; any other 4xx (400, 409, 413, 422...) is a bad
# request and any other 5xx a server error (see _class_for_status).
_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    529: OverloadedError,
}

# Provider error names: OpenAI's error.type / error.code, Anthropic's error.type, and
# Google's error.status (the google.rpc.Code names Gemini sends).
_NAMED_CLASSES: dict[str, type[ProviderError]] = {
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
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": ServerError,
    "INTERNAL": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
    # Google's ErrorInfo reason for a bad key, sent with INVALID_ARGUMENT and HTTP 400.
    "API_KEY_INVALID": AuthenticationError,
}

# The status an in-stream (or HTTP 200) error stands for, when its body names none.
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

#: Entries of Google's ``error.details``: how long to wait (``retryDelay``, e.g. ``"7s"``),
#: and the machine-readable reason (``reason``, e.g. ``API_KEY_INVALID``).
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _class_for_status(status: int) -> type[ProviderError]:
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return BadRequestError if status >= 400 else ProviderError


def _snippet(text: str, limit: int = 300) -> str:
    """A readable one-line excerpt of a body that may be HTML or anything else."""
    import re

    flat = re.sub(r"<[^>]+>", " ", text)
    flat = " ".join(flat.split())
    return flat[:limit] + ("..." if len(flat) > limit else "")


class _Details:
    """What an error body says, whichever provider's shape it has.

    ``{"error": {...}}`` (OpenAI, Groq, OpenRouter, Google), ``{"type": "error",
    "error": {...}}`` (Anthropic), ``{"error": "text"}``, the error object alone, and any
    of these wrapped in a list (Gemini's streaming endpoint).
    """

    __slots__ = (
        "code",
        "grpc_status",
        "message",
        "reason",
        "request_id",
        "retry_delay",
        "status",
        "type",
    )

    def __init__(self, body: Any) -> None:
        self.message: str | None = None
        #: error.type and a string error.code (OpenAI's names, Anthropic's, Groq's).
        self.type: str | None = None
        self.code: str | None = None
        #: The HTTP status the body states: an integer error.code (OpenRouter, Google)
        #: or error.status_code (Groq).
        self.status: int | None = None
        #: Google's status name (``RESOURCE_EXHAUSTED``...) and ErrorInfo reason.
        self.grpc_status: str | None = None
        self.reason: str | None = None
        #: Google's RetryInfo delay, in seconds.
        self.retry_delay: float | None = None
        self.request_id: str | None = None
        body = _unwrap(body)
        if not isinstance(body, dict):
            return
        request_id = body.get("request_id")
        if isinstance(request_id, str) and request_id:
            self.request_id = request_id
        err = body.get("error", body)
        if isinstance(err, str):
            self.message = err
            self.type = _str(body.get("type"))
        elif isinstance(err, dict):
            self.message = _str(err.get("message"))
            self.type = _str(err.get("type"))
            self.code = _str(err.get("code"))
            self.grpc_status = _str(err.get("status"))
            for key in ("status_code", "code", "status"):
                status = err.get(key)
                # Only an error status says anything; 200 in an error body says nothing.
                if type(status) is int and 400 <= status <= 599:
                    self.status = status
                    break
            details = err.get("details")
            if isinstance(details, list):
                self.reason = _str(_google_detail(details, _ERROR_INFO, "reason"))
                self.retry_delay = _seconds(_google_detail(details, _RETRY_INFO, "retryDelay"))

    def named_class(self) -> type[ProviderError] | None:
        """The class the body's names choose (a string code first: it is the finer one)."""
        for name in (self.code, self.type, self.reason, self.grpc_status):
            if name in _NAMED_CLASSES:
                return _NAMED_CLASSES[name]
        return None

    @property
    def error_type(self) -> str | None:
        return self.type or self.code or self.grpc_status

    def retryable(self, cls: type[ProviderError]) -> bool:
        """A quota (or billing) wall is not worth retrying, unless Google's RetryInfo says
        when to retry: Gemini words its per-minute limits as quota, with a delay."""
        if cls is RateLimitError and self.retry_delay is None:
            text = " ".join(x for x in (self.type, self.code, self.message) if x).lower()
            if any(marker in text for marker in _QUOTA_MARKERS):
                return False
        return cls.is_retryable


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unwrap(body: Any) -> Any:
    """Gemini's streaming endpoint sends a JSON list of responses: its error is one."""
    if isinstance(body, list):
        for item in body:
            if _is_error_object(item):
                return item
        return body[0] if body else None
    return body


def _is_error_object(body: Any) -> bool:
    return isinstance(body, dict) and (bool(body.get("error")) or body.get("type") == "error")


def _google_detail(details: list[Any], type_url: str, field: str) -> Any:
    """A field of the first entry of Google's ``error.details`` with this ``@type``."""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == type_url:
            return detail.get(field)
    return None


def _seconds(duration: Any) -> float | None:
    """A protobuf Duration in JSON (``"7s"``, ``"0.5s"``, ``"1.500s"``) in seconds."""
    if not isinstance(duration, str) or not duration.endswith("s"):
        return None
    try:
        seconds = float(duration[:-1])
    except ValueError:
        return None
    return seconds if seconds >= 0 and math.isfinite(seconds) else None


def _build(
    provider: str,
    body: Any,
    details: _Details,
    cls: type[ProviderError],
    status_code: int | None,
    *,
    in_stream: bool,
    message: str,
    request_id: str | None = None,
    retry_after: float | None = None,
    should_retry: bool | None = None,
    headers: dict[str, str] | None = None,
) -> ProviderError:
    return cls(
        message,
        provider=provider,
        status_code=status_code,
        is_retryable=details.retryable(cls) if should_retry is None else should_retry,
        error_type=details.error_type,
        request_id=request_id if request_id is not None else details.request_id,
        retry_after=retry_after if retry_after is not None else details.retry_delay,
        body=body,
        in_stream=in_stream,
        headers=headers,
    )


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
    """Map an HTTP error response to the typed error (``x-should-retry`` overrides).

    A name in the body decides first (``overloaded_error`` behind a proxy's 503, Google's
    ``API_KEY_INVALID`` on a 400), then the HTTP status.
    """
    text = body_bytes.decode(errors="replace")  # UTF-8, with U+FFFD for what is not
    body: Any
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    details = _Details(body)
    cls = details.named_class()
    if cls is None:
        # The status the body states counts only when the HTTP status is no error.
        stated = details.status
        cls = _class_for_status(status if status >= 400 or stated is None else stated)
    return _build(
        provider,
        body,
        details,
        cls,
        status,
        in_stream=False,
        message=details.message or _snippet(text) or f"HTTP {status} with an empty body",
        request_id=request_id,
        retry_after=retry_after,
        should_retry=should_retry,
        headers=headers,
    )


def _from_body(
    provider: str, body: Any, *, in_stream: bool, http_status: int | None
) -> ProviderError:
    details = _Details(body)
    cls = details.named_class()
    if cls is None and details.status is not None:
        cls = _class_for_status(details.status)
    if cls is None and http_status is not None:
        cls = _class_for_status(http_status)
    if cls is None:
        cls = ServerError
    status = details.status or http_status or _TYPE_STATUS.get(cls)
    where = "in the stream" if in_stream else "in its response body"
    return _build(
        provider,
        body,
        details,
        cls,
        status,
        in_stream=in_stream,
        message=details.message or f"the provider reported an error {where}",
    )


def error_from_payload(provider: str, payload: Any) -> ProviderError:
    """Map an error sent *inside* a 200 stream to the same classes as HTTP statuses.

    The body's names choose the class (``rate_limit_error``, ``RESOURCE_EXHAUSTED``...);
    failing that the HTTP status it states (OpenRouter's integer ``error.code``, Groq's
    ``error.status_code``); failing that, a server error.
    """
    return _from_body(provider, payload, in_stream=True, http_status=None)


def error_from_json_body(
    provider: str,
    payload: Any,
    *,
    status: int | None,
    request_id: str | None = None,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> ProviderError | None:
    """The typed error a JSON response body holds, or None when it is not an error.

    For a body that is not an event stream (an HTTP 200 with a JSON error object, where
    a stream was asked for), or a non-streaming response: every shape ``_Details``
    reads. ``status`` is the HTTP status; a 2xx one does not choose the class.
    """
    if not _is_error_object(_unwrap(payload)):
        return None
    error = _from_body(
        provider, payload, in_stream=False, http_status=status if status and status >= 400 else None
    )
    if request_id is not None:
        error.request_id = request_id
    if retry_after is not None:
        error.retry_after = retry_after
    if headers is not None:
        error.headers = dict(headers)
    return error
