"""One table from a wire format's name to what it provides.

The client looks a format up here by the name a provider's config gives (``"openai"``
for Chat Completions and its compatibles, ``"openai_responses"`` for OpenAI's Responses
API, ``"anthropic"`` for Messages, ``"gemini"`` for Google's generateContent); a new
format is a module beside this one and one entry below. Sans-IO, like the formats.

Chat Completions, which most providers and local servers speak, loads with the
package; each other format's module with its first lookup, so a program loads the
parsers of the providers it talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._events import StreamEvent
from ._base import ProviderRequest, RequestSpec, WireParser
from ._openai import OpenAIChatParser, build_openai_request

__all__ = ["WIRES", "WireFormat"]


class WireFormat:
    """What the client needs from one wire format (a plain class, not attrs: one per
    format, never compared, and cheaper to define at import)."""

    __slots__ = ("build_request", "feed_body", "make_parser", "resume_request")

    def __init__(
        self,
        build_request: Callable[[RequestSpec, str | None], ProviderRequest],
        make_parser: Callable[[str, str, RequestSpec], WireParser],
        feed_body: Callable[[Any, dict[str, Any], list[StreamEvent]], None],
        resume_request: Callable[[RequestSpec, Any, str | None], ProviderRequest | None]
        | None = None,
    ) -> None:
        #: The HTTP request for a validated spec and the key (None for keyless servers).
        self.build_request = build_request
        #: A fresh sans-IO parser for one attempt: (provider name, model, spec).
        self.make_parser = make_parser
        #: Feed a non-streaming body (``generate()``) to a parser as the deltas it
        #: would have streamed: (parser, payload, out).
        self.feed_body = feed_body
        #: For a format whose answers live on after a dropped connection (a background
        #: Responses API response): the request that reads the rest of the stream,
        #: given the spec, the parser that saw the first part and the key; None if it
        #: cannot.
        self.resume_request = resume_request


def _openai_parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
    return OpenAIChatParser(provider, model)


def _openai_body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
    parser.feed_completion(payload, out)


def _response_body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
    parser.feed_response(payload, out)


def _responses() -> WireFormat:
    from ._responses import (
        OpenAIResponsesParser,
        build_responses_request,
        build_responses_resume_request,
    )

    def parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
        return OpenAIResponsesParser(provider, model)

    def resume(spec: RequestSpec, parser: Any, api_key: str | None) -> ProviderRequest | None:
        """Only a background response can be read again, and only once it has an id and
        a sequence number to continue after."""
        if not spec.extra.get("background") or not parser.response_id:
            return None
        after = parser.last_sequence_number
        if after is None:
            return None
        return build_responses_resume_request(parser.response_id, after, api_key)

    return WireFormat(build_responses_request, parser, _response_body, resume)


def _anthropic() -> WireFormat:
    from ._anthropic import AnthropicParser, build_anthropic_request, json_tool_name_for

    def parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
        return AnthropicParser(provider, model, json_tool_name=json_tool_name_for(spec))

    def body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        parser.feed_message(payload, out)

    return WireFormat(build_anthropic_request, parser, body)


def _gemini() -> WireFormat:
    from ._gemini import GeminiParser, build_gemini_request, client_function_names

    def parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
        return GeminiParser(provider, model, client_tools=client_function_names(spec))

    return WireFormat(build_gemini_request, parser, _response_body)


_LOADERS: dict[str, Callable[[], WireFormat]] = {
    "openai_responses": _responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


class _Wires(dict[str, WireFormat]):
    """A dict whose missing formats load on first lookup (then plain dict lookups)."""

    def __missing__(self, name: str) -> WireFormat:
        load = _LOADERS.get(name)
        if load is None:
            raise KeyError(name)
        wire = self[name] = load()
        return wire


WIRES: Mapping[str, WireFormat] = _Wires(
    openai=WireFormat(build_openai_request, _openai_parser, _openai_body)
)
