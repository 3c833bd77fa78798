"""The Gemini adapter, field by field: every request-building branch, streamed
(``partialArgs``) arguments of every value type and nesting, in-stream errors by
google.rpc status, blocked prompts, calls the stream answers itself, and the
response's metadata. Each test states the value a caller (or Gemini) sees; the
recordings in test_gemini_parser.py cover the common paths, these the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_gemini_parser import gather

from steer_trio._errors import (
    BadRequestError,
    ConfigurationError,
    ProviderError,
    ServerError,
    StreamProtocolError,
)
from steer_trio._events import StreamDeltaEvent, StreamEvent
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._gemini import GeminiParser, build_gemini_request, client_function_names
from steer_trio._sse import ServerSentEvent


def spec(**fields: Any) -> RequestSpec:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return RequestSpec(provider="gemini", model="gemini-2.5-flash", **fields)


def body(**fields: Any) -> dict[str, Any]:
    return build_gemini_request(spec(**fields), None).json


def contents(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    return body(messages=list(messages))["contents"]


def refused(**fields: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        body(**fields)
    return info.value.message


# -- the request ----------------------------------------------------------------------------


def test_request_headers_and_an_escaped_model_path() -> None:
    request = build_gemini_request(
        RequestSpec(provider="gemini", model="tuned/my model", messages=[]), "gk"
    )
    assert request.path == "/models/tuned%2Fmy%20model:streamGenerateContent?alt=sse"
    assert request.headers == {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "x-goog-api-key": "gk",
    }


def test_candidate_count_only_above_one() -> None:
    assert body(n=2)["generationConfig"] == {"candidateCount": 2}
    assert "generationConfig" not in body(n=1)


@pytest.mark.parametrize("key", ["generationConfig", "generation_config"])
def test_generation_config_in_extra_merges_in_either_spelling(key: str) -> None:
    got = body(max_tokens=9, extra={key: {"topK": 3}, "top_k": 2, "seed": 1})
    assert got == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 9, "topK": 3, "seed": 1},
    }


def test_system_and_developer_messages_become_the_system_instruction() -> None:
    got = body(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "Be "}, "brief", {}]},
            {"role": "developer", "content": None},
            {"role": "user", "content": "hi"},
        ]
    )
    assert got["systemInstruction"] == {"parts": [{"text": "Be brief"}, {"text": ""}]}
    assert got["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_user_content_of_every_shape() -> None:
    parts: list[Any] = [
        "plain",
        {"type": "text"},
        {"type": "image_url", "image_url": "https://x.example/a.png?size=2"},
        {"type": "image_url", "image_url": {"url": "https://x.example/b.png?a=1?b=2"}},
        {"type": "image_url", "image_url": {"url": "https://x.example/file"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "AA"}},
    ]
    assert contents({"role": "user", "content": parts}, {"role": "user"}, {"content": 5}) == [
        {
            "role": "user",
            "parts": [
                {"text": "plain"},
                {"text": ""},
                {
                    "fileData": {
                        "fileUri": "https://x.example/a.png?size=2",
                        "mimeType": "image/png",
                    }
                },
                {
                    "fileData": {
                        "fileUri": "https://x.example/b.png?a=1?b=2",
                        "mimeType": "image/png",
                    }
                },
                {"fileData": {"fileUri": "https://x.example/file"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "AA"}},
                {"text": ""},
                {"text": "5"},
            ],
        }
    ]


@pytest.mark.parametrize("image", [{"url": ""}, {}, "", None])
def test_an_image_part_needs_its_url(image: Any) -> None:
    message = {"role": "user", "content": [{"type": "image_url", "image_url": image}]}
    assert refused(messages=[message]) == "an image_url content part needs image_url.url"


@pytest.mark.parametrize(
    "url", ["data:image/png,QUJD", "data:image/png;base64", "data:;base64,QUJD"]
)
def test_an_image_data_url_must_be_base64_with_a_type(url: str) -> None:
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    assert refused(messages=[message]) == (
        f"an image data URL must look like data:image/png;base64,<data> (got {url[:40]!r}...)"
    )


def test_a_long_bad_data_url_is_cut_in_the_message() -> None:
    url = "data:image/png;utf8," + "x" * 60
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    assert refused(messages=[message]).endswith(f"(got {url[:40]!r}...)")


@pytest.mark.parametrize("kind", ["input_audio", "file"])
def test_audio_and_file_parts_are_refused_with_the_way_out(kind: str) -> None:
    message = {"role": "user", "content": [{"type": kind, kind: {}}]}
    assert refused(messages=[message]) == (
        f"a {kind!r} content part is not translated for Gemini; pass "
        "Gemini's own part ({'inlineData': {...}} or {'fileData': {...}})"
    )


def test_assistant_text_and_calls_with_every_signature_spelling() -> None:
    def call(call_id: Any, **fields: Any) -> dict[str, Any]:
        function = {"name": "f", **fields.pop("function", {})}
        return {"id": call_id, "function": function, **fields}

    got = contents(
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                call("a", function={"arguments": {"x": 1}}, thoughtSignature="S1"),
                call("", function={"thought_signature": "S2", "arguments": "  "}),
                call(5, function={"thoughtSignature": "S3"}),
                {"function": {}},
            ],
        },
        {"role": "assistant", "content": None},  # nothing to say: no turn of its own
    )
    assert got == [
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "f", "args": {"x": 1}, "id": "a"},
                    "thoughtSignature": "S1",
                },
                {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "S2"},
                {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "S3"},
                {"functionCall": {"name": "", "args": {}}},
            ],
        }
    ]


def test_arguments_that_are_not_json_are_refused() -> None:
    message = {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"arguments": "{x"}}]}
    assert refused(messages=[message]) == "tool call 'c1' has arguments that are not JSON: '{x'"
    long = "{" + "x" * 100
    message = {"role": "assistant", "tool_calls": [{"function": {"arguments": long}}]}
    assert refused(messages=[message]).endswith(f"not JSON: {long[:80]!r}")


def test_tool_results_found_by_id_by_name_and_by_position() -> None:
    calls = [
        {"id": "id1", "function": {"name": "a", "arguments": "{}"}},
        {"id": "id2", "function": {"name": "b", "arguments": "{}"}},
    ]
    got = contents(
        {"role": "assistant", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "id2", "content": "[1, 2]"},  # out of order: by id
        {"role": "tool", "tool_call_id": "nope", "name": "a", "content": "42"},
        {"role": "tool", "name": "c", "content": [{"type": "text", "text": '{"k": 1}'}]},
    )
    assert got[1] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "b", "response": {"output": [1, 2]}, "id": "id2"}},
            {"functionResponse": {"name": "a", "response": {"output": 42}}},
            {"functionResponse": {"name": "c", "response": {"k": 1}}},
        ],
    }


def test_a_tool_result_by_name_before_any_call() -> None:
    got = contents({"role": "tool", "name": "f", "content": "done"})
    assert got == [
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {"output": "done"}}}],
        }
    ]


def test_a_tool_result_without_a_name_says_how_to_give_one() -> None:
    assert refused(messages=[{"role": "tool", "content": "x"}]) == (
        "a tool result for Gemini needs its function's name: give the tool "
        "message 'name', or a 'tool_call_id' that matches an earlier call"
    )


def test_tools_of_every_shape() -> None:
    tools = [
        {"googleSearch": {}},
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"name": "g"},
        {"type": "mcp", "name": "server"},  # not a function: passed to Gemini as is
    ]
    assert body(tools=tools)["tools"] == [
        {
            "functionDeclarations": [
                {"name": "f", "parametersJsonSchema": {"type": "object"}},
                {"name": "g"},
            ]
        },
        {"googleSearch": {}},
        {"type": "mcp", "name": "server"},
    ]


def test_an_openai_custom_tool_is_refused() -> None:
    tool = {"type": "custom", "custom": {"name": "sh"}}
    assert refused(tools=[tool]) == (
        "tool 'sh' is an OpenAI custom (free-form) tool, which Gemini does not have: "
        "define it with a JSON schema of its parameters"
    )


def test_tool_choice_any_and_by_name() -> None:
    assert body(tool_choice="any")["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body(tool_choice={"name": "f"})["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }


@pytest.mark.parametrize("choice", [{"name": 3}, {"name": ""}, "auto-ish"])
def test_a_tool_choice_that_is_not_understood(choice: Any) -> None:
    assert refused(tool_choice=choice) == (
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


def test_response_formats() -> None:
    assert "generationConfig" not in body(response_format={"type": "text"})
    no_schema = {"type": "json_schema", "json_schema": {"name": "N"}}
    assert body(response_format=no_schema)["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    assert refused(response_format={"type": "xml"}) == (
        "response_format type 'xml' is not supported for Gemini: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


def test_client_function_names_from_every_declaration() -> None:
    request = spec(
        tools=[{"name": "a"}, {"type": "function", "function": {"name": "b"}}],
        extra={
            "tools": [
                {"function_declarations": [{"description": "no name"}, "junk", {"name": "c"}]},
                {"functionDeclarations": [{"name": "d"}]},
                "junk",
                {"name": 5},
            ]
        },
    )
    assert client_function_names(request) == {"a", "b", "c", "d"}


# -- the stream ------------------------------------------------------------------------------


def feed(
    *chunks: dict[str, Any], parser: GeminiParser | None = None
) -> tuple[GeminiParser, list[StreamDeltaEvent]]:
    parser = parser or GeminiParser("gemini", "m")
    out: list[StreamEvent] = []
    for chunk in chunks:
        parser.feed_chunk(chunk, out)
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert len(deltas) == len(out)
    return parser, deltas


def parts(*items: dict[str, Any], **candidate: Any) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": list(items)}, **candidate}]}


def streamed(*args: dict[str, Any], more: bool = True, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"partialArgs": list(args), "willContinue": more}
    if name is not None:
        call["name"] = name
    return parts({"functionCall": call})


def arguments_of(*chunks: dict[str, Any]) -> str:
    _, deltas = feed(streamed(name="f"), *chunks)
    (call,) = gather(deltas)["calls"]
    text: str = call["arguments"]
    json.loads(text)
    return text


def test_streamed_arguments_of_every_type_and_nesting() -> None:
    text = arguments_of(
        streamed({"stringValue": "no path"}),  # nothing to place: nothing written
        streamed({"jsonPath": "$.s", "stringValue": "a", "willContinue": True}),
        streamed({"jsonPath": "$.s", "stringValue": "b", "willContinue": True}),
        streamed({"jsonPath": "$.s", "willContinue": True}),  # no text: the string goes on
        streamed({"jsonPath": "$.s", "stringValue": 123}),  # not text, and the end of it
        streamed({"jsonPath": "$.o.p", "stringValue": "x", "willContinue": True}),
        streamed({"jsonPath": "$.o.q.r", "numberValue": 1}),  # closes the string first
        streamed({"jsonPath": "$.o.q.t", "boolValue": False}),
        streamed({"jsonPath": "$.l[0]", "stringValue": 123}),  # not text: ""
        streamed({"jsonPath": "$.l[1][0]", "listValue": ["é"]}),
        streamed({"jsonPath": "$.m", "structValue": {"k": "ü"}}),
        streamed({"jsonPath": "$.n"}),
        streamed(more=False),
    )
    assert text == (
        '{"s":"ab","o":{"p":"x","q":{"r":1,"t":false}},"l":["",[["é"]]],"m":{"k": "ü"},"n":null}'
    )


def test_streamed_arguments_whose_root_is_a_list() -> None:
    assert (
        arguments_of(
            streamed({"jsonPath": "$[0]", "numberValue": 1}),
            streamed({"jsonPath": "$[1].a", "listValue": [2]}),
            streamed(more=False),
        )
        == '[1,{"a":[2]}]'
    )


def test_a_body_ending_inside_streamed_arguments_closes_them() -> None:
    parser = GeminiParser("gemini", "m")
    out: list[StreamEvent] = []
    parser.feed_response(
        streamed({"jsonPath": "$.a", "stringValue": "x", "willContinue": True}, name="f"), out
    )
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert gather(deltas)["calls"] == [{"id": None, "name": "f", "arguments": '{"a":"x"}'}]
    assert parser.done


def test_a_call_answered_in_the_stream_is_told_apart_by_name_and_id() -> None:
    def call(call_id: str) -> dict[str, Any]:
        return {"functionCall": {"name": "f", "id": call_id, "args": {}}}

    def answer(name: str, call_id: str | None) -> dict[str, Any]:
        response: dict[str, Any] = {"name": name, "response": {}}
        if call_id is not None:
            response["id"] = call_id
        return parts({"functionResponse": response})

    parser, _ = feed(
        parts(call("x"), call("y"), finishReason="STOP"),
        answer("other", None),
        answer("f", "zz"),
    )
    assert parser.server_executed_calls == []
    assert parser.finish_reasons == {0: "tool_calls"}
    feed(answer("f", "y"), parser=parser)
    assert parser.server_executed_calls == [(0, 1)]
    assert parser.finish_reasons == {0: "tool_calls"}  # x is still the caller's
    feed(answer("f", None), parser=parser)
    assert parser.server_executed_calls == [(0, 1), (0, 0)]
    assert parser.finish_reasons == {0: "stop"} and parser.raw_finish_reasons == {0: "STOP"}


def test_metadata_and_signatures_as_gemini_sent_them() -> None:
    assert GeminiParser("gemini", "m").metadata() == {}
    grounding = {"webSearchQueries": ["q"]}
    parser, _ = feed(
        parts(
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"},
            {"executableCode": {"code": "1"}},
            finishReason="STOP",
            finishMessage="done",
            groundingMetadata=grounding,
        )
    )
    assert parser.metadata() == {
        "extras": [
            {"type": "executableCode", "choice_index": 0, "value": {"code": "1"}},
            {"type": "groundingMetadata", "choice_index": 0, "value": grounding},
        ],
        "thought_signatures": [
            {"signature": "c2ln", "part": "functionCall", "choice_index": 0, "tool_call_index": 0}
        ],
        "finish_messages": {0: "done"},
    }
    assert parser.tool_call_signature(0, 0) == "c2ln"
    assert parser.tool_call_signature(0, 1) is None


# -- errors ---------------------------------------------------------------------------------


def raised(error: Any, provider: str = "gemini") -> ProviderError:
    with pytest.raises(ProviderError) as info:
        feed({"error": error}, parser=GeminiParser(provider, "m"))
    assert info.value.body == {"error": error}
    return info.value


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"message": "m", "status": "ABORTED"}, BadRequestError, 409),
        ({"message": "m", "status": "ALREADY_EXISTS", "code": True}, BadRequestError, 409),
        ({"message": "m", "status": "UNAVAILABLE"}, ServerError, 503),
        ({"message": "m", "status": "DEADLINE_EXCEEDED"}, ServerError, 504),
        ({"message": "m", "status": "UNAVAILABLE", "code": 500}, ServerError, 500),
        ({"message": "m", "status": "NOT_A_STATUS"}, ServerError, 500),
    ],
)
def test_in_stream_errors_by_status_name_and_code(
    error: dict[str, Any], cls: type[ProviderError], status: int
) -> None:
    err = raised(error, provider="vertex")
    assert type(err) is cls and err.status_code == status
    assert err.provider == "vertex" and err.error_type == error["status"]


def test_an_error_that_is_only_text() -> None:
    err = raised("quota gone", provider="vertex")
    assert err.message == "quota gone" and err.provider == "vertex"


def test_a_blocked_prompt_says_why_and_what_to_do() -> None:
    feedback = {"blockReason": "OTHER", "blockReasonMessage": "not allowed"}
    with pytest.raises(BadRequestError) as info:
        feed({"promptFeedback": feedback}, parser=GeminiParser("vertex", "m"))
    err = info.value
    assert err.message == (
        "the prompt was blocked: OTHER (not allowed); rephrase the prompt or adjust safetySettings"
    )
    assert err.provider == "vertex" and err.status_code == 400 and err.is_retryable is False
    with pytest.raises(BadRequestError) as info:
        feed({"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": 5}})
    assert info.value.message == (
        "the prompt was blocked: SAFETY; rephrase the prompt or adjust safetySettings"
    )


# -- the stream, part by part -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("$['a b'][12]", '{"a b":[1]}'),
        ("$['X-Ray']", '{"X-Ray":1}'),
        ('$["é"].c.d', '{"é":{"c":{"d":1}}}'),
        ("plain", '{"plain":1}'),  # not a JSON path: one key
        ("$[unclosed", '{"unclosed":1}'),
    ],
)
def test_streamed_argument_paths(path: str, text: str) -> None:
    assert arguments_of(streamed({"jsonPath": path, "numberValue": 1}, more=False)) == text


def test_streamed_paths_that_name_nothing_write_nothing() -> None:
    assert (
        arguments_of(
            streamed({"jsonPath": "", "numberValue": 1}, {"jsonPath": 3, "numberValue": 2}),
            streamed({"jsonPath": "$.s", "stringValue": 'é "q" \\'}, more=False),
        )
        == '{"s":"é \\"q\\" \\\\"}'
    )


def test_partial_arguments_in_a_single_part() -> None:
    call = {"name": "f", "id": "c1", "partialArgs": [{"jsonPath": "$.a", "numberValue": 1}]}
    _, deltas = feed(parts({"functionCall": call}), parts({"text": "after"}))
    assert [d.delta.value for d in deltas] == ["", '{"a":1', "}", "after"]
    assert deltas[0].delta.tool_call_id == "c1"


def test_a_new_call_or_a_finish_reason_ends_the_streamed_one() -> None:
    open_call = {"name": "f", "willContinue": True, "partialArgs": []}
    parser, deltas = feed(
        parts({"functionCall": open_call}),
        parts({"functionCall": {"name": "g", "args": {"città": "Zürich"}}}),
        parts({"functionCall": {**open_call, "name": "h"}}),
        parts({"functionCall": {"partialArgs": [{"jsonPath": "$.x", "boolValue": True}]}}),
        parts(finishReason="STOP"),
    )
    assert [(c["name"], c["arguments"]) for c in gather(deltas)["calls"]] == [
        ("f", "{}"),
        ("g", '{"città": "Zürich"}'),
        ("h", '{"x":true}'),
    ]
    assert parser.finish_reasons == {0: "tool_calls"}


def test_every_delta_of_a_second_candidate_carries_its_index() -> None:
    streaming = {"name": "f", "id": "c1", "willContinue": True, "partialArgs": []}
    _, deltas = feed(
        parts({"text": "t", "thought": True}, index=1),
        parts({"text": "u", "thoughtSignature": "sig"}, index=1),
        parts({"functionCall": {"name": "w", "args": None}}, index=1),
        parts({"functionCall": streaming}, index=1),
        parts({"functionCall": {"partialArgs": [{"jsonPath": "$.a", "numberValue": 1}]}}, index=1),
        parts(index=1, finishReason="STOP"),
    )
    assert {d.delta.choice_index for d in deltas} == {1}
    assert [(d.delta.kind, d.delta.value) for d in deltas] == [
        ("reasoning", "t"),
        ("text", "u"),
        ("reasoning", "sig"),
        ("tool_call", "{}"),
        ("tool_call", ""),
        ("tool_call", '{"a":1'),
        ("tool_call", "}"),
    ]
    assert deltas[2].delta.is_signature and deltas[4].delta.tool_call_id == "c1"


def test_candidates_without_a_usable_index_are_choice_0() -> None:
    _, deltas = feed(
        {"candidates": [5, {"content": {"parts": [{"text": "a"}]}}]},
        {"candidates": [{"index": "1", "content": {"parts": [{"text": "b", "thought": False}]}}]},
    )
    assert [(d.delta.value, d.delta.choice_index) for d in deltas] == [("a", 0), ("b", 0)]


def test_signatures_record_the_kind_of_their_part() -> None:
    server = {"name": "mcp_tool", "willContinue": True, "partialArgs": []}
    parser, _ = feed(
        parts(
            {"text": "hm", "thought": True, "thoughtSignature": "s1"},
            {"text": "a", "thoughtSignature": "s2"},
            {"text": "b", "thoughtSignature": 5},
            {"functionCall": server, "thoughtSignature": "s3"},
        ),
        parser=GeminiParser("gemini", "m", client_tools=frozenset({"mine"})),
    )
    assert [(s["part"], s["tool_call_index"]) for s in parser.thought_signatures] == [
        ("thought", None),
        ("text", None),
        ("functionCall", None),
    ]
    assert parser.tool_call_signatures == {}
    assert parser.extras == [{"type": "serverFunctionCall", "choice_index": 0, "value": server}]


def test_a_streamed_call_keeps_its_signature() -> None:
    streaming = {"name": "f", "willContinue": True, "partialArgs": []}
    parser, _ = feed(
        parts({"functionCall": streaming}),
        parts({"functionCall": {"partialArgs": []}, "thoughtSignature": "s"}),
    )
    assert parser.tool_call_signatures == {(0, 0): "s"}


def test_parts_of_unknown_kinds_are_kept_whole() -> None:
    part = {"videoMetadata": {"fps": 1}}
    parser, deltas = feed(parts(part))
    assert deltas == []
    assert parser.extras == [{"type": "unknown", "choice_index": 0, "value": part}]


def test_a_server_tool_call_naming_a_caller_function_is_not_an_answer() -> None:
    parser, _ = feed(
        parts({"functionCall": {"name": "f", "args": {}}}),
        parts({"toolCall": {"name": "f", "id": None}}),
    )
    assert parser.server_executed_calls == []


def test_calls_with_a_bad_name_or_id() -> None:
    _, deltas = feed(
        parts({"functionCall": {"name": 5, "args": {}}}),
        parts({"functionCall": {"name": "f", "id": 5}}),
    )
    assert [(d.delta.tool_name, d.delta.tool_call_id, d.delta.value) for d in deltas] == [
        ("f", None, "{}")
    ]


def test_response_fields_of_the_wrong_type_are_ignored() -> None:
    parser, _ = feed(
        {"responseId": 5, "modelVersion": 5},
        {"modelVersion": ""},
        parts(finishReason=5),
    )
    assert parser.response_id is None and parser.model == "m"
    assert parser.finish_reasons == {} and parser.raw_finish_reasons == {}


def test_usage_needs_a_prompt_or_total_count() -> None:
    parser, _ = feed({"usageMetadata": {"candidatesTokenCount": 3}})
    assert parser.raw_usage is None
    feed({"usageMetadata": {"totalTokenCount": 7}}, parser=parser)
    assert parser.raw_usage == {"totalTokenCount": 7}


def test_a_line_that_is_not_json_names_the_provider() -> None:
    parser = GeminiParser("vertex", "m")
    with pytest.raises(StreamProtocolError) as info:
        parser.feed(ServerSentEvent(data="{nope"), [])
    assert info.value.message == "vertex sent a data line that is not JSON: '{nope'"


def test_a_finish_reason_ends_a_call_still_streaming() -> None:
    streaming = {"name": "f", "willContinue": True, "partialArgs": []}
    more = {"willContinue": True, "partialArgs": [{"jsonPath": "$.a", "numberValue": 1}]}
    parser, deltas = feed(
        parts({"functionCall": streaming}),
        parts({"functionCall": more}, finishReason="MAX_TOKENS"),
    )
    assert [d.delta.value for d in deltas] == ["", '{"a":1', "}"]
    assert parser.finish_reasons == {0: "length"}


def test_an_image_data_url_may_carry_parameters_before_base64() -> None:
    url = "data:image/png;name=a.png;base64,QUJD"
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    assert contents(message) == [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "QUJD"}}]}
    ]


@pytest.mark.parametrize(
    "url", ["data:image/png;base64;name=a.png,QUJD", "data:image/png;charset=x,QUJD"]
)
def test_an_image_data_url_must_end_its_parameters_with_base64(url: str) -> None:
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    assert refused(messages=[message]).startswith("an image data URL must look like")


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("$abc", ["abc"]),  # unreadable: one key, without its "$"
        ("$.x[0", ["x[0"]),  # unreadable: without its "$."
        ("$[1", ["1"]),
        ("$['q", ["q"]),
        ("$", []),
        ("$.a b", ["a b"]),
        ("$.a[2]['b c']", ["a", 2, "b c"]),
    ],
)
def test_json_paths_and_unreadable_ones(path: str, segments: list[Any]) -> None:
    from steer_trio._providers._gemini import _json_path

    assert _json_path(path) == segments
