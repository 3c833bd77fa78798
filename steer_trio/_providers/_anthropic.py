"""Anthropic Messages wire format.

Request side: ``x-api-key`` and ``anthropic-version`` headers, system messages moved to
the top-level ``system`` field, ``max_tokens`` defaulted (Anthropic requires it),
OpenAI-style tool calls and tool results translated to ``tool_use``/``tool_result``
blocks, and JSON mode done the documented way: a forced tool whose input schema is the
requested schema, whose input JSON the parser streams as the answer text.

Parser side (sans-IO): ``message_start`` usage, text / thinking / signature /
``input_json_delta`` deltas, ``message_delta`` whose usage is cumulative (assigned,
never added), ``message_stop`` as the end marker, ``ping`` and unknown events ignored,
and ``event: error`` raised as the typed error that matches its ``error.type``.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import ConfigurationError, StreamProtocolError, error_from_payload
from .._events import StreamDelta, StreamDeltaEvent, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ProviderRequest, RequestSpec

__all__ = ["AnthropicParser", "build_anthropic_request", "json_tool_name_for"]

ANTHROPIC_VERSION = "2023-06-01"
#: Anthropic rejects a request without max_tokens; 4096 fits every current model's
#: output limit and a typical answer.
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL_NAME = "json_output"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}


def json_tool_name_for(spec: RequestSpec) -> str | None:
    """The forced tool that carries a JSON-mode answer, or None without JSON mode."""
    fmt = spec.response_format
    if not fmt or fmt.get("type") not in ("json_object", "json_schema"):
        return None
    if fmt.get("type") == "json_schema":
        name = (fmt.get("json_schema") or {}).get("name")
        if isinstance(name, str) and name:
            return name
    return JSON_TOOL_NAME


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _translate_messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text_of(message.get("content")),
            }
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        if role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            text = _text_of(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                arguments = function.get("arguments") or "{}"
                try:
                    parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
                except ValueError:
                    raise ConfigurationError(
                        f"tool call {call.get('id')!r} has arguments that are not JSON"
                    ) from None
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": function.get("name", ""),
                        "input": parsed,
                    }
                )
            out.append({"role": "assistant", "content": blocks})
            continue
        out.append({"role": role, "content": message.get("content", "")})
    return system, out


def _tool_to_anthropic(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") == "function" and "function" in tool:
        tool = tool["function"]
    if "input_schema" in tool:
        return tool
    out: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        out["description"] = tool["description"]
    out["input_schema"] = tool.get("parameters") or {"type": "object", "properties": {}}
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
        if choice.get("type") in ("auto", "any", "none", "tool"):
            return choice
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if name:
            return {"type": "tool", "name": name}
    raise ConfigurationError(
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


def build_anthropic_request(spec: RequestSpec, api_key: str | None) -> ProviderRequest:
    if spec.n not in (None, 1):
        raise ConfigurationError("Anthropic has no n>1: make several requests instead")
    system, messages = _translate_messages(spec.messages)
    body: dict[str, Any] = {
        "model": spec.model,
        "messages": messages,
        "max_tokens": spec.max_tokens if spec.max_tokens is not None else DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if spec.stream:
        body["stream"] = True
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    if spec.top_p is not None:
        body["top_p"] = spec.top_p
    if spec.stop:
        body["stop_sequences"] = spec.stop
    tools = [_tool_to_anthropic(t) for t in spec.tools or []]
    choice = _tool_choice(spec.tool_choice)
    json_tool = json_tool_name_for(spec)
    if json_tool is not None:
        fmt = spec.response_format or {}
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        tools.append(
            {
                "name": json_tool,
                "description": "Respond with the answer as JSON through this tool.",
                "input_schema": schema,
            }
        )
        choice = {"type": "tool", "name": json_tool}
    if tools:
        body["tools"] = tools
    if choice is not None:
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


class AnthropicParser:
    """Sans-IO parser for Anthropic Messages streams."""

    def __init__(self, provider: str, model: str, *, json_tool_name: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.response_id: str | None = None
        self.done = False
        self.finish_reasons: dict[int, str | None] = {}
        self.raw_finish_reasons: dict[int, str | None] = {}
        self.usage: Usage | None = None
        #: False until message_delta: message_start's output count is preliminary.
        self.usage_final = False
        self.raw_usage: dict[str, Any] = {}
        self._json_tool_name = json_tool_name
        self._chunk_index = 0
        # content block index -> ("text" | "tool" | "json" | "thinking" | "other", tool index)
        self._blocks: dict[int, tuple[str, int]] = {}
        self._tool_count = 0

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        try:
            payload = json.loads(sse.data)
        except ValueError:
            raise StreamProtocolError(
                f"{self.provider} sent a data line that is not JSON: {sse.data[:120]!r}",
                raw=sse.data,
            ) from None
        if not isinstance(payload, dict):
            raise StreamProtocolError(
                f"{self.provider} sent a JSON value that is not an object", raw=sse.data
            )
        kind = payload.get("type") or sse.event
        if kind == "content_block_delta":
            self._delta(payload, out)
        elif kind == "content_block_start":
            self._block_start(payload, out)
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            reason = delta.get("stop_reason")
            if reason:
                self.raw_finish_reasons[0] = reason
                self.finish_reasons[0] = _STOP_REASONS.get(reason, reason)
            usage = payload.get("usage")
            if isinstance(usage, dict):
                self._usage(usage)
                self.usage_final = True
        elif kind == "message_start":
            message = payload.get("message") or {}
            self.response_id = message.get("id") or self.response_id
            if message.get("model"):
                self.model = message["model"]
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._usage(usage)
        elif kind == "message_stop":
            self.done = True
        elif kind == "error" or sse.event == "error":
            raise error_from_payload(self.provider, payload)
        # ping, content_block_stop and unknown event types: nothing to do.

    def feed_message(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``message`` body, as the deltas it would have streamed."""
        if payload.get("type") == "error":
            raise error_from_payload(self.provider, payload)
        self.response_id = payload.get("id") or self.response_id
        self.model = payload.get("model") or self.model
        for index, block in enumerate(payload.get("content") or []):
            btype = block.get("type")
            if btype == "tool_use":
                start = {**block, "input": {}}
                self._block_start({"index": index, "content_block": start}, out)
                arguments = json.dumps(block.get("input") or {})
                self._delta(
                    {
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": arguments},
                    },
                    out,
                )
            elif btype == "text":
                self._block_start({"index": index, "content_block": block}, out)
            elif btype == "thinking" and block.get("thinking"):
                self._emit(out, StreamDelta(block["thinking"], "reasoning"))
        reason = payload.get("stop_reason")
        if reason:
            self.raw_finish_reasons[0] = reason
            self.finish_reasons[0] = _STOP_REASONS.get(reason, reason)
        if isinstance(payload.get("usage"), dict):
            self._usage(payload["usage"])
        self.usage_final = True
        self.done = True

    def _usage(self, usage: dict[str, Any]) -> None:
        # Cumulative: every field present replaces the earlier value.
        for key, value in usage.items():
            self.raw_usage[key] = value
        raw = self.raw_usage
        fresh = _int(raw.get("input_tokens"))
        write = _int(raw.get("cache_creation_input_tokens"))
        read = _int(raw.get("cache_read_input_tokens"))
        creation = raw.get("cache_creation") or {}
        write_1h = (
            _int(creation.get("ephemeral_1h_input_tokens")) if isinstance(creation, dict) else 0
        )
        details = raw.get("output_tokens_details") or {}
        reasoning = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
        self.usage = Usage.build(
            fresh + write + read,
            _int(raw.get("output_tokens")),
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=write_1h,
            reasoning_tokens=reasoning,
        )

    def _block_start(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        index = payload.get("index", 0)
        block = payload.get("content_block") or {}
        btype = block.get("type")
        if btype == "text":
            self._blocks[index] = ("text", 0)
            if block.get("text"):
                self._emit(out, StreamDelta(block["text"]))
        elif btype == "tool_use":
            if self._json_tool_name is not None and block.get("name") == self._json_tool_name:
                self._blocks[index] = ("json", 0)
                return
            tool_index = self._tool_count
            self._tool_count += 1
            self._blocks[index] = ("tool", tool_index)
            self._emit(
                out,
                StreamDelta("", "tool_call", 0, tool_index, block.get("id"), block.get("name")),
            )
        elif btype == "thinking":
            self._blocks[index] = ("thinking", 0)
        else:
            self._blocks[index] = ("other", 0)

    def _delta(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        delta = payload.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta":
            text = delta.get("text")
            if text:
                self._emit(out, StreamDelta(text))
        elif dtype == "input_json_delta":
            piece = delta.get("partial_json")
            if not piece:
                return
            kind, tool_index = self._blocks.get(payload.get("index", 0), ("other", 0))
            if kind == "json":
                self._emit(out, StreamDelta(piece))
            elif kind == "tool":
                self._emit(out, StreamDelta(piece, "tool_call", 0, tool_index))
            # server_tool_use (e.g. web search) streams its input too: not the caller's tool.
        elif dtype == "thinking_delta":
            thinking = delta.get("thinking")
            if thinking:
                self._emit(out, StreamDelta(thinking, "reasoning"))
        elif dtype == "signature_delta":
            signature = delta.get("signature")
            if signature:
                self._emit(out, StreamDelta(signature, "reasoning", is_signature=True))
        # citations_delta and future delta types carry no text of their own.

    def _emit(self, out: list[StreamEvent], delta: StreamDelta) -> None:
        out.append(
            StreamDeltaEvent(
                provider=self.provider, model=self.model, delta=delta, chunk_index=self._chunk_index
            )
        )
        self._chunk_index += 1


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
