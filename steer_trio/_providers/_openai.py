"""OpenAI Chat Completions wire format (OpenAI, xAI, and OpenAI-compatible servers).

Request side: always asks for ``stream_options.include_usage`` so the provider's own
count arrives. Parser side (sans-IO) handles the quirks seen in real recordings:
``usage: null`` on early chunks, a usage chunk with ``choices: []`` that is not always
last, refusal deltas, interleaved choices for ``n>1``, tool-call fragments told apart
only by ``index``, xAI's ``reasoning_content`` and Groq's ``reasoning``, grok-2's
cumulative usage on every chunk (we keep the last, never sum), and an in-stream
``{"error": ...}`` payload.
"""

from __future__ import annotations

from typing import Any

from .._errors import error_from_payload
from .._events import StreamDelta, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import decode_object

__all__ = ["OpenAIChatParser", "build_openai_request"]


# OpenAI's finish reasons are already the unified vocabulary; map the legacy one.
_FINISH_MAP = {"function_call": "tool_calls"}


def build_openai_request(spec: RequestSpec, api_key: str | None) -> ProviderRequest:
    body: dict[str, Any] = {"model": spec.model, "messages": spec.messages}
    if spec.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if spec.max_tokens is not None:
        # o-series and gpt-5 reject max_tokens; max_completion_tokens is accepted by
        # every current OpenAI chat model. Other servers keep the classic name.
        key = "max_completion_tokens" if spec.provider == "openai" else "max_tokens"
        body[key] = spec.max_tokens
    for name in ("temperature", "top_p", "stop", "n", "response_format", "tool_choice"):
        value = getattr(spec, name)
        if value is not None:
            body[name] = value
    if spec.tools:
        body["tools"] = [_tool_to_openai(t) for t in spec.tools]
    body.update(spec.extra)
    accept = "text/event-stream" if spec.stream else "application/json"
    headers = {"content-type": "application/json", "accept": accept}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return ProviderRequest(path="/chat/completions", headers=headers, json=body)


def _tool_to_openai(tool: dict[str, Any]) -> dict[str, Any]:
    """Accept our neutral shape (name, description, parameters) or OpenAI's own."""
    if tool.get("type") not in (None, "function") or "function" in tool:
        return tool  # OpenAI's own shape ({"type": "function" | "custom", ...}): as is
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


class OpenAIChatParser(ParserBase):
    """Sans-IO parser for ``chat.completion.chunk`` streams."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        data = sse.data
        if data == "[DONE]":
            self.done = True
            return
        if self.done:
            # Anything after [DONE] is noise from a misbehaving server; the answer is complete.
            return
        payload = decode_object(self.provider, data)
        if payload.get("error") or sse.event == "error":
            raise error_from_payload(self.provider, payload)
        if self.response_id is None:
            rid = payload.get("id")
            if rid:
                self.response_id = rid
        model = payload.get("model")
        if model and model != self.model:
            self.model = model
        choices = payload.get("choices")
        if choices:
            for choice in choices:
                delta = choice.get("delta")
                # The common case, a bare content delta, without the general walk.
                if (
                    delta is not None
                    and len(delta) == 1
                    and not choice.get("finish_reason")
                    and delta.get("content")
                ):
                    self._emit(out, StreamDelta(delta["content"], "text", choice.get("index") or 0))
                else:
                    self._feed_choice(choice, out)
        usage = payload.get("usage")
        if usage:
            self.raw_usage = usage
            self.usage = normalise_openai_usage(usage)

    def feed_completion(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``chat.completion`` body, as the deltas it would have streamed."""
        if payload.get("error"):
            raise error_from_payload(self.provider, payload)
        self.response_id = payload.get("id") or self.response_id
        self.model = payload.get("model") or self.model
        for choice in payload.get("choices") or []:
            message = choice.get("message") or {}
            calls = [
                {**call, "index": call.get("index", position)}
                for position, call in enumerate(message.get("tool_calls") or [])
            ]
            self._feed_choice(
                {
                    "index": choice.get("index", 0),
                    "delta": {**message, "tool_calls": calls},
                    "finish_reason": choice.get("finish_reason"),
                },
                out,
            )
        usage = payload.get("usage")
        if usage:
            self.raw_usage = usage
            self.usage = normalise_openai_usage(usage)
        self.done = True

    def _feed_choice(self, choice: dict[str, Any], out: list[StreamEvent]) -> None:
        index = choice.get("index") or 0
        delta = choice.get("delta")
        if delta:
            content = delta.get("content")
            if content:
                self._emit(out, StreamDelta(content, "text", index))
            for key in ("reasoning_content", "reasoning"):
                reasoning = delta.get(key)
                if reasoning:
                    self._emit(out, StreamDelta(reasoning, "reasoning", index))
            refusal = delta.get("refusal")
            if refusal:
                self._emit(out, StreamDelta(refusal, "refusal", index))
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for position, call in enumerate(tool_calls):
                    function = call.get("function") or {}
                    call_index = call.get("index")
                    self._emit(
                        out,
                        StreamDelta(
                            function.get("arguments") or "",
                            "tool_call",
                            index,
                            call_index if call_index is not None else position,
                            call.get("id"),
                            function.get("name"),
                        ),
                    )
        reason = choice.get("finish_reason")
        if reason:
            self.raw_finish_reasons[index] = reason
            self.finish_reasons[index] = _FINISH_MAP.get(reason, reason)


def normalise_openai_usage(raw: dict[str, Any]) -> Usage:
    """OpenAI counts reasoning inside completion_tokens; xAI does not.

    xAI's ``total_tokens`` is ``prompt + completion + reasoning``, so when the total
    says so we add the reasoning back; this also covers other OpenAI-compatible
    servers that follow xAI's convention, without trusting the provider's name.
    """
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    total = _int(raw.get("total_tokens"))
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    reasoning = _int(completion_details.get("reasoning_tokens"))
    cached = _int(prompt_details.get("cached_tokens"))
    if reasoning and total == prompt + completion + reasoning:
        completion += reasoning
    return Usage.build(prompt, completion, cache_read_tokens=cached, reasoning_tokens=reasoning)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
