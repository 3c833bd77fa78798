"""What every wire format provides: a request builder and a sans-IO event parser.

A parser is fed decoded SSE events and appends attrs events to a list the caller
owns (one list per network read, so a batch moves through the channel as one item).
It keeps the state the end of the stream needs (finish reasons, provider usage, the
end marker) as plain attributes. Parsers import neither trio nor httpx2.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from .._events import StreamDelta, StreamDeltaEvent, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage

__all__ = ["ParserBase", "ProviderRequest", "RequestSpec", "WireParser"]


@attrs.define(slots=True, kw_only=True)
class RequestSpec:
    """A provider-neutral request, validated by the client before anything is sent."""

    provider: str
    model: str
    messages: list[dict[str, Any]]
    stream: bool = True
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    n: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    #: Anything else the caller passed, sent to the provider as-is.
    extra: dict[str, Any] = attrs.field(factory=dict)


class ProviderRequest:
    """An HTTP request ready for the transport: path relative to the base URL.

    A plain class, not attrs: built per request, never compared, and cheaper to
    define at import. No repr of its own: its headers carry the API key."""

    __slots__ = ("headers", "json", "method", "path")

    def __init__(
        self, *, path: str, headers: dict[str, str], json: dict[str, Any], method: str = "POST"
    ) -> None:
        self.path = path
        self.headers = headers
        self.json = json
        #: "GET" for reads such as resuming a background response (send no body then).
        self.method = method


class WireParser(Protocol):
    provider: str
    model: str
    response_id: str | None
    #: The end marker (``[DONE]``, ``message_stop``) was seen.
    done: bool
    #: Unified finish reason per choice index; and the provider's raw value.
    finish_reasons: dict[int, str | None]
    raw_finish_reasons: dict[int, str | None]
    #: The provider's usage, normalised (see ``_usage``); None until it reports.
    usage: Usage | None

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        """Parse one SSE event, appending the resulting events to ``out``.

        Raises a typed ``ProviderError`` for an in-stream error payload and
        ``StreamProtocolError`` for a payload that cannot be read.
        """
        ...

    def at_eof(self) -> None:
        """The body ended. A format with no end marker (Gemini) sets ``done`` here when
        what it saw makes a complete answer; the others leave it as it is."""
        ...


class ParserBase:
    """The state every wire parser keeps for the end of the stream, and delta emission."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.response_id: str | None = None
        self.done = False
        self.finish_reasons: dict[int, str | None] = {}
        self.raw_finish_reasons: dict[int, str | None] = {}
        self.usage: Usage | None = None
        #: The provider's own usage payload, as it last stood.
        self.raw_usage: dict[str, Any] | None = None
        self._chunk_index = 0

    def at_eof(self) -> None:
        """Formats with an end marker: the body's end adds nothing."""

    def metadata(self) -> dict[str, Any]:
        """What the format says beyond text, tool calls and usage (built-in tool items,
        grounding, phases...), for ``StreamingResponse.provider_metadata``."""
        return {}

    def tool_call_signature(self, choice_index: int, tool_call_index: int) -> str | None:
        """A signature the provider requires back with this tool call (Gemini's
        ``thoughtSignature``), else None."""
        return None

    def _emit(self, out: list[StreamEvent], delta: StreamDelta) -> None:
        out.append(
            StreamDeltaEvent(
                provider=self.provider,
                model=self.model,
                delta=delta,
                chunk_index=self._chunk_index,
            )
        )
        self._chunk_index += 1
