"""One table from a wire format's name to what it provides.

The client looks a format up here by the name a provider's config gives (``"openai"``
for Chat Completions and its compatibles, ``"openai_responses"`` for OpenAI's Responses
API, ``"anthropic"`` for Messages, ``"gemini"`` for Google's generateContent); a new
format is a module beside this one and one entry below. Sans-IO, like the formats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._events import StreamEvent
from ._anthropic import AnthropicParser, build_anthropic_request, json_tool_name_for
from ._base import ProviderRequest, RequestSpec, WireParser
from ._gemini import GeminiParser, build_gemini_request, client_function_names
from ._openai import OpenAIChatParser, build_openai_request
from ._responses import (
    OpenAIResponsesParser,
    build_responses_request,
    build_responses_resume_request,
)

__all__ = ["WIRES", "WireFormat"]


@attrs.define(frozen=True, slots=True)
class WireFormat:
    """What the client needs from one wire format."""

    #: The HTTP request for a validated spec and the key (None for keyless servers).
    build_request: Callable[[RequestSpec, str | None], ProviderRequest]
    #: A fresh sans-IO parser for one attempt: (provider name, model, spec).
    make_parser: Callable[[str, str, RequestSpec], WireParser]
    #: Feed a non-streaming body (``generate()``) to a parser as the deltas it would
    #: have streamed: (parser, payload, out).
    feed_body: Callable[[Any, dict[str, Any], list[StreamEvent]], None]
    #: For a format whose answers live on after a dropped connection (a background
    #: Responses API response): the request that reads the rest of the stream, given
    #: the spec, the parser that saw the first part and the key; None if it cannot.
    resume_request: Callable[[RequestSpec, Any, str | None], ProviderRequest | None] | None = None


def _openai_parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
    return OpenAIChatParser(provider, model)


def _anthropic_parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
    return AnthropicParser(provider, model, json_tool_name=json_tool_name_for(spec))


def _responses_parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
    return OpenAIResponsesParser(provider, model)


def _gemini_parser(provider: str, model: str, spec: RequestSpec) -> WireParser:
    return GeminiParser(provider, model, client_tools=client_function_names(spec))


def _openai_body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
    parser.feed_completion(payload, out)


def _anthropic_body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
    parser.feed_message(payload, out)


def _response_body(parser: Any, payload: dict[str, Any], out: list[StreamEvent]) -> None:
    parser.feed_response(payload, out)


def _responses_resume(
    spec: RequestSpec, parser: Any, api_key: str | None
) -> ProviderRequest | None:
    """Only a background response can be read again, and only once it has an id and
    a sequence number to continue after."""
    if not spec.extra.get("background") or not parser.response_id:
        return None
    after = parser.last_sequence_number
    if after is None:
        return None
    return build_responses_resume_request(parser.response_id, after, api_key)


WIRES: Mapping[str, WireFormat] = {
    "openai": WireFormat(build_openai_request, _openai_parser, _openai_body),
    "openai_responses": WireFormat(
        build_responses_request, _responses_parser, _response_body, _responses_resume
    ),
    "anthropic": WireFormat(build_anthropic_request, _anthropic_parser, _anthropic_body),
    "gemini": WireFormat(build_gemini_request, _gemini_parser, _response_body),
}
