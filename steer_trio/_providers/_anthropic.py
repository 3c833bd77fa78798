"""Anthropic Messages wire format.

Request side: ``x-api-key`` and ``anthropic-version`` headers, path ``/v1/messages``
(the Anthropic base URL has no ``/v1``), system messages moved to the top-level
``system`` field, ``max_tokens`` defaulted (Anthropic requires it), OpenAI-style tool
calls and tool results translated to ``tool_use``/``tool_result`` blocks, and JSON mode
done the documented way: a forced tool whose input schema is the requested schema, and
whose input JSON the parser streams as the answer text.

Parser side (sans-IO) handles what the recordings show: JSON padded with spaces before
its closing brace, ``ping`` anywhere, a ``"\\n\\n"`` text block before a thinking block,
an empty ``thinking_delta`` before the ``signature_delta``, ``redacted_thinking`` and
server-tool blocks that arrive whole with no deltas, an empty first ``input_json_delta``
(and nothing else for a tool without arguments), a tool block cut by ``max_tokens`` with
no ``content_block_stop``, ``message_delta`` usage that is cumulative (assigned, never
added; 2024 streams carry only ``output_tokens`` there, and with compaction
``cache_read_input_tokens`` may drop to 0), and ``event: error`` raised as the typed
error that matches its ``error.type``.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import (
    ConfigurationError,
    ProviderError,
    error_from_payload,
)
from .._events import StreamDelta, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import decode_object

__all__ = [
    "AnthropicParser",
    "build_anthropic_request",
    "json_tool_name_for",
    "normalise_anthropic_usage",
]

ANTHROPIC_VERSION = "2023-06-01"
#: Anthropic rejects a request without ``max_tokens`` (there is no server default), while
#: the neutral API lets callers leave it out. 4096 is within every current model's output
#: limit (Claude 3 Haiku/Opus allow exactly 4096) and fits a typical answer; pass
#: ``max_tokens`` for longer output.
DEFAULT_MAX_TOKENS = 4096
#: The forced tool that carries a JSON-mode answer when the schema has no name.
JSON_TOOL_NAME = "json_output"


# Anthropic stop_reason -> the unified (OpenAI) vocabulary; unknown values are kept.
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "length",
}

# A content block index that holds the JSON-mode tool (not a caller-visible tool call).
_JSON_BLOCK = -1


# -- request -----------------------------------------------------------------------------


def json_tool_name_for(spec: RequestSpec) -> str | None:
    """The forced tool that carries a JSON-mode answer, or None without JSON mode.

    ``{"type": "json_object"}`` uses ``json_output``; ``{"type": "json_schema", ...}``
    uses the schema's ``name`` when it has one.
    """
    fmt = spec.response_format
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        name = (fmt.get("json_schema") or {}).get("name")
        return name if isinstance(name, str) and name else JSON_TOOL_NAME
    if kind == "json_object":
        return JSON_TOOL_NAME
    if kind in (None, "text"):
        return None
    raise ConfigurationError(
        f"response_format type {kind!r} is not supported for Anthropic: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


def build_anthropic_request(spec: RequestSpec, api_key: str | None) -> ProviderRequest:
    if spec.n not in (None, 1):
        raise ConfigurationError(
            f"Anthropic has no n>1 (got n={spec.n}): make several requests instead"
        )
    system, messages = _translate_messages(spec.messages)
    body: dict[str, Any] = {
        "model": spec.model,
        "messages": messages,
        "max_tokens": spec.max_tokens if spec.max_tokens is not None else DEFAULT_MAX_TOKENS,
    }
    if system is not None:
        body["system"] = system
    if spec.stream:
        body["stream"] = True
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    if spec.top_p is not None:
        body["top_p"] = spec.top_p
    if spec.stop:
        body["stop_sequences"] = [spec.stop] if isinstance(spec.stop, str) else list(spec.stop)
    tools = [_tool_to_anthropic(t) for t in spec.tools or []]
    choice = _tool_choice(spec.tool_choice)
    json_tool = json_tool_name_for(spec)
    if json_tool is not None and _thinking_enabled(spec.extra.get("thinking")):
        # Anthropic rejects a forced tool_choice while extended thinking is on, and JSON
        # mode is a forced tool: fail here, before a request is spent on a 400.
        raise ConfigurationError(
            "JSON mode on Anthropic forces a tool, which Anthropic does not allow with "
            "extended thinking: drop thinking=..., or drop response_format and ask for "
            "JSON in the prompt (the incremental parser still reads it from the text)"
        )
    if json_tool is not None:
        fmt = spec.response_format or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        tools.append(
            {
                "name": json_tool,
                "description": "Give the answer as this tool's input, as JSON.",
                "input_schema": schema,
            }
        )
        choice = {"type": "tool", "name": json_tool}
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    elif choice is not None and choice["type"] not in ("auto", "none"):
        # Forcing a tool without tools: let Anthropic say what is wrong. "auto" and
        # "none" without tools mean nothing, and Anthropic rejects tool_choice alone.
        body["tool_choice"] = choice
    body.update(spec.extra)
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if spec.stream else "application/json",
        "anthropic-version": ANTHROPIC_VERSION,
    }
    if api_key:
        headers["x-api-key"] = api_key
    return ProviderRequest(path="/v1/messages", headers=headers, json=body)


def _text_of(content: Any) -> str:
    """A string, or the text parts of a list of content parts, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or "" if isinstance(part, dict) else str(part) for part in content
        )
    return ""


def _system_field(parts: list[Any]) -> str | list[dict[str, Any]]:
    """The top-level ``system``: a string, or text blocks when one carries ``cache_control``.

    Prompt caching marks a system block with ``cache_control``; flattening to a string
    would lose the mark, so then every system part becomes its own text block.
    """
    cached = any(
        isinstance(c, list) and any(isinstance(p, dict) and "cache_control" in p for p in c)
        for c in parts
    )
    if not cached:
        return "\n\n".join(_text_of(c) for c in parts)
    blocks: list[dict[str, Any]] = []
    for content in parts:
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type", "text") == "text":
                    blocks.append({**part, "type": "text"})
        elif content:
            blocks.append({"type": "text", "text": _text_of(content)})
    return blocks


def _translate_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    system: list[Any] = []
    out: list[dict[str, Any]] = []
    # The user message we built from tool results, while the next ones may join it:
    # Anthropic wants every result for an assistant turn's calls in one user message.
    results: list[dict[str, Any]] | None = None
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(message.get("content"))
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id") or "",
                "content": _text_of(message.get("content")),
            }
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(block)
            continue
        results = None
        if role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message["tool_calls"]:
                blocks.append(_tool_use_block(call))
            out.append({"role": "assistant", "content": blocks})
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = [_content_part(part) for part in content]
        out.append({"role": role, "content": "" if content is None else content})
    return (_system_field(system) if system else None), out


def _thinking_enabled(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")


def _content_part(part: Any) -> Any:
    """One OpenAI-style content part as an Anthropic content block.

    Text parts and blocks already in Anthropic's shape pass through; ``image_url``
    parts become ``image`` blocks (a ``data:`` URL as base64, any other URL by
    reference); other OpenAI-only parts have no Anthropic form and are refused.
    """
    if not isinstance(part, dict):
        return part
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise ConfigurationError("an image_url content part needs image_url.url")
        return {"type": "image", "source": _image_source(url)}
    if kind in ("input_audio", "file"):
        raise ConfigurationError(
            f"a {kind!r} content part has no Anthropic equivalent in the Messages API; "
            "send it to an OpenAI model, or pass Anthropic's own content blocks"
        )
    return part


def _image_source(url: str) -> dict[str, str]:
    if not url.startswith("data:"):
        return {"type": "url", "url": url}
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type.startswith("image/"):
        raise ConfigurationError(
            f"an image data URL must look like data:image/png;base64,<data> (got {url[:40]!r}...)"
        )
    return {"type": "base64", "media_type": media_type, "data": data}


def _tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise ConfigurationError(
                f"tool call {call.get('id')!r} has arguments that are not JSON: {arguments[:80]!r}"
            ) from None
    else:
        parsed = arguments if arguments is not None else {}
    return {
        "type": "tool_use",
        "id": call.get("id") or "",
        "name": function.get("name") or "",
        "input": parsed,
    }


def _tool_to_anthropic(tool: dict[str, Any]) -> dict[str, Any]:
    """Accept our neutral shape (name, description, parameters), OpenAI's, or Anthropic's."""
    if tool.get("type") == "function" and "function" in tool:
        tool = tool["function"]
    elif isinstance(tool.get("custom"), dict):
        raise ConfigurationError(
            f"tool {tool['custom'].get('name')!r} is an OpenAI custom (free-form) tool, which "
            "Anthropic does not have: define it with a JSON schema of its parameters"
        )
    elif "input_schema" in tool or tool.get("type") not in (None, "function", "custom"):
        # Anthropic's own shape, or a server tool such as {"type": "web_search_20250305"}.
        return tool
    out: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        out["description"] = tool["description"]
    out["input_schema"] = tool.get("parameters") or {"type": "object", "properties": {}}
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice in ("required", "any"):
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("auto", "any", "none") or (kind == "tool" and choice.get("name")):
            return choice
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    raise ConfigurationError(
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


# -- parser ------------------------------------------------------------------------------


class AnthropicParser(ParserBase):
    """Sans-IO parser for Anthropic Messages streams.

    With ``json_tool_name`` (JSON mode, see :func:`json_tool_name_for`) that tool's input
    JSON is streamed as ``text`` deltas, so ``get_text()`` is the JSON answer, and its
    ``tool_use`` stop reason maps to ``stop`` (the raw value stays ``tool_use``).
    """

    def __init__(self, provider: str, model: str, *, json_tool_name: str | None = None) -> None:
        # raw_usage holds the provider's usage fields as they stand: message_start's,
        # then each field message_delta sends replacing the earlier value.
        super().__init__(provider, model)
        #: False until message_delta: message_start's output count is preliminary.
        self.usage_final = False
        self.json_tool_name = json_tool_name
        # content block index -> tool_call_index (or _JSON_BLOCK) for tool_use blocks;
        # the only blocks whose deltas need to know which block they belong to.
        self._tool_blocks: dict[int, int] = {}
        self._tool_count = 0
        self._json_seen = False

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        if self.done:
            # Anything after message_stop is noise from a misbehaving server.
            return
        data = sse.data
        payload = decode_object(self.provider, data)
        # The event name and data.type agree in every recording; data.type decides.
        kind = payload.get("type") or sse.event
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":  # the common case, without the walk
                text = delta.get("text")
                if text:
                    self._emit(out, StreamDelta(text))
            else:
                self._delta(payload.get("index", 0), delta, out)
        elif kind == "content_block_start":
            self._block_start(payload.get("index", 0), payload.get("content_block") or {}, out)
        elif kind == "message_delta":
            self._stop_reason((payload.get("delta") or {}).get("stop_reason"))
            usage = payload.get("usage")
            if isinstance(usage, dict):
                self._usage(usage)
                self.usage_final = True
        elif kind == "message_start":
            message = payload.get("message") or {}
            rid = message.get("id")
            if rid:
                self.response_id = rid
            model = message.get("model")
            if model:
                self.model = model
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._usage(usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error" or sse.event == "error":
            raise self._error(payload)
        # ping, content_block_stop and unknown event types: nothing to do.

    def feed_message(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``message`` body, as the deltas it would have streamed."""
        if payload.get("type") == "error":
            raise self._error(payload)
        self.response_id = payload.get("id") or self.response_id
        self.model = payload.get("model") or self.model
        for index, block in enumerate(payload.get("content") or []):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                self._block_start(index, {**block, "input": {}}, out)
                arguments = block.get("input")
                if arguments:
                    piece = json.dumps(arguments, ensure_ascii=False)
                    self._delta(index, {"type": "input_json_delta", "partial_json": piece}, out)
            else:
                self._block_start(index, block, out)
        self._stop_reason(payload.get("stop_reason"))
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage(usage)
        self.usage_final = True
        self.done = True

    def _error(self, payload: dict[str, Any]) -> ProviderError:
        """The typed error for ``{"type": "error", "error": {"type", "message"}}``."""
        error = error_from_payload(self.provider, payload)
        request_id = payload.get("request_id")  # newer error bodies carry it
        if error.request_id is None and isinstance(request_id, str):
            error.request_id = request_id
        return error

    def _stop_reason(self, reason: Any) -> None:
        if not reason:
            return
        self.raw_finish_reasons[0] = reason
        if reason == "tool_use" and self._json_seen and not self._tool_count:
            # JSON mode: the forced tool's input is the answer, complete as asked.
            self.finish_reasons[0] = "stop"
        else:
            self.finish_reasons[0] = _STOP_REASONS.get(reason, reason)

    def _usage(self, usage: dict[str, Any]) -> None:
        # Cumulative: every field present replaces the earlier value. A null field is
        # "not reported" (Anthropic's SDK keeps the earlier value too).
        raw = self.raw_usage
        if raw is None:
            raw = self.raw_usage = {}
        for key, value in usage.items():
            if value is not None:
                raw[key] = value
        self.usage = normalise_anthropic_usage(raw)

    def _block_start(self, index: int, block: dict[str, Any], out: list[StreamEvent]) -> None:
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if text:
                self._emit(out, StreamDelta(text))
        elif btype == "tool_use":
            name = block.get("name")
            if self.json_tool_name is not None and name == self.json_tool_name:
                self._tool_blocks[index] = _JSON_BLOCK
                self._json_seen = True
                return
            tool_index = self._tool_count
            self._tool_count += 1
            self._tool_blocks[index] = tool_index
            self._emit(out, StreamDelta("", "tool_call", 0, tool_index, block.get("id"), name))
        elif btype == "thinking":
            # Streams start with thinking "" and signature ""; a whole message does not.
            thinking = block.get("thinking")
            if thinking:
                self._emit(out, StreamDelta(thinking, "reasoning"))
            signature = block.get("signature")
            if signature:
                self._emit(out, StreamDelta(signature, "reasoning", is_signature=True))
        # redacted_thinking (encrypted, no deltas), server_tool_use, web_search_tool_result,
        # compaction and future block types: nothing for the caller.

    def _delta(self, index: int, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        dtype = delta.get("type")
        if dtype == "input_json_delta":
            piece = delta.get("partial_json")
            if not piece:
                return
            tool_index = self._tool_blocks.get(index)
            if tool_index is None:
                # server_tool_use (e.g. web search) streams its input too: not the
                # caller's tool.
                return
            if tool_index == _JSON_BLOCK:
                self._emit(out, StreamDelta(piece))
            else:
                self._emit(out, StreamDelta(piece, "tool_call", 0, tool_index))
        elif dtype == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                self._emit(out, StreamDelta(thinking, "reasoning"))
        elif dtype == "signature_delta":
            signature = delta.get("signature")
            if signature:
                self._emit(out, StreamDelta(signature, "reasoning", is_signature=True))
        elif dtype == "text_delta":
            text = delta.get("text")
            if text:
                self._emit(out, StreamDelta(text))
        # citations_delta, compaction_delta and future delta types: nothing to stream.


def normalise_anthropic_usage(raw: dict[str, Any]) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; ours includes them.

    ``output_tokens`` already includes thinking; ``output_tokens_details.thinking_tokens``
    (newer streams) says how much of it was thinking.
    """
    fresh = _int(raw.get("input_tokens"))
    write = _int(raw.get("cache_creation_input_tokens"))
    read = _int(raw.get("cache_read_input_tokens"))
    creation = raw.get("cache_creation")
    write_1h = _int(creation.get("ephemeral_1h_input_tokens")) if isinstance(creation, dict) else 0
    details = raw.get("output_tokens_details")
    reasoning = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Usage.build(
        fresh + write + read,
        _int(raw.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
