"""``StreamingOptions``: every field does what its comment says, or it would not be here.

Options are frozen: the client never mutates a preset such as ``JSON_MODE_OPTIONS``;
per-request state (correlation ids, metrics) lives with the request, not here.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["DEBUG_OPTIONS", "FAST_OPTIONS", "JSON_MODE_OPTIONS", "StreamingOptions"]

AggregatorType = Literal["auto", "tiktoken", "character"]


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (not isinstance(value, int | float) or value <= 0):
        raise ValueError(
            f"StreamingOptions.{attribute.name} must be a positive number of seconds or None "
            f"(no limit), got {value!r}"
        )


def _non_negative_int(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"StreamingOptions.{attribute.name} must be an integer >= 0, got {value!r}"
        )


def _aggregator(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("auto", "tiktoken", "character"):
        raise ValueError(
            f"StreamingOptions.aggregator_type must be 'auto', 'tiktoken' or 'character', "
            f"got {value!r}"
        )


def _api(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value not in (None, "chat", "responses"):
        raise ValueError(f"StreamingOptions.api must be 'chat', 'responses' or None, got {value!r}")


@attrs.define(frozen=True, slots=True, kw_only=True)
class StreamingOptions:
    """How a request streams: local usage counting, JSON handling, an event processor,
    time limits and retries. Frozen: ``replace(...)`` makes a changed copy; bad values
    raise ``ValueError``."""

    #: Count tokens locally when the provider does not report usage (a server without
    #: usage, a stream cut before its usage chunk, a cancelled stream). Provider usage
    #: always wins. False: such a stream has ``usage`` None.
    enable_usage_aggregation: bool = True
    #: How to count locally: "tiktoken" (exact for OpenAI models; falls back to the
    #: character estimate with a warning where no encoding can be loaded), "character"
    #: (about 4 characters a token), or "auto" (tiktoken when the model has a known
    #: encoding and ``prefer_tiktoken`` is true, else characters).
    aggregator_type: AggregatorType = attrs.field(default="auto", validator=_aggregator)
    #: With ``aggregator_type="auto"``: try tiktoken for models it knows.
    prefer_tiktoken: bool = True
    #: Parse the streamed text as JSON while it arrives: ``response.get_json()``, the
    #: ``on_json`` callback and partial values. Implied by ``response_model=``.
    enable_json_stream_handler: bool = False
    #: An ``EventProcessor`` (see ``create_event_processor``) applied to every event
    #: before callbacks, iterators and the final response see it.
    event_processor: Any = None
    #: Seconds to establish the TCP/TLS connection (``ConnectTimeout``).
    connection_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    #: Seconds from sending the request to the first content delta (``FirstTokenTimeout``).
    first_token_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)
    #: Longest gap between content events (``IdleTimeout``). Keep-alives do not count.
    read_timeout: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    #: Total seconds for the whole request, retries included (``DeadlineExceeded``).
    deadline: float | None = attrs.field(default=None, validator=_positive_or_none)
    #: Retry connection failures (refused, reset, connect timeout) before content.
    retry_on_connection_error: bool = True
    #: Retries for transient failures before any content reached the caller.
    max_retries: int = attrs.field(default=2, validator=_non_negative_int)
    #: Largest single SSE event accepted (``SSEEventTooLargeError`` beyond it).
    max_event_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_non_negative_int)
    #: Batches buffered between the network task and the processing task. Small on
    #: purpose: a slow callback slows reading instead of growing memory.
    buffer_size: int = attrs.field(default=16, validator=_non_negative_int)
    #: Largest non-streaming response body (``generate()``), counted after decoding:
    #: beyond it ``ResponseTooLargeError`` (a compression bomb stops here too).
    max_response_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=_non_negative_int)
    #: Which OpenAI API to use for providers that speak OpenAI's formats: "chat"
    #: (Chat Completions), "responses" (the Responses API), or None: Chat Completions,
    #: except for models that exist only on the Responses API (which go there whatever
    #: this says). Other providers ignore it. A call's own ``api=`` wins.
    api: Literal["chat", "responses"] | None = attrs.field(default=None, validator=_api)

    def replace(self, **changes: Any) -> StreamingOptions:
        """A copy with some fields changed (options are frozen)."""
        return attrs.evolve(self, **changes)


#: JSON mode: parse the answer as JSON while it streams.
JSON_MODE_OPTIONS = StreamingOptions(enable_json_stream_handler=True)

#: Lowest overhead: no local token counting, fail fast, no retries.
FAST_OPTIONS = StreamingOptions(
    enable_usage_aggregation=False,
    connection_timeout=3.0,
    read_timeout=20.0,
    retry_on_connection_error=False,
    max_retries=0,
)

#: Everything visible: exact local counting where possible and generous timeouts.
DEBUG_OPTIONS = StreamingOptions(aggregator_type="auto", prefer_tiktoken=True, read_timeout=300.0)
