"""Writers for each provider's wire format, shaped like the recorded streams.

The fake provider shares no code with the client's parsers: these functions only
write. Each returns the body as a list of ``(bytes, is_content)`` events, so faults can
count content events.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from typing import Any

from ._scenario import Scenario, ToolCallSpec

__all__ = [
    "anthropic_events",
    "anthropic_message",
    "default_scenario",
    "openai_completion",
    "openai_events",
    "prompt_token_estimate",
    "split_words",
]

Event = tuple[bytes, bool]

_DEFAULT_JSON = '{"name": "John Doe", "age": 30, "email": "john@example.com"}'


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def split_words(text: str) -> list[str]:
    """Word-ish deltas, keeping the spaces, as models stream them."""
    return re.findall(r"\S+\s*|\s+", text)


def _pieces(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return split_words(value) if isinstance(value, str) else list(value)


def _json_pieces(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _message_text(messages: Any) -> str:
    texts = []
    for message in messages or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return " ".join(texts)


def prompt_token_estimate(request: dict[str, Any]) -> int:
    words = len(_message_text(request.get("messages")).split())
    system = request.get("system")
    if isinstance(system, str):
        words += len(system.split())
    return max(1, round(words * 1.3)) + 3 * len(request.get("messages") or [])


def _required_tool_call(request: dict[str, Any]) -> ToolCallSpec | None:
    """With tools and a tool choice that requires one (OpenAI "required" or a named
    function; Anthropic "any" or a named tool other than JSON mode's), call the first
    fitting tool with an example value for each required parameter."""
    tools = request.get("tools") or []
    choice = request.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return None
    if isinstance(choice, dict) and choice.get("type") in ("auto", "none"):
        return None
    wanted = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
    for tool in tools:
        spec = tool.get("function", tool)
        name = spec.get("name")
        if wanted is not None and name != wanted:
            continue
        schema = spec.get("parameters") or spec.get("input_schema") or {}
        if schema.get("type") == "object" and name == "json_output":
            return None  # Anthropic JSON mode: answered by default_scenario's JSON
        props = schema.get("properties") or {}
        args = {key: _example(props.get(key) or {}) for key in schema.get("required") or props}
        return ToolCallSpec(id=f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=_dumps(args))
    return None


def _example(schema: dict[str, Any]) -> Any:
    kind = str(schema.get("type"))
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(
        kind, "example"
    )


def _wants_json(request: dict[str, Any]) -> bool:
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    choice = request.get("tool_choice")
    return isinstance(choice, dict) and choice.get("type") == "tool"


def default_scenario(
    request: dict[str, Any], delay: float = 0.0, dialect: str = "openai"
) -> Scenario:
    """A short deterministic story about the prompt (or a JSON object in JSON mode),
    cut at the request's token limit (one word, one token) as a provider would."""
    call = _required_tool_call(request)
    if call is not None:
        return Scenario(text=[], tool_calls=[call], delay=delay)
    if _wants_json(request):
        return Scenario(text=_json_pieces(_DEFAULT_JSON), delay=delay)
    prompt = _message_text(request.get("messages")).strip()
    topic = " ".join(prompt.split()[:8]) or "a quiet afternoon"
    seed = sum(prompt.encode()) % 3
    heroes = ["a curious fox", "an old lighthouse keeper", "a small robot"]
    story = (
        f"Once upon a time, {heroes[seed]} heard someone ask: '{topic}'. "
        "It set out at dawn, crossed a valley of whispering grass, and met a river that "
        "talked in riddles. The river asked one question, and the answer was patience. "
        "By evening the traveller came home, wiser and a little tired, and wrote the whole "
        "story down so that nobody would forget it. The end."
    )
    words = split_words(story)
    config = request.get("generationConfig")
    limit = (
        request.get("max_completion_tokens")
        or request.get("max_tokens")
        or request.get("max_output_tokens")  # the Responses API
        or (config.get("maxOutputTokens") if isinstance(config, dict) else None)  # Gemini
    )
    if isinstance(limit, int) and 0 < limit < len(words):
        reason = "max_tokens" if dialect == "anthropic" else "length"
        return Scenario(text=words[:limit], finish_reason=reason, delay=delay)
    return Scenario(text=words, delay=delay)


# -- OpenAI chat completions and xAI ------------------------------------------------------


def _completion_tokens(scenario: Scenario, deltas: int) -> int:
    if scenario.completion_tokens is not None:
        return scenario.completion_tokens
    return max(1, deltas)


def openai_events(scenario: Scenario, request: dict[str, Any], *, xai: bool = False) -> list[Event]:
    model = scenario.model or request.get("model") or "fake-model"
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    chunk_id = str(uuid.uuid4()) if xai else f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    events: list[Event] = []

    def chunk(choices: list[dict[str, Any]], usage: Any = None, final: bool = False) -> bytes:
        body: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        # 2025-style OpenAI streams carry "usage": null on every chunk but the last.
        if (include_usage and not xai) or (final and usage is not None):
            body["usage"] = usage
        return f"data: {_dumps(body)}\n\n".encode()

    def choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if xai:
            out: dict[str, Any] = {"index": index, "delta": delta}
            if finish is not None:
                out["finish_reason"] = finish
            return out
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    text = _pieces(scenario.text)
    reasoning = _pieces(scenario.reasoning) if xai else []
    refusal = _pieces(scenario.refusal)
    deltas = 0
    for index in range(scenario.choices):
        first: dict[str, Any] = {"role": "assistant"}
        if not xai:
            first["content"] = "" if not refusal else None
            if refusal:
                first["refusal"] = ""
        events.append((chunk([choice(index, first)]), False))
    for index in range(scenario.choices):
        for piece in reasoning:
            events.append((chunk([choice(index, {"reasoning_content": piece})]), True))
            deltas += 1
    # Interleave choices piece by piece, as OpenAI does for n>1.
    for position in range(max(len(text), len(refusal))):
        for index in range(scenario.choices):
            if position < len(text):
                events.append((chunk([choice(index, {"content": text[position]})]), True))
                deltas += 1
            if position < len(refusal):
                events.append((chunk([choice(index, {"refusal": refusal[position]})]), True))
                deltas += 1
    for call_index, call in enumerate(scenario.tool_calls):
        head: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name},
        }
        if xai:
            whole = {
                "id": call.id,
                "function": {"name": call.name, "arguments": call.arguments},
                "index": call_index,
                "type": "function",
            }
            events.append((chunk([choice(0, {"tool_calls": [whole]})]), True))
            deltas += 1
            continue
        head["index"] = call_index
        head["function"]["arguments"] = ""
        events.append((chunk([choice(0, {"tool_calls": [head]})]), True))
        for piece in _json_pieces(call.arguments, 8):
            fragment = {"index": call_index, "function": {"arguments": piece}}
            events.append((chunk([choice(0, {"tool_calls": [fragment]})]), True))
            deltas += 1
    finish = scenario.finish_reason or ("tool_calls" if scenario.tool_calls else "stop")
    for index in range(scenario.choices):
        events.append((chunk([choice(index, {}, finish)]), False))
    if scenario.send_usage and (include_usage or xai):
        prompt = scenario.prompt_tokens or prompt_token_estimate(request)
        completion = _completion_tokens(scenario, deltas)
        reasoning_tokens = scenario.reasoning_tokens
        if xai:
            # xAI: completion_tokens exclude reasoning; the total includes it.
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion + reasoning_tokens,
                "prompt_tokens_details": {
                    "text_tokens": prompt,
                    "audio_tokens": 0,
                    "image_tokens": 0,
                    "cached_tokens": scenario.cache_read_tokens,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
                "num_sources_used": 0,
            }
        else:
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {
                    "cached_tokens": scenario.cache_read_tokens,
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
        events.append((chunk([], usage, final=True), False))
    events.append((b"data: [DONE]\n\n", False))
    return events


def openai_error_event(error_type: str, message: str) -> bytes:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}
    return f"data: {_dumps(body)}\n\n".encode()


def openai_completion(scenario: Scenario, request: dict[str, Any]) -> dict[str, Any]:
    text = "".join(_pieces(scenario.text))
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if scenario.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in scenario.tool_calls
        ]
    prompt = scenario.prompt_tokens or prompt_token_estimate(request)
    completion = scenario.completion_tokens or max(1, len(_pieces(scenario.text)))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": scenario.model or request.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": scenario.finish_reason
                or ("tool_calls" if scenario.tool_calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


# -- Anthropic messages -------------------------------------------------------------------


def _anthropic(event: str, body: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_dumps(body)}\n\n".encode()


def anthropic_events(scenario: Scenario, request: dict[str, Any]) -> list[Event]:
    model = scenario.model or request.get("model") or "claude-fake"
    prompt = scenario.prompt_tokens or prompt_token_estimate(request)
    fresh_input = max(0, prompt - scenario.cache_read_tokens - scenario.cache_write_tokens)
    start_usage = {
        "input_tokens": fresh_input,
        "cache_creation_input_tokens": scenario.cache_write_tokens,
        "cache_read_input_tokens": scenario.cache_read_tokens,
        "output_tokens": 1,
    }
    events: list[Event] = [
        (
            _anthropic(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": f"msg_{uuid.uuid4().hex[:24]}",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            ),
            False,
        )
    ]
    block = 0
    deltas = 0
    forced = request.get("tool_choice") if isinstance(request.get("tool_choice"), dict) else None
    reasoning = _pieces(scenario.reasoning)
    if reasoning:
        events.append(
            (
                _anthropic(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": block,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                ),
                False,
            )
        )
        for piece in reasoning:
            events.append(
                (_block_delta(block, {"type": "thinking_delta", "thinking": piece}), True)
            )
            deltas += 1
        events.append((_block_delta(block, {"type": "thinking_delta", "thinking": ""}), False))
        signature = {"type": "signature_delta", "signature": "RmFrZVNpZ25hdHVyZQ=="}
        events.append((_block_delta(block, signature), False))
        events.append((_block_stop(block), False))
        block += 1
    events.append((_anthropic("ping", {"type": "ping"}), False))
    text = _pieces(scenario.text)
    if forced and forced.get("type") == "tool" and not scenario.tool_calls:
        # JSON mode through a forced tool: the answer is the tool's input.
        name = forced.get("name", "json_output")
        events.extend(_tool_block(block, f"toolu_{uuid.uuid4().hex[:20]}", name, "".join(text)))
        deltas += len(text)
        block += 1
        text = []
    if text:
        start = {
            "type": "content_block_start",
            "index": block,
            "content_block": {"type": "text", "text": ""},
        }
        events.append((_anthropic("content_block_start", start), False))
        for piece in text:
            events.append((_block_delta(block, {"type": "text_delta", "text": piece}), True))
            deltas += 1
        events.append((_block_stop(block), False))
        block += 1
    for call in scenario.tool_calls:
        events.extend(_tool_block(block, call.id, call.name, call.arguments))
        deltas += len(_json_pieces(call.arguments, 8))
        block += 1
    stop = scenario.finish_reason or ("tool_use" if scenario.tool_calls else "end_turn")
    if forced and forced.get("type") == "tool":
        stop = scenario.finish_reason or "tool_use"
    delta_body: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
    }
    if scenario.send_usage:
        delta_body["usage"] = {**start_usage, "output_tokens": _completion_tokens(scenario, deltas)}
    else:
        delta_body["usage"] = {"output_tokens": 0}
    events.append((_anthropic("message_delta", delta_body), False))
    events.append((_anthropic("message_stop", {"type": "message_stop"}), False))
    return events


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return _anthropic(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def _block_stop(index: int) -> bytes:
    return _anthropic("content_block_stop", {"type": "content_block_stop", "index": index})


def _tool_block(index: int, call_id: str, name: str, arguments: str) -> list[Event]:
    start = {
        "type": "content_block_start",
        "index": index,
        "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}},
    }
    out: list[Event] = [(_anthropic("content_block_start", start), False)]
    out.append((_block_delta(index, {"type": "input_json_delta", "partial_json": ""}), False))
    for piece in _json_pieces(arguments, 8):
        out.append((_block_delta(index, {"type": "input_json_delta", "partial_json": piece}), True))
    out.append((_block_stop(index), False))
    return out


def anthropic_error_event(error_type: str, message: str) -> bytes:
    return _anthropic("error", {"type": "error", "error": {"type": error_type, "message": message}})


def anthropic_message(scenario: Scenario, request: dict[str, Any]) -> dict[str, Any]:
    prompt = scenario.prompt_tokens or prompt_token_estimate(request)
    content: list[dict[str, Any]] = []
    text = "".join(_pieces(scenario.text))
    if text:
        content.append({"type": "text", "text": text})
    for call in scenario.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": scenario.model or request.get("model"),
        "content": content,
        "stop_reason": scenario.finish_reason
        or ("tool_use" if scenario.tool_calls else "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": scenario.completion_tokens or max(1, len(_pieces(scenario.text))),
        },
    }


def rechunk(body: bytes, seed: int) -> list[bytes]:
    """Split a body at random byte boundaries (seeded, so a failure can be replayed)."""
    rng = random.Random(seed)
    pieces = []
    start = 0
    while start < len(body):
        size = rng.randint(1, 64)
        pieces.append(body[start : start + size])
        start += size
    return pieces
