"""OpenAI Responses API wire format (``POST /responses`` with ``stream: true``).

Request side: the neutral chat-style spec becomes ``instructions`` plus ``input`` items
(messages, ``function_call`` items for the assistant's earlier calls and
``function_call_output`` items for their results), flattened function tools, and
``text.format`` for JSON mode; ``store`` is false unless the caller asks to keep the
response (``store=`` or ``background=``).

Parser side (sans-IO) handles what the recordings show: semantic events named by
``type`` with no ``[DONE]`` (the stream ends with ``response.completed``,
``response.incomplete`` or ``response.failed``), a ``sequence_number`` on every event
since mid-2025 (none before), reasoning summaries split into parts, parallel function
calls whose argument deltas are told apart by ``output_index``, built-in tools
(web search, file search, code interpreter, MCP, image generation, tool search,
compaction) whose items are not the caller's tool calls, refusals, ``phase`` on message
items, an ``error`` event followed by ``response.failed``, and a resumed background
stream that starts with ``response.queued`` in a different key order.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .._errors import ConfigurationError, ProviderError, error_from_payload
from .._events import StreamDelta, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import decode_object

__all__ = [
    "OpenAIResponsesParser",
    "build_responses_request",
    "build_responses_resume_request",
    "normalise_responses_usage",
]

#: Output items the caller executes: they become ``tool_call`` deltas.
_CLIENT_CALLS = frozenset({"function_call", "custom_tool_call"})
#: Output items that are neither the answer, reasoning, nor the caller's calls.
_NOT_BUILTIN = frozenset({"message", "reasoning", *_CLIENT_CALLS})
#: Between two reasoning summary parts (each is a paragraph with its own title).
REASONING_PART_SEPARATOR = "\n\n"


# -- request -----------------------------------------------------------------------------


def build_responses_request(spec: RequestSpec, api_key: str | None) -> ProviderRequest:
    if spec.n not in (None, 1):
        raise ConfigurationError(
            f"the Responses API has no n>1 (got n={spec.n}): make several requests instead"
        )
    if spec.stop:
        raise ConfigurationError(
            "the Responses API has no stop sequences: drop stop=..., or use the Chat "
            "Completions API (api='chat') for this model"
        )
    instructions, items = _input_items(spec.messages)
    body: dict[str, Any] = {"model": spec.model, "input": items}
    if instructions is not None:
        body["instructions"] = instructions
    if spec.stream:
        body["stream"] = True
    if spec.max_tokens is not None:
        body["max_output_tokens"] = spec.max_tokens
    if spec.temperature is not None:
        body["temperature"] = spec.temperature
    if spec.top_p is not None:
        body["top_p"] = spec.top_p
    text_format = _text_format(spec.response_format)
    if text_format is not None:
        body["text"] = {"format": text_format}
    if spec.tools:
        body["tools"] = [_tool(t) for t in spec.tools]
    if spec.tool_choice is not None:
        body["tool_choice"] = _tool_choice(spec.tool_choice)
    extra = dict(spec.extra)
    # Chat-style spellings of the reasoning settings, folded into ``reasoning``.
    effort = extra.pop("reasoning_effort", None)
    summary = extra.pop("reasoning_summary", None)
    if effort is not None or summary is not None:
        reasoning = dict(extra.pop("reasoning", None) or {})
        if effort is not None:
            reasoning["effort"] = effort
        if summary is not None:
            reasoning["summary"] = summary
        body["reasoning"] = reasoning
    if "store" not in extra and not extra.get("background"):
        # Nothing is kept on OpenAI's side unless the caller asks (a background
        # response must be stored to be read back).
        body["store"] = False
    if "text" in extra and "text" in body and isinstance(extra["text"], dict):
        extra["text"] = {**body["text"], **extra["text"]}  # e.g. verbosity beside format
    body.update(extra)
    return ProviderRequest(path="/responses", headers=_headers(api_key, spec.stream), json=body)


def build_responses_resume_request(
    response_id: str, starting_after: int, api_key: str | None
) -> ProviderRequest:
    """Read a background response's stream again from after ``starting_after``.

    ``GET /responses/{id}?stream=true&starting_after=N``; feed the events to the same
    parser that saw the first ones: events it already has are ignored by their
    ``sequence_number``. Pass ``parser.last_sequence_number`` as ``starting_after``.
    """
    if not isinstance(response_id, str) or not response_id:
        raise ConfigurationError("resuming needs the response id (parser.response_id)")
    if not isinstance(starting_after, int) or isinstance(starting_after, bool):
        raise ConfigurationError(
            f"starting_after must be a sequence number (an int), got {starting_after!r}"
        )
    if starting_after < 0:
        raise ConfigurationError(f"starting_after must be >= 0, got {starting_after}")
    path = f"/responses/{quote(response_id, safe='')}?stream=true&starting_after={starting_after}"
    return ProviderRequest(path=path, headers=_headers(api_key, True), json={}, method="GET")


def _headers(api_key: str | None, stream: bool) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "") if isinstance(part, dict) else str(part) for part in content
        )
    return ""


def _input_items(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """``instructions`` (a leading system message) and the ``input`` items."""
    instructions: str | None = None
    items: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            if position == 0 and role == "system":
                instructions = _text_of(content)
            else:
                items.append({"role": role, "content": _user_content(content)})
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id") or "",
                    "output": content if isinstance(content, str) else _text_of(content),
                }
            )
        elif role == "assistant":
            text = _text_of(content)
            if text or not message.get("tool_calls"):
                items.append({"role": "assistant", "content": text})
            for call in message.get("tool_calls") or []:
                items.append(_function_call_item(call))
        else:
            items.append({"role": role or "user", "content": _user_content(content)})
    return instructions, items


def _user_content(content: Any) -> Any:
    if not isinstance(content, list):
        return "" if content is None else content
    return [_content_part(part) for part in content]


def _content_part(part: Any) -> Any:
    """A chat content part as a Responses input part (Responses' own parts pass)."""
    if not isinstance(part, dict):
        return {"type": "input_text", "text": str(part)}
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text") or ""}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise ConfigurationError("an image_url content part needs image_url.url")
        out: dict[str, Any] = {"type": "input_image", "image_url": url}
        detail = image.get("detail") if isinstance(image, dict) else None
        if detail:
            out["detail"] = detail
        return out
    if kind == "file":
        file = part.get("file") or {}
        converted: dict[str, Any] = {"type": "input_file"}
        for source, target in (("file_id", "file_id"), ("file_data", "file_data")):
            if file.get(source):
                converted[target] = file[source]
        if file.get("filename"):
            converted["filename"] = file["filename"]
        return converted
    return part


def _function_call_item(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "type": "function_call",
        "call_id": call.get("id") or "",
        "name": function.get("name") or "",
        "arguments": arguments,
    }


def _text_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = fmt.get("json_schema") or {}
        out: dict[str, Any] = {
            "type": "json_schema",
            "name": schema.get("name") or "response",
            "schema": schema.get("schema") or {"type": "object"},
        }
        if schema.get("description"):
            out["description"] = schema["description"]
        if schema.get("strict") is not None:
            out["strict"] = schema["strict"]
        return out
    if kind in (None, "text"):
        return None
    raise ConfigurationError(
        f"response_format type {kind!r} is not supported by the Responses API: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Our neutral shape and Chat's nested shape, flattened; built-in tools pass as is."""
    if isinstance(tool.get("function"), dict):
        inner = tool["function"]
    elif isinstance(tool.get("custom"), dict):
        return {"type": "custom", **tool["custom"]}
    elif tool.get("type") in (None, "function") and "name" in tool:
        inner = tool
    else:
        return tool  # {"type": "web_search"}, {"type": "mcp", ...}, flattened already...
    out: dict[str, Any] = {"type": "function", "name": inner["name"]}
    if inner.get("description"):
        out["description"] = inner["description"]
    out["parameters"] = inner.get("parameters") or {"type": "object", "properties": {}}
    if inner.get("strict") is not None:
        out["strict"] = inner["strict"]
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name is None and choice.get("type") in (None, "function"):
            name = choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "name": name}
        if isinstance(choice.get("type"), str):
            return choice  # a built-in tool, allowed_tools, ...: Responses' own shape
    raise ConfigurationError(
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


# -- parser ------------------------------------------------------------------------------


class _Call:
    __slots__ = ("index", "streamed")

    def __init__(self, index: int) -> None:
        self.index = index
        #: Some argument text was emitted (then ``.done`` adds nothing).
        self.streamed = False


class OpenAIResponsesParser(ParserBase):
    """Sans-IO parser for Responses API streams (and, via :meth:`feed_response`, the
    non-streaming response object)."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        #: The highest ``sequence_number`` seen: resume from here
        #: (:func:`build_responses_resume_request`). None until an event carries one.
        self.last_sequence_number: int | None = None
        #: Output items of built-in tools (web_search_call, mcp_call, compaction, ...),
        #: as they last stood: for the response's metadata, never the caller's calls.
        self.builtin_items: list[dict[str, Any]] = []
        #: Reasoning items (with ``encrypted_content`` when asked for), to send back.
        self.reasoning_items: list[dict[str, Any]] = []
        #: ``phase`` of each message item ("commentary", "final_answer"), by output_index.
        self.phases: dict[int, str] = {}
        #: The response's status as last reported (queued, in_progress, completed, ...).
        self.status: str | None = None
        self._calls: dict[int, _Call] = {}
        self._builtin_at: dict[int, int] = {}
        self._tool_count = 0
        # The reasoning part being streamed: a new one starts a new paragraph.
        self._reasoning_part: tuple[Any, ...] | None = None

    def metadata(self) -> dict[str, Any]:
        """Built-in tool items (web search, file search, code interpreter, MCP, image
        generation...), reasoning items and the phase of each message item."""
        data: dict[str, Any] = {}
        if self.builtin_items:
            data["builtin_items"] = list(self.builtin_items)
        if self.reasoning_items:
            data["reasoning_items"] = list(self.reasoning_items)
        if self.phases:
            data["phases"] = dict(self.phases)
        return data

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        if self.done:
            # Nothing follows a terminal event; anything that does is noise.
            return
        payload = decode_object(self.provider, sse.data)
        number = payload.get("sequence_number")
        if number.__class__ is int:
            last = self.last_sequence_number
            if last is not None and number <= last:
                return  # seen already: a resumed stream may repeat events
            self.last_sequence_number = number
        kind = payload.get("type") or sse.event
        if kind == "response.output_text.delta":
            text = payload.get("delta")
            if text:
                self._emit(out, StreamDelta(text))
        elif kind == "response.function_call_arguments.delta" or (
            kind == "response.custom_tool_call_input.delta"
        ):
            self._arguments(payload, payload.get("delta"), out)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self._reasoning(kind, payload, out)
        elif kind == "response.refusal.delta":
            refusal = payload.get("delta")
            if refusal:
                self._emit(out, StreamDelta(refusal, "refusal"))
        elif kind == "response.output_item.added":
            self._item(payload.get("output_index"), payload.get("item"), out, done=False)
        elif kind == "response.output_item.done":
            self._item(payload.get("output_index"), payload.get("item"), out, done=True)
        elif kind == "response.function_call_arguments.done":
            self._arguments_done(payload, payload.get("arguments"), out)
        elif kind == "response.custom_tool_call_input.done":
            self._arguments_done(payload, payload.get("input"), out)
        elif kind in ("response.completed", "response.incomplete"):
            self._end(payload.get("response"))
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            self._meta(payload.get("response"))
        elif kind == "response.failed":
            raise self._failed(payload)
        elif kind == "error" or sse.event == "error":
            raise self._error(payload)
        # content_part.*, output_text.done, annotations, built-in tool progress events
        # (web_search_call.searching, ...), and future event types: nothing to stream.

    def feed_response(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming response object, as the deltas it would have streamed."""
        if payload.get("status") == "failed" or (
            payload.get("error") and not payload.get("output")
        ):
            raise self._failed({"response": payload})
        for index, item in enumerate(payload.get("output") or []):
            if not isinstance(item, dict):
                continue
            self._item(index, item, out, done=True)
            if item.get("type") == "message":
                for part in item.get("content") or []:
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "output_text" and part.get("text"):
                        self._emit(out, StreamDelta(part["text"]))
                    elif part.get("type") == "refusal" and part.get("refusal"):
                        self._emit(out, StreamDelta(part["refusal"], "refusal"))
            elif item.get("type") == "reasoning":
                for kind, key in (("summary", "summary_index"), ("content", "content_index")):
                    for number, part in enumerate(item.get(kind) or []):
                        if isinstance(part, dict) and part.get("text"):
                            event = {"item_id": item.get("id"), key: number, "delta": part["text"]}
                            self._reasoning(f"response.reasoning_{kind}.delta", event, out)
        self._end(payload)
        self.done = True

    # -- items ------------------------------------------------------------------------

    def _item(self, index: Any, item: Any, out: list[StreamEvent], *, done: bool) -> None:
        if not isinstance(item, dict):
            return
        if not isinstance(index, int):
            index = -1 - len(self._builtin_at) - len(self._calls)  # never collides
        kind = item.get("type")
        if kind in _CLIENT_CALLS:
            call = self._calls.get(index)
            if call is None:
                call = self._open_call(index, item, out)
            if done and not call.streamed:
                # A call whose arguments never streamed (a whole item, a resumed
                # stream, a non-streaming body): its arguments arrive here at once.
                self._arguments_done({"output_index": index}, _arguments_of(item), out)
            elif not done:
                initial = _arguments_of(item)
                if initial:
                    self._arguments({"output_index": index}, initial, out)
        elif kind == "message":
            phase = item.get("phase")
            if isinstance(phase, str):
                self.phases[index] = phase
        elif kind == "reasoning":
            if done:
                self.reasoning_items.append(item)
        else:
            at = self._builtin_at.get(index)
            if at is None:
                self._builtin_at[index] = len(self.builtin_items)
                self.builtin_items.append(item)
            else:
                self.builtin_items[at] = item  # the finished form replaces the first

    def _open_call(self, index: int, item: dict[str, Any], out: list[StreamEvent]) -> _Call:
        call = self._calls[index] = _Call(self._tool_count)
        self._tool_count += 1
        self._emit(
            out,
            StreamDelta(
                "",
                "tool_call",
                0,
                call.index,
                item.get("call_id") or item.get("id"),
                item.get("name"),
            ),
        )
        return call

    def _call_for(self, payload: dict[str, Any], out: list[StreamEvent]) -> _Call:
        index = payload.get("output_index")
        if not isinstance(index, int):
            index = -1
        call = self._calls.get(index)
        if call is None:
            # Arguments for a call we never saw open: keep them rather than lose them.
            call = self._open_call(index, {}, out)
        return call

    def _arguments(self, payload: dict[str, Any], piece: Any, out: list[StreamEvent]) -> None:
        if not isinstance(piece, str) or not piece:
            return
        call = self._call_for(payload, out)
        call.streamed = True
        self._emit(out, StreamDelta(piece, "tool_call", 0, call.index))

    def _arguments_done(self, payload: dict[str, Any], whole: Any, out: list[StreamEvent]) -> None:
        call = self._call_for(payload, out)
        if not call.streamed:
            self._arguments(payload, whole, out)

    def _reasoning(self, kind: str, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        text = payload.get("delta")
        if not isinstance(text, str) or not text:
            return
        part = (
            kind,
            payload.get("item_id"),
            payload.get("output_index"),
            payload.get("summary_index"),
            payload.get("content_index"),
        )
        if part != self._reasoning_part:
            if self._reasoning_part is not None:
                text = REASONING_PART_SEPARATOR + text
            self._reasoning_part = part
        self._emit(out, StreamDelta(text, "reasoning"))

    # -- the response object ------------------------------------------------------------

    def _meta(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        rid = response.get("id")
        if isinstance(rid, str) and rid:
            self.response_id = rid
        model = response.get("model")
        if isinstance(model, str) and model:
            self.model = model
        status = response.get("status")
        if isinstance(status, str):
            self.status = status

    def _end(self, response: Any) -> None:
        self.done = True
        if not isinstance(response, dict):
            return
        self._meta(response)
        usage = response.get("usage")
        if isinstance(usage, dict):
            self.raw_usage = usage
            self.usage = normalise_responses_usage(usage)
        status = self.status
        if status == "incomplete":
            details = response.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            self.raw_finish_reasons[0] = reason or status
            self.finish_reasons[0] = "content_filter" if reason == "content_filter" else "length"
        elif status == "completed":
            self.raw_finish_reasons[0] = status
            self.finish_reasons[0] = "tool_calls" if self._tool_count else "stop"

    def _failed(self, payload: dict[str, Any]) -> ProviderError:
        response = payload.get("response")
        self._meta(response)
        error = response.get("error") if isinstance(response, dict) else None
        if not isinstance(error, dict):
            error = {"message": "the response failed without saying why", "code": "server_error"}
        exc = error_from_payload(self.provider, {"error": error})
        exc.body = payload
        return exc

    def _error(self, payload: dict[str, Any]) -> ProviderError:
        if not isinstance(payload.get("error"), dict):
            # The documented shape keeps code/message/param at the top level.
            inner = {k: payload.get(k) for k in ("message", "code", "param")}
            inner["type"] = payload.get("code")
            exc = error_from_payload(self.provider, {"error": inner})
            exc.body = payload
            return exc
        return error_from_payload(self.provider, payload)


def _arguments_of(item: dict[str, Any]) -> Any:
    return item.get("arguments") if item.get("type") == "function_call" else item.get("input")


def normalise_responses_usage(raw: dict[str, Any]) -> Usage:
    """``input_tokens`` includes cached tokens and ``output_tokens`` includes reasoning,
    as our fields do. A server whose total adds reasoning on top (xAI's convention in
    Chat Completions) gets the reasoning added back, as for Chat."""
    prompt = _int(raw.get("input_tokens"))
    completion = _int(raw.get("output_tokens"))
    details_in = raw.get("input_tokens_details")
    details_out = raw.get("output_tokens_details")
    details_in = details_in if isinstance(details_in, dict) else {}
    details_out = details_out if isinstance(details_out, dict) else {}
    cached = _int(details_in.get("cached_tokens"))
    written = _int(details_in.get("cache_creation_tokens")) or _int(
        details_in.get("cache_write_tokens")
    )
    reasoning = _int(details_out.get("reasoning_tokens"))
    if reasoning and _int(raw.get("total_tokens")) == prompt + completion + reasoning:
        completion += reasoning
    return Usage.build(
        prompt,
        completion,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
