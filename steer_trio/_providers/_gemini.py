"""Google Gemini wire format (``models/{model}:streamGenerateContent?alt=sse``).

Request side: system messages become ``systemInstruction``; roles become ``user`` and
``model``; the assistant's earlier tool calls become ``functionCall`` parts (with the
``thoughtSignature`` the model gave them, which Gemini 3 requires back) and tool
results ``functionResponse`` parts; ``image_url`` data URLs become ``inlineData``;
tools become ``functionDeclarations`` (``parametersJsonSchema``: our tools' parameters
are JSON Schema); JSON mode is ``responseMimeType`` with ``responseJsonSchema``.

Parser side (sans-IO), from the recordings: one ``data:`` line per event framed with
CRLF, no end marker (the body just ends: :meth:`GeminiParser.at_eof` decides whether
what arrived is a complete answer), ``usageMetadata`` repeated on every chunk and not
monotonic (the last one wins, never a sum), ``thought: true`` parts, signatures on
parts, whole ``functionCall`` parts (with an ``id`` on newer models) and Vertex's
streamed ``partialArgs``, server-side tools (code execution, file search, MCP) whose
parts are not the caller's calls, a ``finishReason`` on an early chunk of a
server-side MCP turn, and a blocked prompt answered by ``promptFeedback`` alone.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any
from urllib.parse import quote

from .._errors import BadRequestError, ConfigurationError, ProviderError, error_from_payload
from .._events import StreamDelta, StreamEvent
from .._sse import ServerSentEvent
from .._usage import Usage
from ._base import ParserBase, ProviderRequest, RequestSpec
from ._decode import decode_object

__all__ = [
    "GeminiParser",
    "build_gemini_request",
    "client_function_names",
    "normalise_gemini_usage",
]

# Gemini finishReason -> the unified (OpenAI) vocabulary; unknown values are kept.
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}

# google.rpc status names -> HTTP status, for an error whose body lacks the number.
_RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

#: Parts that are neither answer, thought nor call: kept on the parser, never streamed.
_EXTRA_PARTS = (
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
    "functionResponse",
    "inlineData",
    "fileData",
)
#: Candidate fields kept on the parser.
_EXTRA_FIELDS = ("groundingMetadata", "urlContextMetadata", "citationMetadata")
#: Keys of ``extra`` that belong inside ``generationConfig`` (either spelling).
_GENERATION_KEYS = {
    "thinkingConfig": "thinkingConfig",
    "thinking_config": "thinkingConfig",
    "topK": "topK",
    "top_k": "topK",
    "seed": "seed",
    "presencePenalty": "presencePenalty",
    "presence_penalty": "presencePenalty",
    "frequencyPenalty": "frequencyPenalty",
    "frequency_penalty": "frequencyPenalty",
    "responseModalities": "responseModalities",
    "response_modalities": "responseModalities",
    "mediaResolution": "mediaResolution",
}


# -- request -----------------------------------------------------------------------------


def build_gemini_request(spec: RequestSpec, api_key: str | None) -> ProviderRequest:
    model = spec.model.removeprefix("models/")
    action = "streamGenerateContent?alt=sse" if spec.stream else "generateContent"
    system, contents = _contents(spec.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    generation: dict[str, Any] = {}
    if spec.max_tokens is not None:
        generation["maxOutputTokens"] = spec.max_tokens
    if spec.temperature is not None:
        generation["temperature"] = spec.temperature
    if spec.top_p is not None:
        generation["topP"] = spec.top_p
    if spec.stop:
        generation["stopSequences"] = list(spec.stop)
    if spec.n not in (None, 1):
        generation["candidateCount"] = spec.n
    generation.update(_response_format(spec.response_format))
    if spec.tools:
        body["tools"] = _tools(spec.tools)
    if spec.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(spec.tool_choice)}
    extra = dict(spec.extra)
    for key, target in _GENERATION_KEYS.items():
        if key in extra:
            generation[target] = extra.pop(key)
    given = extra.pop("generationConfig", None) or extra.pop("generation_config", None)
    if isinstance(given, dict):
        generation.update(given)
    if generation:
        body["generationConfig"] = generation
    body.update(extra)
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if spec.stream else "application/json",
    }
    if api_key:
        headers["x-goog-api-key"] = api_key
    path = f"/models/{quote(model, safe='.-_')}:{action}"
    return ProviderRequest(path=path, headers=headers, json=body)


def client_function_names(spec: RequestSpec) -> frozenset[str] | None:
    """The functions the caller declared, or None when the request has no tools at all.

    With tools, a ``functionCall`` for any other name is a server-side tool's (MCP),
    not the caller's to execute."""
    tools = list(spec.tools or [])
    extra_tools = spec.extra.get("tools")
    if isinstance(extra_tools, list):
        tools += [t for t in extra_tools if isinstance(t, dict)]
    if not tools:
        return None
    names: set[str] = set()
    for tool in tools:
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
        if isinstance(declarations, list):
            names.update(d["name"] for d in declarations if isinstance(d, dict) and "name" in d)
            continue
        function = tool.get("function")
        name = (function if isinstance(function, dict) else tool).get("name")
        if isinstance(name, str):
            names.add(name)
    return frozenset(names)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "") if isinstance(part, dict) else str(part) for part in content
        )
    return ""


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    # tool_call_id -> function name, from the assistant turns so far (Gemini answers a
    # call by name); and the last assistant turn's calls, for results given by position.
    names: dict[str, str] = {}
    pending: list[str] = []

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        # Gemini wants turns to alternate: consecutive same-role turns become one.
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        elif parts:
            contents.append({"role": role, "parts": parts})

    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.append(_text_of(content))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            name = message.get("name") or names.get(call_id or "")
            if not name and pending:
                name = pending[0]
            if not name:
                raise ConfigurationError(
                    "a tool result for Gemini needs its function's name: give the tool "
                    "message 'name', or a 'tool_call_id' that matches an earlier call"
                )
            if pending and pending[0] == name:
                pending.pop(0)
            response: dict[str, Any] = {"name": name, "response": _tool_response(content)}
            if call_id and call_id in names:
                response["id"] = call_id
            add("user", [{"functionResponse": response}])
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            text = _text_of(content)
            if text:
                parts.append({"text": text})
            pending = []
            for call in message.get("tool_calls") or []:
                part = _function_call_part(call)
                name = part["functionCall"]["name"]
                if call.get("id"):
                    names[call["id"]] = name
                pending.append(name)
                parts.append(part)
            add("model", parts)
        else:
            add("user", _user_parts(content))
    return system, contents


def _tool_response(content: Any) -> dict[str, Any]:
    """``functionResponse.response`` must be an object: a JSON object as is, else the
    value under ``output`` (Gemini's documented key)."""
    text = content if isinstance(content, str) else _text_of(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}


def _function_call_part(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise ConfigurationError(
                f"tool call {call.get('id')!r} has arguments that are not JSON: {arguments[:80]!r}"
            ) from None
    else:
        args = arguments if arguments is not None else {}
    inner: dict[str, Any] = {"name": function.get("name") or "", "args": args}
    call_id = call.get("id")
    if isinstance(call_id, str) and call_id:
        inner["id"] = call_id
    part: dict[str, Any] = {"functionCall": inner}
    signature = (
        call.get("thought_signature")
        or call.get("thoughtSignature")
        or function.get("thought_signature")
        or function.get("thoughtSignature")
    )
    if signature:
        part["thoughtSignature"] = signature
    return part


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return [{"text": ""}]
    if not isinstance(content, list):
        return [{"text": str(content)}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            parts.append({"text": str(part)})
        elif part.get("type") == "text":
            parts.append({"text": part.get("text") or ""})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise ConfigurationError("an image_url content part needs image_url.url")
            parts.append(_image_part(url))
        elif part.get("type") in ("input_audio", "file"):
            raise ConfigurationError(
                f"a {part['type']!r} content part is not translated for Gemini; pass "
                "Gemini's own part ({'inlineData': {...}} or {'fileData': {...}})"
            )
        else:
            parts.append(part)  # Gemini's own part shapes pass through
    return parts


def _image_part(url: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0]
        data: dict[str, Any] = {"fileUri": url}
        if mime:
            data["mimeType"] = mime
        return {"fileData": data}
    header, sep, encoded = url[5:].partition(",")
    # data:<type>[;<name>=<value>]...;base64 (RFC 2397): parameters may sit between.
    media_type, *parameters = header.split(";")
    if not sep or not parameters or parameters[-1] != "base64" or not media_type:
        raise ConfigurationError(
            f"an image data URL must look like data:image/png;base64,<data> (got {url[:40]!r}...)"
        )
    return {"inlineData": {"mimeType": media_type, "data": encoded}}


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        if isinstance(tool.get("function"), dict):
            inner = tool["function"]
        elif tool.get("type") in (None, "function") and "name" in tool:
            inner = tool
        elif isinstance(tool.get("custom"), dict):
            raise ConfigurationError(
                f"tool {tool['custom'].get('name')!r} is an OpenAI custom (free-form) tool, "
                "which Gemini does not have: define it with a JSON schema of its parameters"
            )
        else:
            native.append(tool)  # googleSearch, codeExecution, functionDeclarations...
            continue
        declaration: dict[str, Any] = {"name": inner["name"]}
        if inner.get("description"):
            declaration["description"] = inner["description"]
        parameters = inner.get("parameters")
        if parameters:
            declaration["parametersJsonSchema"] = parameters
        declarations.append(declaration)
    if declarations:
        native.insert(0, {"functionDeclarations": declarations})
    return native


def _calling_config(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice in ("required", "any"):
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if isinstance(name, str) and name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise ConfigurationError(
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


def _response_format(fmt: dict[str, Any] | None) -> dict[str, Any]:
    if not fmt:
        return {}
    kind = fmt.get("type")
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema:
            # responseJsonSchema takes JSON Schema (what response_format carries);
            # responseSchema takes an OpenAPI subset that rejects additionalProperties.
            out["responseJsonSchema"] = schema
        return out
    if kind in (None, "text"):
        return {}
    raise ConfigurationError(
        f"response_format type {kind!r} is not supported for Gemini: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


# -- parser ------------------------------------------------------------------------------


class _StreamedCall:
    """A Vertex call whose arguments arrive as ``partialArgs``: JSON text is written as
    (jsonPath, value) pieces come, in the order they come."""

    __slots__ = ("client", "containers", "counts", "index", "opened", "string_path")

    def __init__(self, index: int, client: bool) -> None:
        self.index = index
        self.client = client
        #: Path segments of the open containers below the root, and whether each
        #: container (root first) is an array; members written per container.
        self.containers: list[str | int] = []
        self.counts: list[int] = []
        self.opened: list[bool] = []
        #: The path of a string value still open (its text continues).
        self.string_path: list[str | int] | None = None

    def piece(self, arg: dict[str, Any]) -> str:
        path = _json_path(arg.get("jsonPath"))
        if not path:
            return ""
        out: list[str] = []
        if self.string_path is not None:
            if path == self.string_path:
                text = arg.get("stringValue")
                out.append(_escaped(text if isinstance(text, str) else ""))
                if not arg.get("willContinue"):
                    out.append('"')
                    self.string_path = None
                return "".join(out)
            out.append('"')
            self.string_path = None
        if not self.opened:
            out.append("[" if isinstance(path[0], int) else "{")
            self.opened.append(isinstance(path[0], int))
            self.counts.append(0)
        parents = path[:-1]
        common = 0
        while (
            common < len(self.containers)
            and common < len(parents)
            and self.containers[common] == parents[common]
        ):
            common += 1
        while len(self.containers) > common:
            self.containers.pop()
            self.counts.pop()
            out.append("]" if self.opened.pop() else "}")
        for depth in range(common, len(parents)):
            out.append(self._member(parents[depth]))
            is_array = isinstance(path[depth + 1], int)
            out.append("[" if is_array else "{")
            self.containers.append(parents[depth])
            self.counts.append(0)
            self.opened.append(is_array)
        out.append(self._member(path[-1]))
        if "stringValue" in arg:
            text = arg.get("stringValue")
            out.append('"' + _escaped(text if isinstance(text, str) else ""))
            if arg.get("willContinue"):
                self.string_path = path
            else:
                out.append('"')
        elif "numberValue" in arg:
            out.append(json.dumps(arg["numberValue"]))
        elif "boolValue" in arg:
            out.append("true" if arg["boolValue"] else "false")
        elif "structValue" in arg or "listValue" in arg:
            value = arg.get("structValue", arg.get("listValue"))
            out.append(json.dumps(value, ensure_ascii=False))
        else:
            out.append("null")
        return "".join(out)

    def _member(self, segment: str | int) -> str:
        """The separator and (in an object) the key before a member of the innermost
        open container."""
        head = "," if self.counts[-1] else ""
        self.counts[-1] += 1
        return (
            head if self.opened[-1] else head + json.dumps(str(segment), ensure_ascii=False) + ":"
        )

    def close(self) -> str:
        out = ['"'] if self.string_path is not None else []
        self.string_path = None
        if not self.opened:
            return "{}"
        out.extend("]" if is_array else "}" for is_array in reversed(self.opened))
        self.opened.clear()
        return "".join(out)


def _escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _json_path(path: Any) -> list[str | int]:
    """``$.a.b[0]`` / ``$['a b']`` as segments; anything unreadable as one key."""
    if not isinstance(path, str) or not path.startswith("$"):
        return [path] if isinstance(path, str) and path else []
    segments: list[str | int] = []
    rest = path[1:]
    while rest:
        if rest[0] == ".":
            end = len(rest)
            for stop in (".", "["):
                found = rest.find(stop, 1)
                if found != -1:
                    end = min(end, found)
            segments.append(rest[1:end])
            rest = rest[end:]
        elif rest[0] == "[":
            close = rest.find("]")
            if close == -1:
                return [_unreadable_path(path)]
            inner = rest[1:close]
            if inner.isdigit():
                segments.append(int(inner))
            else:
                segments.append(inner.strip("'\""))
            rest = rest[close + 1 :]
        else:
            return [_unreadable_path(path)]
    return segments


def _unreadable_path(path: str) -> str:
    """A path ``_json_path`` cannot read, as one key: without its ``$`` and the ``.`` or
    ``[`` (and quote) that opened its first segment."""
    key = path[1:]
    if key[:1] in (".", "["):
        key = key[1:].lstrip("'\"")
    return key or path


class GeminiParser(ParserBase):
    """Sans-IO parser for Gemini ``streamGenerateContent?alt=sse`` streams (and, via
    :meth:`feed_response`, a whole ``generateContent`` body).

    ``client_tools`` names the functions the caller declared (see
    :func:`client_function_names`); a call for any other name is a server-side tool's
    and is kept in ``extras`` instead of becoming a tool call. None: every call is the
    caller's, unless the stream itself answers it with a ``functionResponse``.
    """

    def __init__(
        self, provider: str, model: str, *, client_tools: frozenset[str] | None = None
    ) -> None:
        super().__init__(provider, model)
        self.client_tools = client_tools
        #: Code execution, server-side calls and their results, grounding, URL context
        #: and citation metadata, in arrival order: ``{"type": <key>, "choice_index":
        #: n, "value": ...}``.
        self.extras: list[dict[str, Any]] = []
        #: Every ``thoughtSignature``, in order: ``{"signature", "part" (the part's
        #: kind), "choice_index", "tool_call_index" (for a call, else None)}``.
        self.thought_signatures: list[dict[str, Any]] = []
        #: The signature of each call, by (choice index, tool_call_index): send it back
        #: with the call (``thought_signature`` on the tool call) in the next request.
        self.tool_call_signatures: dict[tuple[int, int], str] = {}
        #: Calls the stream itself answered with a ``functionResponse`` (server-side):
        #: (choice index, tool_call_index).
        self.server_executed_calls: list[tuple[int, int]] = []
        #: ``finishMessage`` per candidate, when Gemini explains its finish reason.
        self.finish_messages: dict[int, str] = {}
        self._calls: dict[int, int] = {}  # choice -> calls emitted
        self._names: dict[int, list[tuple[str, str | None, int]]] = {}  # (name, id, index)
        self._streamed: dict[int, _StreamedCall] = {}  # choice -> open Vertex call
        self._candidates: set[int] = set()
        self._usage: Usage | None = None
        self._usage_of: dict[str, Any] | None = None

    @property
    def usage_final(self) -> bool:
        """Every chunk repeats the usage, growing: only a finished stream's is final."""
        return self.done

    @property
    def usage(self) -> Usage | None:
        """The last ``usageMetadata``, normalised when asked for: every chunk restates
        it, and normalising each one would be a quarter of the parse cost."""
        raw = self.raw_usage
        if raw is None:
            return None
        if raw is not self._usage_of:
            self._usage = normalise_gemini_usage(raw)
            self._usage_of = raw
        return self._usage

    @usage.setter
    def usage(self, value: Usage | None) -> None:
        # Only ParserBase's initial None comes through here: usage follows raw_usage.
        if value is not None:
            raise AttributeError("GeminiParser.usage follows raw_usage; set that instead")

    def metadata(self) -> dict[str, Any]:
        """Code execution, grounding and URL-context parts, thought signatures and
        finish messages, as Gemini sent them."""
        data: dict[str, Any] = {}
        if self.extras:
            data["extras"] = list(self.extras)
        if self.thought_signatures:
            data["thought_signatures"] = list(self.thought_signatures)
        if self.finish_messages:
            data["finish_messages"] = dict(self.finish_messages)
        return data

    def tool_call_signature(self, choice_index: int, tool_call_index: int) -> str | None:
        return self.tool_call_signatures.get((choice_index, tool_call_index))

    def feed(self, sse: ServerSentEvent, out: list[StreamEvent]) -> None:
        self.feed_chunk(decode_object(self.provider, sse.data), out)

    def feed_response(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """A non-streaming ``generateContent`` body: one chunk holding everything."""
        self.feed_chunk(payload, out)
        for choice in list(self._streamed):
            self._close_streamed(choice, out)
        self.done = True

    def at_eof(self) -> None:
        # No end marker: complete when every candidate said why it finished.
        if self._candidates and all(c in self.finish_reasons for c in self._candidates):
            self.done = True

    def feed_chunk(self, payload: dict[str, Any], out: list[StreamEvent]) -> None:
        """One ``GenerateContentResponse`` (the data of one event)."""
        if "error" in payload:
            raise self._error(payload)
        candidates = payload.get("candidates")
        if candidates:
            for candidate in candidates:
                if candidate.__class__ is not dict:
                    continue
                choice = candidate.get("index", 0)
                if choice.__class__ is not int:
                    choice = 0
                self._candidates.add(choice)
                content = candidate.get("content")
                parts = content.get("parts") if content.__class__ is dict else None
                if parts.__class__ is list:
                    for part in parts:
                        if part.__class__ is not dict:
                            continue
                        if len(part) == 1 and "text" in part:
                            # The common case, a bare text part, without the general walk.
                            text = part["text"]
                            if text and text.__class__ is str:
                                self._emit(out, StreamDelta(text, "text", choice))
                        else:
                            self._part(choice, part, out)
                # Anything beside content and index (finishReason, grounding, ...).
                if len(candidate) > (2 if "index" in candidate else 1):
                    self._candidate_fields(choice, candidate, out)
        else:
            feedback = payload.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                raise self._blocked(payload, feedback)
        if self.response_id is None:
            rid = payload.get("responseId")
            if isinstance(rid, str) and rid:
                self.response_id = rid
        version = payload.get("modelVersion")
        if version and version != self.model and isinstance(version, str):
            self.model = version
        usage = payload.get("usageMetadata")
        if isinstance(usage, dict) and ("promptTokenCount" in usage or "totalTokenCount" in usage):
            # Each chunk restates the whole count (not always growing): keep the last.
            self.raw_usage = usage

    # -- parts --------------------------------------------------------------------------

    def _part(self, choice: int, part: dict[str, Any], out: list[StreamEvent]) -> None:
        call = part.get("functionCall")
        tool_index: int | None = None
        if isinstance(call, dict):
            tool_index = self._function_call(choice, call, out)
            kind = "functionCall"
        elif "text" in part:
            text = part.get("text")
            thought = bool(part.get("thought"))
            kind = "thought" if thought else "text"
            if isinstance(text, str) and text:
                self._emit(out, StreamDelta(text, "reasoning" if thought else "text", choice))
        else:
            kind = next((key for key in _EXTRA_PARTS if key in part), "unknown")
            value = part.get(kind, part)
            self.extras.append({"type": kind, "choice_index": choice, "value": value})
            if kind == "functionResponse" and isinstance(value, dict):
                self._answered(choice, value)
        signature = part.get("thoughtSignature")
        if isinstance(signature, str) and signature:
            self.thought_signatures.append(
                {
                    "signature": signature,
                    "part": kind,
                    "choice_index": choice,
                    "tool_call_index": tool_index,
                }
            )
            if tool_index is not None:
                self.tool_call_signatures[(choice, tool_index)] = signature
            self._emit(out, StreamDelta(signature, "reasoning", choice, is_signature=True))

    def _function_call(
        self, choice: int, call: dict[str, Any], out: list[StreamEvent]
    ) -> int | None:
        """Emit what a ``functionCall`` part adds; the caller's tool_call_index, if any."""
        name = call.get("name")
        streamed = self._streamed.get(choice)
        if name is not None and streamed is not None:
            self._close_streamed(choice, out)  # a new call ends the one being streamed
            streamed = None
        if streamed is None:
            if not isinstance(name, str) or not name:
                return None  # an empty closing part with nothing open
            client = self.client_tools is None or name in self.client_tools
            index: int | None = None
            call_id = call.get("id") if isinstance(call.get("id"), str) else None
            if client:
                index = self._calls.get(choice, 0)
                self._calls[choice] = index + 1
                self._names.setdefault(choice, []).append((name, call_id, index))
            else:
                self.extras.append(
                    {"type": "serverFunctionCall", "choice_index": choice, "value": call}
                )
            if call.get("willContinue") or "partialArgs" in call:
                streamed = self._streamed[choice] = _StreamedCall(index or 0, client)
                if index is not None:
                    self._emit(out, StreamDelta("", "tool_call", choice, index, call_id, name))
            else:
                if index is not None:
                    args = call.get("args")
                    text = json.dumps(args if args is not None else {}, ensure_ascii=False)
                    self._emit(out, StreamDelta(text, "tool_call", choice, index, call_id, name))
                return index
        pieces = "".join(
            streamed.piece(arg) for arg in call.get("partialArgs") or [] if isinstance(arg, dict)
        )
        if pieces and streamed.client:
            self._emit(out, StreamDelta(pieces, "tool_call", choice, streamed.index))
        result = streamed.index if streamed.client else None
        if not call.get("willContinue"):
            self._close_streamed(choice, out)
        return result

    def _close_streamed(self, choice: int, out: list[StreamEvent]) -> None:
        streamed = self._streamed.pop(choice, None)
        if streamed is not None:
            tail = streamed.close()
            if streamed.client:
                self._emit(out, StreamDelta(tail, "tool_call", choice, streamed.index))

    def _answered(self, choice: int, response: dict[str, Any]) -> None:
        """A ``functionResponse`` in the model's own output: the server ran that call."""
        name, call_id = response.get("name"), response.get("id")
        for position, (called, called_id, index) in enumerate(self._names.get(choice, [])):
            if called == name and (call_id is None or call_id == called_id):
                del self._names[choice][position]
                self.server_executed_calls.append((choice, index))
                self._finish(choice, self.raw_finish_reasons.get(choice))
                return

    def _candidate_fields(
        self, choice: int, candidate: dict[str, Any], out: list[StreamEvent]
    ) -> None:
        for key in _EXTRA_FIELDS:
            value = candidate.get(key)
            if value:
                self.extras.append({"type": key, "choice_index": choice, "value": value})
        message = candidate.get("finishMessage")
        if isinstance(message, str):
            self.finish_messages[choice] = message
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            if choice in self._streamed:
                self._close_streamed(choice, out)
            self._finish(choice, reason)

    def _finish(self, choice: int, reason: str | None) -> None:
        if reason is None:
            return
        self.raw_finish_reasons[choice] = reason
        mapped = _FINISH.get(reason, reason)
        if mapped == "stop" and self._names.get(choice):
            mapped = "tool_calls"  # Gemini says STOP when it calls the caller's functions
        self.finish_reasons[choice] = mapped

    # -- errors -------------------------------------------------------------------------

    def _error(self, payload: dict[str, Any]) -> ProviderError:
        error = payload.get("error")
        if not isinstance(error, dict):
            return error_from_payload(self.provider, payload)
        normal = dict(error)
        code = error.get("code")
        status = error.get("status")
        if isinstance(status, str):
            normal["type"] = status
        if isinstance(code, int) and not isinstance(code, bool):
            normal["status_code"] = code
        elif isinstance(status, str) and status in _RPC_STATUS:
            normal["status_code"] = _RPC_STATUS[status]
        exc = error_from_payload(self.provider, {"error": normal})
        exc.body = payload
        return exc

    def _blocked(self, payload: dict[str, Any], feedback: dict[str, Any]) -> ProviderError:
        reason = feedback.get("blockReason")
        message = f"the prompt was blocked: {reason}"
        detail = feedback.get("blockReasonMessage")
        if isinstance(detail, str) and detail:
            message += f" ({detail})"
        return BadRequestError(
            message + "; rephrase the prompt or adjust safetySettings",
            provider=self.provider,
            status_code=400,
            is_retryable=False,
            error_type="prompt_blocked",
            body=payload,
            in_stream=True,
        )


def normalise_gemini_usage(raw: dict[str, Any]) -> Usage:
    """Gemini counts thoughts apart from candidates, and tool-use prompt tokens (a
    server-side tool's results read back) apart from the prompt; ours fold both in.
    ``cachedContentTokenCount`` is part of ``promptTokenCount``; missing counts are 0."""
    thoughts = _int(raw.get("thoughtsTokenCount"))
    return Usage.build(
        _int(raw.get("promptTokenCount")) + _int(raw.get("toolUsePromptTokenCount")),
        _int(raw.get("candidatesTokenCount")) + thoughts,
        cache_read_tokens=_int(raw.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
