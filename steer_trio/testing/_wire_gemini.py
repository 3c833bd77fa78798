"""The fake provider's Google Gemini API: ``POST /v1beta/models/{model}:`` with
``streamGenerateContent?alt=sse`` or ``generateContent``.

Shaped like the recorded streams: one ``data: <json>`` line per event framed with CRLF
CRLF, Google's JSON spacing, ``usageMetadata`` restated on every chunk, no end marker
(the last chunk carries ``finishReason``). Writes only: it shares no code with the
client's parser.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import unquote

from ._scenario import Scenario
from ._wire import _pieces, prompt_token_estimate

__all__ = ["body", "chat_view", "error_event", "events", "model_of"]

Event = tuple[bytes, bool]

# The finish reasons a scenario names in the unified vocabulary, as Gemini says them.
_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
# An error type (Anthropic/OpenAI style, as Fault.error_type gives it) -> (code, status).
_ERRORS = {
    "overloaded_error": (503, "UNAVAILABLE"),
    "rate_limit_error": (429, "RESOURCE_EXHAUSTED"),
    "rate_limit_exceeded": (429, "RESOURCE_EXHAUSTED"),
    "invalid_request_error": (400, "INVALID_ARGUMENT"),
    "authentication_error": (401, "UNAUTHENTICATED"),
    "permission_error": (403, "PERMISSION_DENIED"),
    "not_found_error": (404, "NOT_FOUND"),
}


def _google_json(obj: Any) -> str:
    # Google's own spacing: a space after ':' and none after ','.
    return json.dumps(obj, separators=(",", ": "), ensure_ascii=False)


def model_of(path: str) -> str:
    """``/v1beta/models/gemini-2.5-flash:streamGenerateContent`` -> the model."""
    name = path.rsplit("/models/", 1)[-1]
    return unquote(name.split(":", 1)[0])


def chat_view(path: str, request: dict[str, Any]) -> dict[str, Any]:
    """The request as the scenario helpers read requests (model, stream, chat-shaped
    messages, tools, tool_choice, response_format), with Gemini's fields beside them."""
    messages: list[dict[str, Any]] = []
    system = request.get("systemInstruction")
    if isinstance(system, dict):
        text = "".join(p.get("text", "") for p in system.get("parts") or [] if isinstance(p, dict))
        messages.append({"role": "system", "content": text})
    for content in request.get("contents") or []:
        if not isinstance(content, dict):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        for part in content.get("parts") or []:
            if not isinstance(part, dict):
                continue
            if "text" in part:
                messages.append({"role": role, "content": str(part["text"])})
            elif "functionResponse" in part:
                messages.append({"role": "tool", "content": _google_json(part["functionResponse"])})
    tools: list[dict[str, Any]] = []
    for tool in request.get("tools") or []:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if not isinstance(declaration, dict):
                continue
            parameters = declaration.get("parametersJsonSchema") or declaration.get("parameters")
            tools.append({"name": declaration.get("name"), "parameters": parameters or {}})
    view = dict(request)
    view.update(
        model=model_of(path),
        stream=path.endswith(":streamGenerateContent"),
        messages=messages,
        tools=tools,
    )
    calling = ((request.get("toolConfig") or {}).get("functionCallingConfig")) or {}
    mode = calling.get("mode")
    if mode == "ANY":
        allowed = calling.get("allowedFunctionNames") or []
        view["tool_choice"] = {"name": allowed[0]} if allowed else "required"
    elif mode == "NONE":
        view["tool_choice"] = "none"
    config = request.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":
        view["response_format"] = {"type": "json_object"}
    return view


def _frame(payload: dict[str, Any]) -> bytes:
    return f"data: {_google_json(payload)}\r\n\r\n".encode()


class _Counts:
    def __init__(self, scenario: Scenario, request: dict[str, Any]) -> None:
        self.scenario = scenario
        self.prompt = scenario.prompt_tokens or prompt_token_estimate(request)
        self.deltas = 0

    def usage(self, final: bool) -> dict[str, Any]:
        scenario = self.scenario
        if final and scenario.completion_tokens is not None:
            candidates = max(0, scenario.completion_tokens - scenario.reasoning_tokens)
        else:
            candidates = max(1, self.deltas)
        thoughts = scenario.reasoning_tokens
        usage: dict[str, Any] = {"promptTokenCount": self.prompt}
        if candidates:
            usage["candidatesTokenCount"] = candidates
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if scenario.cache_read_tokens:
            usage["cachedContentTokenCount"] = scenario.cache_read_tokens
        usage["totalTokenCount"] = self.prompt + candidates + thoughts
        return usage


def _parts(scenario: Scenario) -> list[tuple[dict[str, Any], bool]]:
    """Every part the answer streams, one per chunk: (part, counts as content)."""
    parts: list[tuple[dict[str, Any], bool]] = []
    for piece in _pieces(scenario.reasoning):
        parts.append(({"text": piece, "thought": True}, True))
    # Gemini has no refusal channel: a refusal is said in the text.
    for piece in _pieces(scenario.text) + _pieces(scenario.refusal):
        parts.append(({"text": piece}, True))
    for number, call in enumerate(scenario.tool_calls):
        function: dict[str, Any] = {"name": call.name, "args": json.loads(call.arguments or "{}")}
        if call.id:
            function["id"] = call.id
        part: dict[str, Any] = {"functionCall": function}
        if number == 0:
            # Gemini 3 signs the first call of a turn; clients must send it back.
            part["thoughtSignature"] = base64.b64encode(f"sig-{call.id}".encode()).decode()
        parts.append((part, True))
    return parts


def _finish(scenario: Scenario) -> str:
    reason = scenario.finish_reason or "stop"
    return _FINISH.get(reason, reason)


def events(scenario: Scenario, request: dict[str, Any]) -> list[Event]:
    model = scenario.model or request.get("model") or "gemini-fake"
    response_id = uuid.uuid4().hex[:22]
    counts = _Counts(scenario, request)
    out: list[Event] = []
    choices = max(1, scenario.choices)

    def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidates = []
        for index in range(choices):
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
            if finish is not None:
                candidate["finishReason"] = finish
            candidate["index"] = index
            candidates.append(candidate)
        payload: dict[str, Any] = {"candidates": candidates}
        if scenario.send_usage:
            payload["usageMetadata"] = counts.usage(final=finish is not None)
        payload["modelVersion"] = model
        payload["responseId"] = response_id
        return _frame(payload)

    for part, is_content in _parts(scenario):
        counts.deltas += 1
        out.append((chunk([part]), is_content))
    out.append((chunk([{"text": ""}], _finish(scenario)), False))
    return out


def body(scenario: Scenario, request: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming ``generateContent`` answer: every part in one response."""
    counts = _Counts(scenario, request)
    parts = [part for part, _ in _parts(scenario)]
    counts.deltas = len(parts)
    candidate = {
        "content": {"parts": parts or [{"text": ""}], "role": "model"},
        "finishReason": _finish(scenario),
        "index": 0,
    }
    payload: dict[str, Any] = {"candidates": [candidate]}
    if scenario.send_usage:
        payload["usageMetadata"] = counts.usage(final=True)
    payload["modelVersion"] = scenario.model or request.get("model") or "gemini-fake"
    payload["responseId"] = uuid.uuid4().hex[:22]
    return payload


def error_event(error_type: str, message: str) -> bytes:
    code, status = _ERRORS.get(error_type, (500, "INTERNAL"))
    return _frame({"error": {"code": code, "message": message, "status": status}})
