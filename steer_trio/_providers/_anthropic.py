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

from .._errors import ConfigurationError, error_from_json_body, error_from_payload
from .._events import StreamDelta, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import WrongFieldType, count, decode_object, in_context

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
    if tool.get("type") in (None, "function") and isinstance(tool.get("function"), dict):
        tool = tool["function"]  # OpenAI's shape (the client accepts it without its type)
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
        try:
            if kind == "content_block_delta":
                try:
                    # The common case, without the walk; anything unexpected (a missing
                    # key, a value of another type) takes the walk, which says what is
                    # wrong or ignores what it does not know.
                    delta = payload["delta"]
                    if delta["type"] == "text_delta":
                        text = delta["text"]
                        if text.__class__ is str:
                            if text:
                                self._emit(out, StreamDelta(text))
                            return
                except (KeyError, TypeError):
                    pass
                self._block_delta(payload, payload.get("delta"), out)
            elif kind == "content_block_start":
                index = _block_index(payload)
                block = payload.get("content_block")
                if block.__class__ is dict:
                    try:
                        self._block_start(index, block, out)
                    except WrongFieldType as exc:
                        raise exc.within("content_block") from None
                elif block is not None:
                    raise WrongFieldType("content_block", "an object", block)
            elif kind == "message_delta":
                delta = payload.get("delta")
                if delta.__class__ is dict:
                    self._stop_reason(delta.get("stop_reason"), "delta.stop_reason")
                elif delta is not None:
                    raise WrongFieldType("delta", "an object", delta)
                usage = payload.get("usage")
                if usage is not None:
                    self._usage(usage, "usage")
                    self.usage_final = True
            elif kind == "message_start":
                message = payload.get("message")
                if message.__class__ is dict:
                    self._message_fields(message, "message.")
                elif message is not None:
                    raise WrongFieldType("message", "an object", message)
            elif kind == "message_stop":
                self.done = True
            elif kind == "error" or sse.event == "error":
                raise error_from_payload(self.provider, payload)
            # ping, content_block_stop and unknown event types: nothing to do.
        except WrongFieldType as exc:
            raise in_context(self.provider, exc, data) from None

    def feed_message(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``message`` body, as the deltas it would have streamed."""
        error = error_from_json_body(self.provider, payload, status=None)
        if error is not None:
            raise error
        try:
            self._message_fields(payload, "")
            content = payload.get("content")
            if content.__class__ is list:
                for index, block in enumerate(content):
                    try:
                        self._whole_block(index, block, out)
                    except WrongFieldType as exc:
                        raise exc.within(f"content[{index}]") from None
            elif content is not None:
                raise WrongFieldType("content", "a list", content)
            self._stop_reason(payload.get("stop_reason"), "stop_reason")
        except WrongFieldType as exc:
            raise in_context(self.provider, exc, payload) from None
        self.usage_final = True
        self.done = True

    def _message_fields(self, message: dict[str, Any], where: str) -> None:
        """id, model and usage of message_start's message, or of a whole message."""
        rid = message.get("id")
        if rid.__class__ is str:
            if rid:
                self.response_id = rid
        elif rid is not None:
            raise WrongFieldType(f"{where}id", "a string", rid)
        model = message.get("model")
        if model.__class__ is str:
            if model:
                self.model = model
        elif model is not None:
            raise WrongFieldType(f"{where}model", "a string", model)
        usage = message.get("usage")
        if usage is not None:
            self._usage(usage, f"{where}usage")

    def _whole_block(self, index: int, block: Any, out: list[StreamEvent]) -> None:
        """One block of a whole message: a tool's input arrives whole, as one piece."""
        if block.__class__ is not dict:
            raise WrongFieldType("", "an object", block)
        self._block_start(index, block, out)
        if block.get("type") == "tool_use":
            arguments = block.get("input")
            if arguments.__class__ is dict:
                if arguments:
                    self._tool_input(index, json.dumps(arguments, ensure_ascii=False), out)
            elif arguments is not None:
                raise WrongFieldType("input", "an object", arguments)

    def _stop_reason(self, reason: Any, where: str) -> None:
        if reason.__class__ is not str:
            if reason is not None:
                raise WrongFieldType(where, "a string", reason)
            return
        if not reason:
            return
        self.raw_finish_reasons[0] = reason
        if reason == "tool_use" and self._json_seen and not self._tool_count:
            # JSON mode: the forced tool's input is the answer, complete as asked.
            self.finish_reasons[0] = "stop"
        else:
            self.finish_reasons[0] = _STOP_REASONS.get(reason, reason)

    def _usage(self, usage: Any, where: str) -> None:
        # Cumulative: every field present replaces the earlier value. A null field is
        # "not reported" (Anthropic's SDK keeps the earlier value too). Checked before
        # anything is kept, so a bad field leaves the usage as it was.
        if usage.__class__ is not dict:
            raise WrongFieldType(where, "an object", usage)
        raw = dict(self.raw_usage) if self.raw_usage is not None else {}
        for key, value in usage.items():
            if value is not None:
                raw[key] = value
        self.usage = normalise_anthropic_usage(raw, where)
        self.raw_usage = raw

    def _block_start(self, index: int, block: dict[str, Any], out: list[StreamEvent]) -> None:
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if text.__class__ is str:
                if text:
                    self._emit(out, StreamDelta(text))
            elif text is not None:
                raise WrongFieldType("text", "a string", text)
        elif btype == "tool_use":
            name = block.get("name")
            if name is not None and name.__class__ is not str:
                raise WrongFieldType("name", "a string", name)
            block_id = block.get("id")
            if block_id is not None and block_id.__class__ is not str:
                raise WrongFieldType("id", "a string", block_id)
            if self.json_tool_name is not None and name == self.json_tool_name:
                self._tool_blocks[index] = _JSON_BLOCK
                self._json_seen = True
                return
            tool_index = self._tool_count
            self._tool_count += 1
            self._tool_blocks[index] = tool_index
            self._emit(out, StreamDelta("", "tool_call", 0, tool_index, block_id, name))
        elif btype == "thinking":
            # Streams start with thinking "" and signature ""; a whole message does not.
            thinking = block.get("thinking")
            if thinking.__class__ is str:
                if thinking:
                    self._emit(out, StreamDelta(thinking, "reasoning"))
            elif thinking is not None:
                raise WrongFieldType("thinking", "a string", thinking)
            signature = block.get("signature")
            if signature.__class__ is str:
                if signature:
                    self._emit(out, StreamDelta(signature, "reasoning", is_signature=True))
            elif signature is not None:
                raise WrongFieldType("signature", "a string", signature)
        # redacted_thinking (encrypted, no deltas), server_tool_use, web_search_tool_result,
        # compaction and future block types: nothing for the caller.

    def _block_delta(self, payload: dict[str, Any], delta: Any, out: list[StreamEvent]) -> None:
        if delta.__class__ is not dict:
            if delta is not None:
                raise WrongFieldType("delta", "an object", delta)
            return
        dtype = delta.get("type")
        if dtype == "input_json_delta":
            piece = delta.get("partial_json")
            if piece.__class__ is str:
                if piece:
                    self._tool_input(_block_index(payload), piece, out)
            elif piece is not None:
                raise WrongFieldType("delta.partial_json", "a string", piece)
        elif dtype == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking.__class__ is str:
                if thinking:
                    self._emit(out, StreamDelta(thinking, "reasoning"))
            elif thinking is not None:
                raise WrongFieldType("delta.thinking", "a string", thinking)
        elif dtype == "signature_delta":
            signature = delta.get("signature")
            if signature.__class__ is str:
                if signature:
                    self._emit(out, StreamDelta(signature, "reasoning", is_signature=True))
            elif signature is not None:
                raise WrongFieldType("delta.signature", "a string", signature)
        elif dtype == "text_delta":
            text = delta.get("text")  # a string took the fast path in feed()
            if text is not None:
                raise WrongFieldType("delta.text", "a string", text)
        # citations_delta, compaction_delta and future delta types: nothing to stream.

    def _tool_input(self, index: int, piece: str, out: list[StreamEvent]) -> None:
        tool_index = self._tool_blocks.get(index)
        if tool_index is None:
            # server_tool_use (e.g. web search) streams its input too: not the
            # caller's tool.
            return
        if tool_index == _JSON_BLOCK:
            self._emit(out, StreamDelta(piece))
        else:
            self._emit(out, StreamDelta(piece, "tool_call", 0, tool_index))


def _block_index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    if index.__class__ is int and index >= 0:
        return int(index)
    if index is None:
        return 0
    raise WrongFieldType("index", "a non-negative integer", index)


def normalise_anthropic_usage(raw: dict[str, Any], where: str = "usage") -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; ours includes them.

    ``output_tokens`` already includes thinking; ``output_tokens_details.thinking_tokens``
    (newer streams) says how much of it was thinking. A count that is not a non-negative
    integer raises ``WrongFieldType`` under ``where``.
    """
    try:
        fresh = count(raw.get("input_tokens"), "input_tokens")
        write = count(raw.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
        read = count(raw.get("cache_read_input_tokens"), "cache_read_input_tokens")
        output = count(raw.get("output_tokens"), "output_tokens")
        creation = raw.get("cache_creation")
        if creation.__class__ is dict:
            write_1h = count(
                creation.get("ephemeral_1h_input_tokens"),
                "cache_creation.ephemeral_1h_input_tokens",
            )
        elif creation is None:
            write_1h = 0
        else:
            raise WrongFieldType("cache_creation", "an object", creation)
        details = raw.get("output_tokens_details")
        if details.__class__ is dict:
            reasoning = count(
                details.get("thinking_tokens"), "output_tokens_details.thinking_tokens"
            )
        elif details is None:
            reasoning = 0
        else:
            raise WrongFieldType("output_tokens_details", "an object", details)
    except WrongFieldType as exc:
        raise exc.within(where) from None
    return Usage.build(
        fresh + write + read,
        output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )
