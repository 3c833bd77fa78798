"""``StreamingResponse``: what a stream produced, complete or partial.

The builder is sans-IO: it is fed delta events and assembles text per choice,
reasoning, refusals and tool calls, so the same object serves a finished stream and
the ``partial`` carried by an error.
"""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypedDict, TypeVar, cast

import attrs

from ._events import StreamDeltaEvent
from ._usage import Usage

__all__ = ["ChoiceResult", "ResponseBuilder", "StreamingResponse", "ToolCall", "UsageDict"]

T = TypeVar("T")


class UsageDict(TypedDict):
    """``response.usage``: the streaming guide's dict (see ``Usage`` for the meanings)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    is_estimated: bool
    #: Where the counts come from; ``"none"`` when nobody counted (the request was not
    #: billed, or the provider sent no usage and local counting is off): all zeros.
    source: Literal["provider", "tiktoken", "character", "none"]


@attrs.define(slots=True)
class ToolCall:
    """One tool call the model made: ``name``, ``id`` and its ``arguments`` as JSON text."""

    index: int
    id: str | None = None
    name: str | None = None
    #: The JSON text of the arguments as streamed.
    arguments: str = ""
    choice_index: int = 0
    #: A signature the provider wants back with this call in the next request
    #: (Gemini's ``thoughtSignature``); ``to_message()`` includes it.
    signature: str | None = None

    def parsed_arguments(self) -> Any:
        """The arguments as a Python value (``{}`` for a call streamed with no arguments)."""
        return json.loads(self.arguments) if self.arguments.strip() else {}


@attrs.define(slots=True)
class ChoiceResult:
    """One choice of the answer (OpenAI ``n>1``): its text, reasoning, refusal, finish
    reason and tool calls."""

    index: int
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = attrs.field(factory=list)


@attrs.define(slots=True, kw_only=True)
class StreamingResponse(Generic[T]):
    """The result of ``stream_with_usage()`` and ``generate()``, a finished
    ``client.stream()``'s ``response``, or the ``partial`` of an error.

    Generic in the type of ``parsed``: ``StreamingResponse[Person]`` when
    ``response_model=Person`` was given."""

    text: str = ""
    provider: str = ""
    model: str = ""
    request_id: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    choices: list[ChoiceResult] = attrs.field(factory=list)
    reasoning: str = ""
    refusal: str | None = None
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    #: The normalised usage (see ``Usage``); ``usage`` is its dict form.
    usage_info: Usage | None = None
    cost_usd: float | None = None
    cost_breakdown: Any = None
    #: Why ``cost_usd`` is None (an unknown model, no usage), else None.
    cost_reason: str | None = None
    #: Streaming figures: duration_ms, time_to_first_token_ms, chunk_count and, with an
    #: event processor's ``add_metrics``, tokens per second and inter-chunk gaps.
    metrics: dict[str, Any] = attrs.field(factory=dict)
    correlation_id: str | None = None
    #: The provider's HTTP response headers (rate limits such as ``x-ratelimit-*`` and
    #: ``anthropic-ratelimit-*``, request ids); empty when no answer arrived.
    headers: dict[str, str] = attrs.field(factory=dict)
    #: True when the stream did not finish (cancelled, timed out, failed).
    is_partial: bool = False
    #: For a partial response: the exception that ended the stream.
    error: BaseException | None = None
    json_value: Any = None
    json_error: BaseException | None = None
    #: The value of ``response_model`` structured from the JSON, if one was asked for.
    parsed: T | None = None
    #: What the provider's format says beyond text, tool calls and usage: for the
    #: Responses API ``builtin_items`` (web/file search, code interpreter, MCP, image
    #: generation calls run by OpenAI), ``reasoning_items`` and ``phases``; for Gemini
    #: ``extras`` (code execution, grounding, URL context), ``thought_signatures`` and
    #: ``finish_messages``. Empty for the other formats.
    provider_metadata: dict[str, Any] = attrs.field(factory=dict)

    def get_text(self) -> str:
        """The answer text (choice 0), as streamed."""
        return self.text

    @property
    def usage(self) -> UsageDict:
        """``{'prompt_tokens', 'completion_tokens', 'total_tokens', ...details}``, always
        a dict: with ``source == "none"`` and zeros when there is no count (see
        ``usage_info``, None then, and ``cost_reason`` for why)."""
        if self.usage_info is None:
            return {
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "reasoning_tokens": 0,
                "is_estimated": False,
                "source": "none",
            }
        return cast(UsageDict, self.usage_info.to_dict())

    def to_message(self) -> dict[str, Any]:
        """This answer as an assistant message for the next request of a conversation
        (OpenAI's shape, which every provider's request builder accepts): the text, and
        the tool calls with their ids and any signature the provider needs back."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            calls = []
            for call in self.tool_calls:
                entry: dict[str, Any] = {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                if call.signature is not None:
                    entry["thought_signature"] = call.signature
                calls.append(entry)
            message["tool_calls"] = calls
        return message

    def get_json(self) -> Any:
        """The parsed JSON answer. Raises the parse error if the text was not valid JSON."""
        if self.json_error is not None:
            raise self.json_error
        if self.json_value is None and self.text:
            from ._jsonstream import IncrementalJSONParser

            parser = IncrementalJSONParser()
            parser.feed(self.text)
            self.json_value = parser.close()
        return self.json_value


class ResponseBuilder:
    """Accumulates delta events; ``build()`` snapshots a response at any time."""

    __slots__ = ("_choices", "_folded", "_parts", "_unfolded", "chunk_count")

    def __init__(self) -> None:
        # Choice 0 text pieces are kept in a list and joined once, at build time.
        self._parts: list[str] = []
        self._unfolded = 0
        self._folded = 0
        self._choices: dict[int, _ChoiceState] = {}
        self.chunk_count = 0

    def add(self, event: StreamDeltaEvent) -> None:
        self.chunk_count += 1
        delta = event.delta
        if delta.kind == "text" and delta.choice_index == 0:
            parts = self._parts
            parts.append(delta.value)
            self._unfolded += 1
            if self._unfolded == 64:
                self._unfolded = 0
                # Fold the last 64 pieces into one string: a long stream keeps about one
                # byte per character instead of a str object per delta, still linear.
                parts[-64:] = ["".join(parts[-64:])]
                self._folded += 1
                if self._folded == 64:
                    # And 64 of those into one: large blocks, which the allocator
                    # returns to the system once the text is joined and they are freed.
                    self._folded = 0
                    parts[-64:] = ["".join(parts[-64:])]
            return
        state = self._choices.get(delta.choice_index)
        if state is None:
            state = self._choices[delta.choice_index] = _ChoiceState()
        state.add(delta.kind, delta)

    @property
    def text(self) -> str:
        parts = self._parts
        if len(parts) > 1:
            # Kept joined: asking again costs nothing, and the pieces are freed at once.
            parts[:] = ["".join(parts)]
            self._unfolded = self._folded = 0
        return parts[0] if parts else ""

    def build(self, response: StreamingResponse[Any]) -> StreamingResponse[Any]:
        """Fill the text, choices and tool calls of ``response`` from what was fed."""
        response.text = self.text
        indexes = sorted(set(self._choices) | {0})
        choices: list[ChoiceResult] = []
        for index in indexes:
            state = self._choices.get(index) or _ChoiceState()
            text = response.text if index == 0 else "".join(state.text)
            choices.append(
                ChoiceResult(
                    index=index,
                    text=text,
                    reasoning="".join(state.reasoning),
                    refusal="".join(state.refusal) if state.refusal else None,
                    tool_calls=[state.calls[k].build() for k in sorted(state.calls)],
                )
            )
        response.choices = choices
        first = choices[0]
        response.reasoning = first.reasoning
        response.refusal = first.refusal
        response.tool_calls = first.tool_calls
        return response


class _ChoiceState:
    __slots__ = ("calls", "reasoning", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, _CallState] = {}

    def add(self, kind: str, delta: Any) -> None:
        if kind == "text":
            self.text.append(delta.value)
        elif kind == "reasoning":
            if not delta.is_signature:
                self.reasoning.append(delta.value)
        elif kind == "refusal":
            self.refusal.append(delta.value)
        elif kind == "tool_call":
            index = delta.tool_call_index or 0
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = _CallState(index, delta.choice_index)
            if delta.tool_call_id:
                call.id = delta.tool_call_id
            if delta.tool_name:
                call.name = delta.tool_name
            if delta.value:
                call.pieces.append(delta.value)


class _CallState:
    """A tool call being streamed: its argument pieces are joined once, when a response
    is built (appending to one string would copy it on every piece: quadratic)."""

    __slots__ = ("choice_index", "id", "index", "name", "pieces")

    def __init__(self, index: int, choice_index: int) -> None:
        self.index = index
        self.choice_index = choice_index
        self.id: str | None = None
        self.name: str | None = None
        self.pieces: list[str] = []

    def build(self) -> ToolCall:
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return ToolCall(
            index=self.index,
            id=self.id,
            name=self.name,
            arguments=self.pieces[0] if self.pieces else "",
            choice_index=self.choice_index,
        )
