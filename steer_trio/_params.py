"""The keyword arguments the public calls take, typed, and their checks.

Every public call (``stream``, ``stream_with_usage``, ``generate``) takes the same
request parameters and callbacks. They are declared once, as ``TypedDict``\\ s, so a
type checker flags a misspelt keyword or a callback given the wrong event type, and
checked at run time before anything is sent: an unknown keyword is a
``ConfigurationError`` with a suggestion, never a field smuggled into the request body.
Provider-specific fields go through ``extra_body`` explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from ._errors import ConfigurationError
from ._events import (
    StreamCompleteEvent,
    StreamDeltaEvent,
    StreamErrorEvent,
    StreamJSONEvent,
    StreamStartEvent,
    StreamToolCallEvent,
    StreamUsageEvent,
)

__all__ = [
    "CALLBACK_KEYS",
    "Callbacks",
    "Message",
    "Prompt",
    "RequestParams",
    "StreamParams",
    "check_keywords",
    "messages_from",
    "split_params",
    "tools_from",
    "validate_fields",
]

#: One chat message: ``{"role": "user", "content": "..."}`` (content may be a list of
#: parts, as the OpenAI format allows).
Message = Mapping[str, object]
#: A prompt: the user's text, or the whole conversation.
Prompt = str | Sequence[Message]


class RequestParams(TypedDict, total=False):
    """Request parameters every provider understands (mapped to each one's wire names)."""

    #: The longest answer, in tokens (``max_completion_tokens`` / ``max_output_tokens``
    #: / ``maxOutputTokens`` on the wire, as each provider names it).
    max_tokens: int
    temperature: float
    top_p: float
    stop: str | Sequence[str]
    #: How many answers (OpenAI-compatible servers only).
    n: int
    #: ``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``:
    #: also switches on incremental JSON parsing.
    response_format: Mapping[str, object]
    #: For providers that speak OpenAI's formats: ``"chat"`` (Chat Completions) or
    #: ``"responses"`` (the Responses API). See ``StreamingOptions.api``.
    api: Literal["chat", "responses"]
    #: Fields merged into the request body as they are, for anything provider-specific.
    extra_body: Mapping[str, object]
    #: Extra HTTP headers (e.g. a beta flag).
    extra_headers: Mapping[str, str]


class Callbacks(TypedDict, total=False):
    """Callbacks, each a plain or an async function of the one event type it receives."""

    on_start: Callable[[StreamStartEvent], object]
    on_delta: Callable[[StreamDeltaEvent], object]
    on_usage: Callable[[StreamUsageEvent], object]
    on_complete: Callable[[StreamCompleteEvent], object]
    on_error: Callable[[StreamErrorEvent], object]
    on_json: Callable[[StreamJSONEvent], object]
    on_tool_call: Callable[[StreamToolCallEvent], object]


class StreamParams(RequestParams, Callbacks, total=False):
    """Everything ``stream()`` and ``stream_with_usage()`` take as keywords."""


CALLBACK_KEYS: tuple[str, ...] = tuple(Callbacks.__annotations__)
_REQUEST_KEYS: tuple[str, ...] = tuple(RequestParams.__annotations__)
#: Keywords of the public signatures themselves (for suggestions).
_SIGNATURE_KEYS = (
    "provider",
    "streaming_options",
    "system",
    "tools",
    "tool_choice",
    "response_model",
)

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
#: Inclusive ranges the providers accept (Anthropic's temperature stops at 1; the
#: provider says so itself, with a BadRequestError).
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def check_keywords(given: Mapping[str, object], *, callbacks: bool, call: str) -> None:
    """An unknown keyword is a mistake: say which, and what was probably meant."""
    allowed = set(_REQUEST_KEYS) | (set(CALLBACK_KEYS) if callbacks else set())
    for key in given:
        if key in allowed:
            continue
        if not callbacks and key in CALLBACK_KEYS:
            raise ConfigurationError(
                f"{call}() takes no {key}: nothing arrives in pieces; use stream_with_usage() "
                "for callbacks"
            )
        import difflib  # a mistake's suggestion only: kept off import

        known = sorted(allowed | set(_SIGNATURE_KEYS) | set(CALLBACK_KEYS))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close and close[0] not in allowed and close[0] in CALLBACK_KEYS:
            raise ConfigurationError(
                f"{call}() got an unknown keyword argument {key!r}; did you mean "
                f"{close[0]!r}? {call}() takes no callbacks: use stream_with_usage()"
            )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(
            f"{call}() got an unknown keyword argument {key!r}{hint} Provider-specific "
            f"fields go in extra_body={{{key!r}: ...}}."
        )


def split_params(given: Mapping[str, object]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request parameters, callbacks) from checked keywords."""
    request = {k: v for k, v in given.items() if k in _REQUEST_KEYS}
    callbacks = {k: v for k, v in given.items() if k in CALLBACK_KEYS}
    return request, callbacks


def messages_from(prompt: object, system: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigurationError("the prompt is empty: pass the text to send")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence) and not isinstance(prompt, bytes | bytearray):
        if not prompt:
            raise ConfigurationError("messages is empty: pass at least one message")
        messages = []
        for position, message in enumerate(prompt):
            if not isinstance(message, Mapping) or "role" not in message:
                raise ConfigurationError(
                    f"message {position} must be a dict with 'role' and 'content', got {message!r}"
                )
            if message["role"] not in _ROLES:
                raise ConfigurationError(
                    f"message {position} has role {message['role']!r}; use one of "
                    f"{', '.join(sorted(_ROLES))}"
                )
            messages.append(dict(message))
    else:
        raise ConfigurationError(
            "prompt must be a string or a list of {'role': ..., 'content': ...} messages, "
            f"got {type(prompt).__name__}"
        )
    if system is not None:
        if not isinstance(system, str):
            raise ConfigurationError(f"system must be a string, got {type(system).__name__}")
        messages.insert(0, {"role": "system", "content": system})
    return messages


def tools_from(tools: object) -> list[dict[str, Any]] | None:
    """Copies of the tool definitions, each checked for a name."""
    if not tools:
        return None
    if isinstance(tools, Mapping) or not isinstance(tools, Sequence):
        raise ConfigurationError(
            "tools must be a list of tool definitions, e.g. [{'name': 'get_weather', "
            "'description': '...', 'parameters': {...JSON schema...}}]"
        )
    out = []
    for position, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigurationError(f"tool {position} must be a dict, got {tool!r}")
        inner = tool.get("function") or tool.get("custom")  # OpenAI's wrapped shapes
        name = inner.get("name") if isinstance(inner, Mapping) else tool.get("name")
        if _is_builtin_tool(tool):
            out.append(dict(tool))
            continue
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"tool {position} has no name: give {{'name': ..., 'description': ..., "
                f"'parameters': {{...}}}} (or OpenAI's {{'type': 'function', "
                f"'function': {{'name': ...}}}}); got {dict(tool)!r}"
            )
        out.append(dict(tool))
    return out


#: A tool the provider runs itself, named by its type or its one key: OpenAI's
#: ``{"type": "web_search"}``, Anthropic's ``{"type": "web_search_20250305", "name":
#: "web_search"}`` (named anyway), Gemini's ``{"googleSearch": {}}``.
_BUILTIN_TOOL_KEYS = frozenset(
    {
        "googleSearch",
        "google_search",
        "codeExecution",
        "code_execution",
        "urlContext",
        "url_context",
        "googleSearchRetrieval",
        "fileSearch",
        "file_search",
    }
)


def _is_builtin_tool(tool: Mapping[str, Any]) -> bool:
    kind = tool.get("type")
    if isinstance(kind, str) and kind not in ("function", "custom"):
        return True
    return len(tool) == 1 and next(iter(tool)) in _BUILTIN_TOOL_KEYS


def validate_fields(fields: dict[str, Any]) -> None:
    """Check (and normalise in place) the request parameters."""
    max_tokens = fields.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0
    ):
        raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    for name in ("temperature", "top_p"):
        value = fields.get(name)
        if value is not None and (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
        if value is not None and not _RANGES[name][0] <= value <= _RANGES[name][1]:
            low, high = _RANGES[name]
            raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    n = fields.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConfigurationError(f"n must be an integer >= 1, got {n!r}")
    stop = fields.get("stop")
    if isinstance(stop, str):
        fields["stop"] = [stop]
    elif stop is not None:
        if not (isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop)):
            raise ConfigurationError(f"stop must be a string or a list of strings, got {stop!r}")
        fields["stop"] = list(stop)
    response_format = fields.get("response_format")
    if response_format is not None:
        if not (
            isinstance(response_format, Mapping) and isinstance(response_format.get("type"), str)
        ):
            raise ConfigurationError(
                "response_format must be a dict like {'type': 'json_object'} or "
                "{'type': 'json_schema', 'json_schema': {...}}"
            )
        fields["response_format"] = dict(response_format)
    for name in ("extra_body", "extra_headers"):
        value = fields.get(name)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigurationError(f"{name} must be a dict, got {type(value).__name__}")
    headers = fields.get("extra_headers") or {}
    for key, header in headers.items():
        if not isinstance(key, str) or not isinstance(header, str):
            raise ConfigurationError("extra_headers must map header names to string values")


def wants_json(fields: Mapping[str, Any]) -> bool:
    """Whether the request asks for a JSON answer (``json_object`` / ``json_schema``)."""
    response_format = fields.get("response_format")
    return isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
