"""OpenAI Chat Completions wire format (OpenAI, xAI, and OpenAI-compatible servers).

Request side: always asks for ``stream_options.include_usage`` so the provider's own
count arrives. Parser side (sans-IO) handles the quirks seen in real recordings:
``usage: null`` on early chunks, a usage chunk with ``choices: []`` that is not always
last, refusal deltas, interleaved choices for ``n>1``, tool-call fragments told apart
only by ``index``, xAI's ``reasoning_content`` and Groq's ``reasoning``, grok-2's
cumulative usage on every chunk (we keep the last, never sum), and an in-stream
``{"error": ...}`` payload. Also, from providers' documentation: Mistral's reasoning
models send ``content`` as a list of ``text`` and ``thinking`` parts (mixed with plain
strings across chunks); OpenRouter's error chunk carries the last deltas and the usage
(kept before the typed error is raised); some Groq versions report usage only in
``x_groq.usage``.
"""

from __future__ import annotations

from typing import Any

from .._errors import error_from_json_body, error_from_payload
from .._events import StreamDelta, StreamDeltaEvent, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import WrongFieldType, count, decode_object, in_context

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
    if tool.get("type") not in (None, "function"):
        return tool  # OpenAI's other shapes ({"type": "custom", ...}): as is
    if "function" in tool:
        # OpenAI's own shape; the client accepts it without its (required) type.
        return tool if "type" in tool else {"type": "function", **tool}
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


class OpenAIChatParser(ParserBase):
    """Sans-IO parser for ``chat.completion.chunk`` streams (and whole ``chat.completion``
    bodies, through :meth:`feed_completion`).

    Every field read is type-checked on the way: a field of the wrong JSON type raises
    ``StreamProtocolError`` naming it, with the data line as ``raw``. Deltas appended to
    ``out`` before the bad field stay there (the transport delivers them first).
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        # True once a chunk carried top-level usage: Groq's x_groq.usage then no longer
        # counts (the top-level field is the standard one, and wins).
        self._usage_at_top = False

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        data = sse.data
        if data == "[DONE]":
            self.done = True
            return
        if self.done:
            # Anything after [DONE] is noise from a misbehaving server; the answer is complete.
            return
        payload = decode_object(self.provider, data)
        try:
            if self.response_id is None:
                self._take_id(payload.get("id"))
            model = payload.get("model")
            if model is not None and model != self.model:
                self._take_model(model)
            choices = payload.get("choices")
            if choices.__class__ is list:
                # Whether a choice needed the general walk: a chunk of bare content
                # deltas only is never where Groq puts x_groq.usage (its last chunk,
                # with the finish reason, is).
                walked = not choices
                for choice in choices:
                    try:
                        # The common case, a bare content delta, without the general
                        # walk. A value of an unexpected type raises here or fails a test
                        # and takes the walk, which says what is wrong.
                        delta = choice["delta"]
                        if len(delta) == 1 and choice.get("finish_reason") is None:
                            content = delta.get("content")
                            index = choice.get("index", 0)
                            if (
                                content.__class__ is str
                                and content
                                and index.__class__ is int
                                and index >= 0
                            ):
                                # ParserBase._emit, inlined: this line runs once per token.
                                out.append(
                                    StreamDeltaEvent(
                                        provider=self.provider,
                                        model=self.model,
                                        delta=StreamDelta(content, "text", index),
                                        chunk_index=self._chunk_index,
                                    )
                                )
                                self._chunk_index += 1
                                continue
                    except (KeyError, TypeError, AttributeError):
                        pass
                    walked = True
                    self._feed_choice(choice, choices, out, "delta")
            elif choices is None:
                walked = True
            else:
                raise WrongFieldType("choices", "a list", choices)
            usage = payload.get("usage")
            if usage is not None:
                self._top_level_usage(usage)
            elif walked and "x_groq" in payload:
                self._groq_usage(payload["x_groq"])
        except WrongFieldType as exc:
            if payload.get("error") or sse.event == "error":
                # The provider's own error says more than a malformed rest of its chunk.
                raise error_from_payload(self.provider, payload) from None
            raise in_context(self.provider, exc, data) from None
        if payload.get("error") or sse.event == "error":
            # OpenRouter's error chunk also carries the last deltas and the usage so
            # far: recorded above, before the typed error, so the partial response keeps them.
            raise error_from_payload(self.provider, payload)

    def feed_completion(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``chat.completion`` body, as the deltas it would have streamed."""
        error = error_from_json_body(self.provider, payload, status=None)
        try:
            if self.response_id is None:
                self._take_id(payload.get("id"))
            model = payload.get("model")
            if model is not None:
                self._take_model(model)
            choices = payload.get("choices")
            if choices.__class__ is list:
                for choice in choices:
                    self._feed_choice(choice, choices, out, "message")
            elif choices is not None:
                raise WrongFieldType("choices", "a list", choices)
            usage = payload.get("usage")
            if usage is not None:
                self._top_level_usage(usage)
            elif "x_groq" in payload:
                self._groq_usage(payload["x_groq"])
        except WrongFieldType as exc:
            if error is not None:
                raise error from None
            raise in_context(self.provider, exc, payload) from None
        if error is not None:
            raise error
        self.done = True

    def _take_id(self, rid: Any) -> None:
        if rid.__class__ is str:
            if rid:
                self.response_id = rid
        elif rid is not None:
            raise WrongFieldType("id", "a string", rid)

    def _take_model(self, model: Any) -> None:
        if model.__class__ is not str:
            raise WrongFieldType("model", "a string", model)
        if model:
            self.model = model

    def _top_level_usage(self, usage: Any) -> None:
        if usage.__class__ is not dict:
            raise WrongFieldType("usage", "an object", usage)
        if usage:
            self.usage = normalise_openai_usage(usage)
            self.raw_usage = usage
            self._usage_at_top = True

    def _groq_usage(self, groq: Any) -> None:
        """Some Groq versions report usage only in ``x_groq.usage`` (OpenAI's field names,
        plus timings): used until a top-level usage arrives."""
        if groq.__class__ is not dict:
            raise WrongFieldType("x_groq", "an object", groq)
        usage = groq.get("usage")
        if usage is None or self._usage_at_top:
            return
        if usage.__class__ is not dict:
            raise WrongFieldType("x_groq.usage", "an object", usage)
        if usage:
            self.usage = normalise_openai_usage(usage, "x_groq.usage")
            self.raw_usage = usage

    def _feed_choice(
        self, choice: Any, choices: list[Any], out: list[StreamEvent], key: str
    ) -> None:
        """The general walk of one choice (``key`` names its delta or message)."""
        try:
            if choice.__class__ is not dict:
                raise WrongFieldType("", "an object", choice)
            index = choice.get("index")
            if index is None:
                index = 0
            elif index.__class__ is not int or index < 0:
                raise WrongFieldType("index", "a non-negative integer", index)
            delta = choice.get(key)
            if delta.__class__ is dict:
                # Reasoning first: within one delta (or a whole message) it precedes
                # the answer.
                # xAI's reasoning_content; Groq's and OpenRouter's reasoning.
                for field in ("reasoning_content", "reasoning"):
                    reasoning = delta.get(field)
                    if reasoning is not None:
                        if reasoning.__class__ is not str:
                            raise WrongFieldType(f"{key}.{field}", "a string", reasoning)
                        if reasoning:
                            self._emit(out, StreamDelta(reasoning, "reasoning", index))
                content = delta.get("content")
                if content.__class__ is str:
                    if content:
                        self._emit(out, StreamDelta(content, "text", index))
                elif content.__class__ is list:
                    self._content_parts(content, index, out, key)
                elif content is not None:
                    raise WrongFieldType(
                        f"{key}.content", "a string or a list of content parts", content
                    )
                refusal = delta.get("refusal")
                if refusal.__class__ is str:
                    if refusal:
                        self._emit(out, StreamDelta(refusal, "refusal", index))
                elif refusal is not None:
                    raise WrongFieldType(f"{key}.refusal", "a string", refusal)
                calls = delta.get("tool_calls")
                if calls.__class__ is list:
                    self._tool_calls(calls, index, out, key)
                elif calls is not None:
                    raise WrongFieldType(f"{key}.tool_calls", "a list", calls)
            elif delta is not None:
                raise WrongFieldType(key, "an object", delta)
            reason = choice.get("finish_reason")
            if reason.__class__ is str:
                if reason:
                    self.raw_finish_reasons[index] = reason
                    self.finish_reasons[index] = _FINISH_MAP.get(reason, reason)
            elif reason is not None:
                raise WrongFieldType("finish_reason", "a string", reason)
        except WrongFieldType as exc:
            position = next(n for n, item in enumerate(choices) if item is choice)
            raise exc.within(f"choices[{position}]") from None

    def _tool_calls(self, calls: list[Any], index: int, out: list[StreamEvent], key: str) -> None:
        for position, call in enumerate(calls):
            if call.__class__ is not dict:
                raise WrongFieldType(f"{key}.tool_calls[{position}]", "an object", call)
            function = call.get("function")
            if function is None:
                function = {}
            elif function.__class__ is not dict:
                raise WrongFieldType(
                    f"{key}.tool_calls[{position}].function", "an object", function
                )
            arguments = function.get("arguments")
            if arguments is None:
                arguments = ""
            elif arguments.__class__ is not str:
                raise WrongFieldType(
                    f"{key}.tool_calls[{position}].function.arguments",
                    "a string (JSON text)",
                    arguments,
                )
            name = function.get("name")
            if name is not None and name.__class__ is not str:
                raise WrongFieldType(
                    f"{key}.tool_calls[{position}].function.name", "a string", name
                )
            call_id = call.get("id")
            if call_id is not None and call_id.__class__ is not str:
                raise WrongFieldType(f"{key}.tool_calls[{position}].id", "a string", call_id)
            call_index = call.get("index")
            if call_index is None:
                call_index = position
            elif call_index.__class__ is not int or call_index < 0:
                raise WrongFieldType(
                    f"{key}.tool_calls[{position}].index", "a non-negative integer", call_index
                )
            self._emit(out, StreamDelta(arguments, "tool_call", index, call_index, call_id, name))

    def _content_parts(
        self, parts: list[Any], index: int, out: list[StreamEvent], key: str
    ) -> None:
        """Mistral's reasoning models send content as typed parts: ``text`` parts are the
        answer, ``thinking`` parts (a list of ``text`` parts) the reasoning. Other part
        types (references, future ones) carry no text for the caller."""
        for position, part in enumerate(parts):
            where = f"{key}.content[{position}]"
            if part.__class__ is not dict:
                raise WrongFieldType(where, "an object (a content part)", part)
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if text.__class__ is str:
                    if text:
                        self._emit(out, StreamDelta(text, "text", index))
                elif text is not None:
                    raise WrongFieldType(f"{where}.text", "a string", text)
            elif kind == "thinking":
                thinking = part.get("thinking")
                if thinking.__class__ is list:
                    self._thinking_parts(thinking, index, out, f"{where}.thinking")
                elif thinking is not None:
                    raise WrongFieldType(f"{where}.thinking", "a list of parts", thinking)

    def _thinking_parts(
        self, parts: list[Any], index: int, out: list[StreamEvent], where: str
    ) -> None:
        for position, part in enumerate(parts):
            if part.__class__ is not dict:
                raise WrongFieldType(f"{where}[{position}]", "an object (a part)", part)
            if part.get("type") == "text":
                text = part.get("text")
                if text.__class__ is str:
                    if text:
                        self._emit(out, StreamDelta(text, "reasoning", index))
                elif text is not None:
                    raise WrongFieldType(f"{where}[{position}].text", "a string", text)


def normalise_openai_usage(raw: dict[str, Any], where: str = "usage") -> Usage:
    """OpenAI counts reasoning inside completion_tokens; xAI does not.

    xAI's ``total_tokens`` is ``prompt + completion + reasoning``, so when the total
    says so we add the reasoning back; this also covers other OpenAI-compatible
    servers that follow xAI's convention, without trusting the provider's name.
    A count that is not a non-negative integer raises ``WrongFieldType`` under ``where``.
    """
    try:
        prompt = count(raw.get("prompt_tokens"), "prompt_tokens")
        completion = count(raw.get("completion_tokens"), "completion_tokens")
        total = count(raw.get("total_tokens"), "total_tokens")
        prompt_details = _details(raw.get("prompt_tokens_details"), "prompt_tokens_details")
        completion_details = _details(
            raw.get("completion_tokens_details"), "completion_tokens_details"
        )
        cached = count(prompt_details.get("cached_tokens"), "prompt_tokens_details.cached_tokens")
        reasoning = count(
            completion_details.get("reasoning_tokens"),
            "completion_tokens_details.reasoning_tokens",
        )
    except WrongFieldType as exc:
        raise exc.within(where) from None
    if reasoning and total == prompt + completion + reasoning:
        completion += reasoning
    return Usage.build(prompt, completion, cache_read_tokens=cached, reasoning_tokens=reasoning)


def _details(value: Any, where: str) -> dict[str, Any]:
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    raise WrongFieldType(where, "an object", value)
