"""The fake provider's OpenAI Responses API: ``POST /v1/responses`` and the resume of a
background response, ``GET /v1/responses/{id}?stream=true&starting_after=N``.

Shaped like the recorded streams (``event: <type>`` + ``data: <json>``, a
``sequence_number`` on every event, no ``[DONE]``). Writes only: it shares no code
with the client's parser.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ._scenario import Scenario
from ._wire import _completion_tokens, _dumps, _json_pieces, _pieces, prompt_token_estimate

__all__ = ["body", "chat_view", "error_event", "events", "keep", "resume"]

Event = tuple[bytes, bool]


def chat_view(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the scenario helpers read requests (chat-shaped messages, tools,
    tool_choice and response_format), with the Responses fields kept beside them."""
    messages: list[dict[str, Any]] = []
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    given = request.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            continue
        if "role" in item:
            content = item.get("content")
            if isinstance(content, list):
                content = [
                    {"type": "text", "text": p.get("text", "")}
                    for p in content
                    if isinstance(p, dict)
                ]
            messages.append({"role": item["role"], "content": content})
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "content": output if isinstance(output, str) else ""})
    view = {k: v for k, v in request.items() if k not in ("input", "instructions")}
    view["messages"] = messages
    fmt = (
        (request.get("text") or {}).get("format") if isinstance(request.get("text"), dict) else None
    )
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        view["response_format"] = {"type": fmt["type"]}
    return view


def _event(kind: str, fields: dict[str, Any], number: int) -> bytes:
    payload = {"type": kind, "sequence_number": number, **fields}
    return f"event: {kind}\ndata: {_dumps(payload)}\n\n".encode()


def _response(
    request: dict[str, Any], scenario: Scenario, rid: str, status: str, created: int
) -> dict[str, Any]:
    text_format = {"type": "text"}
    fmt = request.get("response_format")
    if isinstance(fmt, dict):
        text_format = {"type": fmt["type"]}
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": bool(request.get("background")),
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": request.get("max_output_tokens"),
        "model": scenario.model or request.get("model") or "fake-model",
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "store": bool(request.get("store", False)),
        "temperature": request.get("temperature", 1.0),
        "text": {"format": text_format},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "usage": None,
    }


def _usage(scenario: Scenario, request: dict[str, Any], deltas: int) -> dict[str, Any] | None:
    if not scenario.send_usage:
        return None
    prompt = scenario.prompt_tokens or prompt_token_estimate(request)
    completion = _completion_tokens(scenario, deltas)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": scenario.cache_read_tokens},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": scenario.reasoning_tokens},
        "total_tokens": prompt + completion,
    }


def _terminal(scenario: Scenario) -> tuple[str, dict[str, Any] | None]:
    """The final status and incomplete_details for the scenario's finish reason."""
    reason = scenario.finish_reason
    if reason in ("length", "max_output_tokens"):
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def events(scenario: Scenario, request: dict[str, Any]) -> list[Event]:
    """A whole stream: created, in_progress, reasoning, message, calls, then the end."""
    rid = f"resp_{uuid.uuid4().hex}"
    created = int(time.time())
    out: list[Event] = []
    number = 0

    def emit(kind: str, fields: dict[str, Any], content: bool = False) -> None:
        nonlocal number
        out.append((_event(kind, fields, number), content))
        number += 1

    response = _response(request, scenario, rid, "in_progress", created)
    emit("response.created", {"response": response})
    emit("response.in_progress", {"response": response})
    output: list[dict[str, Any]] = []
    deltas = 0
    reasoning = _pieces(scenario.reasoning)
    if reasoning:
        index = len(output)
        item_id = f"rs_{uuid.uuid4().hex[:24]}"
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
        emit("response.output_item.added", {"output_index": index, "item": item})
        place = {"item_id": item_id, "output_index": index, "summary_index": 0}
        emit("response.reasoning_summary_part.added", {**place, "part": _summary("")})
        for piece in reasoning:
            emit("response.reasoning_summary_text.delta", {**place, "delta": piece}, True)
            deltas += 1
        whole = "".join(reasoning)
        emit("response.reasoning_summary_text.done", {**place, "text": whole})
        emit("response.reasoning_summary_part.done", {**place, "part": _summary(whole)})
        item = {**item, "summary": [_summary(whole)]}
        emit("response.output_item.done", {"output_index": index, "item": item})
        output.append(item)
    for kind, pieces in (
        ("output_text", _pieces(scenario.text)),
        ("refusal", _pieces(scenario.refusal)),
    ):
        if not pieces:
            continue
        index = len(output)
        item_id = f"msg_{uuid.uuid4().hex[:24]}"
        message: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
            "phase": "final_answer",
        }
        emit("response.output_item.added", {"output_index": index, "item": message})
        place = {"item_id": item_id, "output_index": index, "content_index": 0}
        emit("response.content_part.added", {**place, "part": _content(kind, "")})
        delta_kind = (
            "response.output_text.delta" if kind == "output_text" else "response.refusal.delta"
        )
        for piece in pieces:
            emit(delta_kind, {**place, "delta": piece, "logprobs": []}, True)
            deltas += 1
        whole = "".join(pieces)
        done_kind = (
            "response.output_text.done" if kind == "output_text" else "response.refusal.done"
        )
        emit(done_kind, {**place, ("text" if kind == "output_text" else "refusal"): whole})
        emit("response.content_part.done", {**place, "part": _content(kind, whole)})
        message = {**message, "status": "completed", "content": [_content(kind, whole)]}
        emit("response.output_item.done", {"output_index": index, "item": message})
        output.append(message)
    for call in scenario.tool_calls:
        index = len(output)
        item_id = f"fc_{uuid.uuid4().hex[:24]}"
        head = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call.id,
            "name": call.name,
        }
        emit("response.output_item.added", {"output_index": index, "item": head})
        place = {"item_id": item_id, "output_index": index}
        for piece in _json_pieces(call.arguments, 8):
            emit("response.function_call_arguments.delta", {**place, "delta": piece}, True)
            deltas += 1
        emit("response.function_call_arguments.done", {**place, "arguments": call.arguments})
        done_item = {**head, "status": "completed", "arguments": call.arguments}
        emit("response.output_item.done", {"output_index": index, "item": done_item})
        output.append(done_item)
    status, incomplete = _terminal(scenario)
    final = _response(request, scenario, rid, status, created)
    final.update(
        output=output, usage=_usage(scenario, request, deltas), incomplete_details=incomplete
    )
    emit(f"response.{status}", {"response": final})
    return out


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _content(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def body(scenario: Scenario, request: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming response object: the final ``response`` of :func:`events`."""
    last = events(scenario, request)[-1][0].decode()
    data = last.split("data: ", 1)[1]
    return dict(json.loads(data)["response"])


def error_event(error_type: str, message: str) -> bytes:
    # No sequence_number: the stream's numbers are unknown here, and a number the
    # client has already seen would make it a duplicate.
    error = {"type": error_type, "code": error_type, "message": message, "param": None}
    return f"event: error\ndata: {_dumps({'type': 'error', 'error': error})}\n\n".encode()


def keep(kept: dict[str, list[Event]], request: dict[str, Any], streamed: list[Event]) -> None:
    """Keep a background response's events so it can be resumed."""
    if not request.get("background") or not streamed:
        return
    first = streamed[0][0].decode().split("data: ", 1)[1]
    kept[json.loads(first)["response"]["id"]] = streamed


def resume(kept: dict[str, list[Event]], target: str) -> list[Event] | None:
    """The kept events after ``starting_after`` for ``GET /.../responses/{id}?...``, or
    None for an unknown response."""
    parts = urlsplit(target)
    rid = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    if rid not in kept:
        return None
    query = parse_qs(parts.query)
    given = (query.get("starting_after") or ["-1"])[0]
    after = int(given) if given.isdigit() else -1
    chosen = []
    for raw, is_content in kept[rid]:
        number = json.loads(raw.decode().split("data: ", 1)[1])["sequence_number"]
        if number > after:
            chosen.append((raw, is_content))
    return chosen
