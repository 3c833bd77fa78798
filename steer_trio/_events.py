"""The attrs event classes that flow from a provider parser to processors and callbacks.

Events are mutable on purpose: an :class:`EventTransformer` may rewrite
``event.delta.value`` in place (the streaming guide's ``ContentFilterTransformer``
does), and what it writes is what callbacks, iterators and the final response see.

Sans-IO: this module imports neither trio nor httpx2.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from ._usage import Usage

__all__ = [
    "DELTA_KINDS",
    "StreamCompleteEvent",
    "StreamDelta",
    "StreamDeltaEvent",
    "StreamErrorEvent",
    "StreamEvent",
    "StreamJSONEvent",
    "StreamStartEvent",
    "StreamToolCallEvent",
    "StreamUsageEvent",
]

#: The kinds of delta a provider can stream.
#: ``text`` is the answer; ``reasoning`` is thinking / reasoning_content (and Anthropic
#: signatures, with ``is_signature`` set); ``refusal`` is OpenAI's refusal channel;
#: ``tool_call`` carries a fragment of a tool call's JSON arguments.
DELTA_KINDS: Final = frozenset({"text", "reasoning", "refusal", "tool_call"})


@attrs.define(slots=True)
class StreamDelta:
    """One piece of streamed output.

    ``value`` is assignable (transformers rewrite it). ``get_text()`` returns the
    part that belongs to the answer text: the value of a ``text`` delta, and ``""``
    for reasoning, refusal and tool-call deltas, so that joining ``get_text()``
    over all deltas gives exactly ``response.get_text()``.
    """

    value: str
    kind: str = "text"
    #: Which choice this belongs to (OpenAI ``n>1``); 0 otherwise.
    choice_index: int = 0
    #: For ``tool_call`` deltas: the call's position, id and function name.
    #: ``tool_call_id``/``tool_name`` are set on the first fragment of a call.
    tool_call_index: int | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    #: Anthropic thinking signatures travel as reasoning deltas with this set.
    is_signature: bool = False

    def get_text(self) -> str:
        """The part of the answer text: the value of a text delta, else ``""``."""
        return self.value if self.kind == "text" else ""


@attrs.define(slots=True, kw_only=True)
class StreamEvent:
    """Fields shared by every event."""

    provider: str = ""
    model: str = ""
    request_id: str | None = None
    #: Set by an event processor with ``add_correlation=True`` (one id per request).
    correlation_id: str | None = None
    #: Set by an event processor with ``add_timestamp=True`` (``time.time()``).
    timestamp: float | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)

    #: Short name used by event filters (``event_types=["delta", "usage"]``).
    event_type: str = attrs.field(default="event", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamStartEvent(StreamEvent):
    """The request was answered and the stream began (``request_id`` is known)."""

    event_type: str = attrs.field(default="start", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamDeltaEvent(StreamEvent):
    """One delta of output: ``delta`` (a ``StreamDelta``) and its position ``chunk_index``."""

    delta: StreamDelta
    chunk_index: int = 0
    event_type: str = attrs.field(default="delta", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamUsageEvent(StreamEvent):
    """The usage of the request at its end; ``is_estimated`` when counted locally."""

    usage: Usage
    is_estimated: bool = False
    event_type: str = attrs.field(default="usage", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamCompleteEvent(StreamEvent):
    """The stream ended. ``metadata`` holds ``duration_ms``, ``time_to_first_token_ms``,
    ``chunk_count`` and, when an event processor adds metrics, its figures."""

    finish_reason: str | None = None
    #: The provider's own value (e.g. Anthropic's ``end_turn``) before mapping.
    raw_finish_reason: str | None = None
    #: The final response (text, usage, cost) as it stands at completion.
    response: Any = None
    event_type: str = attrs.field(default="complete", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamErrorEvent(StreamEvent):
    """The stream failed, or was cancelled (``error_type == "cancelled"``); ``partial``
    is the response so far."""

    error: BaseException
    error_type: str = ""
    #: The partial response (text so far, usage, cost) at the time of the error.
    partial: Any = None
    event_type: str = attrs.field(default="error", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamJSONEvent(StreamEvent):
    """JSON mode: the answer parsed so far. ``partial`` is the live partial value (copy it
    to keep it); ``completed`` lists the values that became final with this delta, each
    with its JSON path."""

    partial: Any = None
    completed: list[Any] = attrs.field(factory=list)
    event_type: str = attrs.field(default="json", init=False)


@attrs.define(slots=True, kw_only=True)
class StreamToolCallEvent(StreamEvent):
    """One tool call, the same for every provider.

    ``phase`` is ``"start"`` (``tool_call_id`` and ``name`` known), ``"arguments"`` (a
    piece of the JSON arguments in ``arguments_delta``; ``partial_arguments`` is the
    value parsed so far) or ``"done"`` (``arguments`` is the final parsed value, or
    ``error`` says why it could not be parsed, e.g. output cut at max tokens).
    """

    phase: str
    tool_call_index: int = 0
    tool_call_id: str | None = None
    name: str | None = None
    choice_index: int = 0
    arguments_delta: str = ""
    partial_arguments: Any = None
    arguments: Any = None
    error: BaseException | None = None
    event_type: str = attrs.field(default="tool_call", init=False)
