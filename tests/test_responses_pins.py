"""The Responses API adapter, field by field: every request-building branch, the
non-streaming body, events without ``output_index`` or ``type``, the flat error shape,
usage conventions and the response's metadata. Each test states the value a caller
(or the provider) sees; the recordings in test_responses_parser.py cover the common
paths, these the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_responses_parser import gather, response, run, sse

from steer_trio._errors import (
    ConfigurationError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamProtocolError,
)
from steer_trio._events import StreamDeltaEvent, StreamEvent
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._responses import (
    OpenAIResponsesParser,
    build_responses_request,
    build_responses_resume_request,
    normalise_responses_usage,
)
from steer_trio._usage import Usage


def spec(**fields: Any) -> RequestSpec:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return RequestSpec(provider="openai", model="gpt-5", **fields)


def body(**fields: Any) -> dict[str, Any]:
    return build_responses_request(spec(**fields), None).json


def items(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    return body(messages=list(messages))["input"]


# -- the request: messages ----------------------------------------------------------------


def test_request_without_a_system_message_has_no_instructions() -> None:
    request = build_responses_request(spec(stream=False), None)
    assert request.headers == {"content-type": "application/json", "accept": "application/json"}
    assert request.json == {
        "model": "gpt-5",
        "input": [{"role": "user", "content": "hi"}],
        "store": False,
    }


def test_only_a_leading_system_message_becomes_instructions() -> None:
    got = body(
        messages=[
            {"role": "developer", "content": "Use metric."},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ]
    )
    assert "instructions" not in got
    assert got["input"] == [
        {"role": "developer", "content": "Use metric."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_instructions_from_content_parts() -> None:
    system = {"role": "system", "content": [{"type": "text", "text": "Be "}, "brief", {}]}
    assert body(messages=[system])["instructions"] == "Be brief"
    assert body(messages=[{"role": "system", "content": None}])["instructions"] == ""


def test_messages_without_role_or_content() -> None:
    assert items({"content": "hi"}, {"role": "user"}) == [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": ""},
    ]


def test_assistant_turns_with_and_without_text() -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": "{}"}}
    assert items(
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "assistant", "content": None},
    ) == [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"role": "assistant", "content": ""},
    ]


def test_function_calls_and_results_with_missing_fields() -> None:
    assert items(
        {"role": "assistant", "tool_calls": [{"function": {"arguments": {"città": "Zürich"}}}]},
        {"role": "assistant", "tool_calls": [{"id": "c2", "function": {"name": "g"}}]},
        {"role": "tool", "content": "done"},
    ) == [
        {"type": "function_call", "call_id": "", "name": "", "arguments": '{"città": "Zürich"}'},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "", "output": "done"},
    ]


def test_content_parts_become_input_parts() -> None:
    parts: list[Any] = [
        "plain",
        {"type": "text"},
        {"type": "image_url", "image_url": "https://x/cat.png"},
        {"type": "image_url", "image_url": {"url": "https://x/dog.png"}},
        {"type": "file", "file": {"file_id": "file_1"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a"}},
        {"type": "file"},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
    ]
    assert items({"role": "user", "content": parts})[0]["content"] == [
        {"type": "input_text", "text": "plain"},
        {"type": "input_text", "text": ""},
        {"type": "input_image", "image_url": "https://x/cat.png"},
        {"type": "input_image", "image_url": "https://x/dog.png"},
        {"type": "input_file", "file_id": "file_1"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AA", "filename": "a"},
        {"type": "input_file"},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
    ]


@pytest.mark.parametrize("image", [{"url": ""}, {}, "", None])
def test_an_image_part_needs_its_url(image: Any) -> None:
    part = {"type": "image_url", "image_url": image}
    with pytest.raises(ConfigurationError) as info:
        items({"role": "user", "content": [part]})
    assert info.value.message == "an image_url content part needs image_url.url"


# -- the request: options ----------------------------------------------------------------


def test_stop_sequences_are_refused_with_the_way_out() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(stop="END")
    assert info.value.message == (
        "the Responses API has no stop sequences: drop stop=..., or use the Chat "
        "Completions API (api='chat') for this model"
    )


def test_reasoning_settings_fold_into_reasoning() -> None:
    assert body(extra={"reasoning_effort": "low"})["reasoning"] == {"effort": "low"}
    assert body(extra={"reasoning_summary": "auto"})["reasoning"] == {"summary": "auto"}
    folded = body(extra={"reasoning": {"summary": "detailed"}, "reasoning_effort": "high"})
    assert folded["reasoning"] == {"summary": "detailed", "effort": "high"}


def test_json_schema_defaults_and_description() -> None:
    fmt = {"type": "json_schema", "json_schema": {"description": "A number.", "strict": False}}
    assert body(response_format=fmt)["text"] == {
        "format": {
            "type": "json_schema",
            "name": "response",
            "schema": {"type": "object"},
            "description": "A number.",
            "strict": False,
        }
    }


def test_an_unsupported_response_format_names_what_is() -> None:
    with pytest.raises(ConfigurationError) as info:
        body(response_format={"type": "xml"})
    assert info.value.message == (
        "response_format type 'xml' is not supported by the Responses API: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


def test_tools_in_every_shape() -> None:
    tools = [
        {"type": "custom", "name": "sh", "description": "Run a command."},  # Responses' own
        {"type": "function", "name": "f"},  # Responses' flat function, no parameters
        {"type": "custom_grammar", "custom": {"name": "sql", "format": {"type": "text"}}},
        {"name": "g", "parameters": {"type": "object"}, "strict": False},
    ]
    assert body(tools=tools)["tools"] == [
        {"type": "custom", "name": "sh", "description": "Run a command."},
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "sql", "format": {"type": "text"}},
        {"type": "function", "name": "g", "parameters": {"type": "object"}, "strict": False},
    ]


def test_tool_choice_in_every_shape() -> None:
    mcp = {"type": "mcp", "server_label": "deepwiki", "name": "ask_question"}
    assert body(tool_choice="none")["tool_choice"] == "none"
    assert body(tool_choice=mcp)["tool_choice"] == mcp  # a built-in's own shape, as is
    assert body(tool_choice={"type": "function", "name": "f"})["tool_choice"] == {
        "type": "function",
        "name": "f",
    }


@pytest.mark.parametrize("choice", [{"name": 3}, {"name": ""}, "any"])
def test_a_tool_choice_that_is_not_understood(choice: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        body(tool_choice=choice)
    assert info.value.message == (
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


def test_resume_request_is_a_streaming_get() -> None:
    request = build_responses_resume_request("resp_1", 7, "sk")
    assert request.path == "/responses/resp_1?stream=true&starting_after=7"
    assert request.method == "GET" and request.json == {}
    assert request.headers == {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "authorization": "Bearer sk",
    }
    with pytest.raises(ConfigurationError) as info:
        build_responses_resume_request("", 7, None)
    assert info.value.message == "resuming needs the response id (parser.response_id)"


# -- the stream -----------------------------------------------------------------------------


def deltas_of(*events: bytes) -> tuple[OpenAIResponsesParser, list[StreamDeltaEvent]]:
    return run(list(events))


def data_only(payload: dict[str, Any]) -> bytes:
    """An event without an ``event:`` line: only the payload's ``type`` names it."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def test_events_named_only_by_their_type_or_only_by_the_event_line() -> None:
    _, deltas = deltas_of(
        data_only({"type": "response.output_text.delta", "delta": "a"}),
        b'event: response.output_text.delta\ndata: {"delta": "b"}\n\n',
    )
    assert gather(deltas)["text"] == "ab"


def test_lifecycle_events_keep_id_model_and_status() -> None:
    parser = OpenAIResponsesParser("openai", "gpt-5")
    assert parser.status is None and parser.provider == "openai" and parser.model == "gpt-5"
    run([sse("response.created", {"response": response("in_progress", model="gpt-5-x")})], parser)
    assert (parser.response_id, parser.model, parser.status) == ("resp_1", "gpt-5-x", "in_progress")
    parser = OpenAIResponsesParser("openai", "gpt-5")
    run(
        [
            sse("response.queued", {"response": response("queued")}),
            sse("response.in_progress", {"response": {"status": "in_progress", "model": "m2"}}),
        ],
        parser,
    )
    assert (parser.model, parser.status) == ("m2", "in_progress")


def test_an_id_or_model_that_is_not_a_string_is_ignored() -> None:
    parser, _ = deltas_of(sse("response.created", {"response": {"id": 5, "model": 7}}))
    assert parser.response_id is None and parser.model == "gpt-requested"


def test_tool_call_deltas_belong_to_choice_0_and_fall_back_to_the_item_id() -> None:
    item = {"type": "function_call", "id": "fc_1", "name": "f", "arguments": '{"a": '}
    _, deltas = deltas_of(
        sse("response.output_item.added", {"output_index": 0, "item": item}),
        sse("response.function_call_arguments.delta", {"output_index": 0, "delta": "1}"}),
        sse("response.function_call_arguments.delta", {"output_index": 0, "delta": {"x": 1}}),
    )
    assert [d.delta.value for d in deltas] == ["", '{"a": ', "1}"]
    assert {d.delta.choice_index for d in deltas} == {0}
    assert gather(deltas)["calls"] == [{"id": "fc_1", "name": "f", "arguments": '{"a": 1}'}]


def test_arguments_for_a_call_never_announced_are_kept() -> None:
    _, deltas = deltas_of(
        sse("response.function_call_arguments.delta", {"output_index": 3, "delta": '{"a"'}),
        sse("response.function_call_arguments.delta", {"output_index": 3, "delta": ": 1}"}),
    )
    assert gather(deltas)["calls"] == [{"id": None, "name": None, "arguments": '{"a": 1}'}]


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("response.function_call_arguments.done", "arguments"),
        ("response.custom_tool_call_input.done", "input"),
    ],
)
def test_arguments_that_arrive_only_at_their_done_event(kind: str, field: str) -> None:
    item = {"type": "function_call", "call_id": "c1", "name": "f"}
    parser, deltas = deltas_of(
        sse("response.output_item.added", {"output_index": 0, "item": item}),
        sse(kind, {"output_index": 0, field: "whole"}),
        sse(kind, {"output_index": 5, field: "unannounced"}),
    )
    assert gather(deltas)["calls"] == [
        {"id": "c1", "name": "f", "arguments": "whole"},
        {"id": None, "name": None, "arguments": "unannounced"},
    ]
    assert not parser.done


def test_custom_tool_input_streams_piece_by_piece() -> None:
    item = {"type": "custom_tool_call", "call_id": "c9", "name": "sh", "input": ""}
    _, deltas = deltas_of(
        sse("response.output_item.added", {"output_index": 0, "item": item}),
        sse("response.custom_tool_call_input.delta", {"output_index": 0, "delta": "ls "}),
        sse("response.custom_tool_call_input.delta", {"output_index": 0, "delta": "-la"}),
    )
    assert [d.delta.value for d in deltas] == ["", "ls ", "-la"]


def test_a_call_item_that_is_only_ever_done_streams_its_arguments() -> None:
    item = {"type": "custom_tool_call", "call_id": "c9", "name": "sh", "input": "ls"}
    _, deltas = deltas_of(sse("response.output_item.done", {"output_index": 2, "item": item}))
    assert gather(deltas)["calls"] == [{"id": "c9", "name": "sh", "arguments": "ls"}]


def test_items_without_output_index_never_collide() -> None:
    def call(n: int) -> dict[str, Any]:
        return {"type": "function_call", "call_id": f"c{n}", "name": "f", "arguments": str(n)}

    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    parser, deltas = deltas_of(
        sse("response.output_item.done", {"output_index": 0, "item": call(0)}),
        sse("response.output_item.done", {"output_index": 1, "item": search}),
        sse("response.output_item.done", {"item": call(1)}),  # would be 0 or 1
        sse("response.output_item.done", {"item": {**search, "id": "ws_2"}}),
        sse("response.output_item.done", {"item": call(2)}),
        sse("response.output_item.done", {"output_index": 2, "item": call(3)}),
    )
    assert [c["id"] for c in gather(deltas)["calls"]] == ["c0", "c1", "c2", "c3"]
    assert [c["arguments"] for c in gather(deltas)["calls"]] == ["0", "1", "2", "3"]
    assert [i["id"] for i in parser.builtin_items] == ["ws_1", "ws_2"]


def test_a_stream_without_output_index_keeps_one_call_together() -> None:
    item = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""}
    _, deltas = deltas_of(
        sse("response.output_item.added", {"item": item}),
        sse("response.function_call_arguments.delta", {"delta": '{"a"'}),
        sse("response.function_call_arguments.delta", {"delta": ": 1}"}),
    )
    assert gather(deltas)["calls"] == [{"id": "c1", "name": "f", "arguments": '{"a": 1}'}]


def test_a_new_reasoning_part_starts_a_new_paragraph() -> None:
    def text(delta: Any, **where: Any) -> bytes:
        return sse("response.reasoning_text.delta", {"delta": delta, **where})

    _, deltas = deltas_of(
        text("a", item_id="r1", output_index=0, content_index=0),
        text("b", item_id="r1", output_index=0, content_index=0),
        text("c", item_id="r1", output_index=0, content_index=1),
        text("d", item_id="r2", output_index=0, content_index=1),
        text("e", item_id="r2", output_index=1, content_index=1),
        text(5, item_id="r2", output_index=1, content_index=1),  # not text: nothing
        sse("response.reasoning_summary_text.delta", {"delta": "f", "item_id": "r2"}),
        sse("response.reasoning_summary_text.delta", {"delta": "g", "item_id": "r2"}),
    )
    assert gather(deltas)["reasoning"] == "ab\n\nc\n\nd\n\ne\n\nfg"
    summary_then_text = deltas_of(
        sse("response.reasoning_summary_text.delta", {"delta": "s", "item_id": "r"}),
        sse("response.reasoning_text.delta", {"delta": "t", "item_id": "r"}),
    )[1]
    assert gather(summary_then_text)["reasoning"] == "s\n\nt"


def test_incomplete_without_details_is_length() -> None:
    parser, _ = deltas_of(sse("response.incomplete", {"response": response("incomplete")}))
    assert parser.finish_reasons == {0: "length"}
    assert parser.raw_finish_reasons == {0: "incomplete"}


# -- errors --------------------------------------------------------------------------------


def test_a_failed_response_records_its_id_and_status() -> None:
    parser = OpenAIResponsesParser("azure", "gpt-5")
    failed = response("failed", error={"code": "rate_limit_exceeded", "message": "slow"})
    with pytest.raises(RateLimitError) as info:
        run([sse("response.failed", {"response": failed})], parser)
    assert info.value.provider == "azure"
    assert parser.response_id == "resp_1" and parser.status == "failed"


def test_a_failure_without_a_response_is_a_retryable_server_error() -> None:
    with pytest.raises(ServerError) as info:
        deltas_of(sse("response.failed", {}))
    err = info.value
    assert err.message == "the response failed without saying why"
    assert err.error_type == "server_error" and err.is_retryable
    assert err.provider == "openai"


def test_the_flat_error_shape_keeps_provider_body_and_a_numeric_code() -> None:
    parser = OpenAIResponsesParser("xai", "grok-4")
    flat = {"type": "error", "code": 429, "message": "slow down"}
    with pytest.raises(RateLimitError) as info:
        run([data_only(flat)], parser)
    assert info.value.provider == "xai" and info.value.body == flat
    nested = {"type": "error", "error": {"type": "server_error", "message": "boom"}}
    with pytest.raises(ServerError) as info2:
        run([data_only(nested)], parser)
    assert info2.value.provider == "xai"


def test_an_event_named_error_is_an_error_whatever_its_type_says() -> None:
    payload = {"type": "invalid_request_error", "code": "invalid_request_error", "message": "m"}
    with pytest.raises(ProviderError) as info:
        deltas_of(b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n")
    assert info.value.message == "m"


def test_a_line_that_is_not_json_names_the_provider() -> None:
    parser = OpenAIResponsesParser("azure", "gpt-5")
    with pytest.raises(StreamProtocolError) as info:
        run([b"data: {nope\n\n"], parser)
    assert info.value.message == "azure sent a data line that is not JSON: '{nope'"


# -- the non-streaming body ------------------------------------------------------------------


def feed_body(payload: dict[str, Any]) -> tuple[OpenAIResponsesParser, list[StreamDeltaEvent]]:
    parser = OpenAIResponsesParser("openai", "gpt-5")
    out: list[StreamEvent] = []
    parser.feed_response(payload, out)
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert len(deltas) == len(out)
    return parser, deltas


MESSAGE = {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "failed", "output": [MESSAGE]},  # failed, whatever came before
        {"error": {"code": "server_error", "message": "boom"}},  # no status, no output
    ],
)
def test_a_failed_body_raises(payload: dict[str, Any]) -> None:
    with pytest.raises(ServerError):
        feed_body(payload)


def test_a_body_with_output_and_an_error_object_keeps_the_output() -> None:
    payload = response("incomplete", output=[MESSAGE], error={"code": "server_error"})
    parser, deltas = feed_body(payload)
    assert gather(deltas)["text"] == "hi" and parser.done


def test_an_empty_completed_body_is_done_with_nothing() -> None:
    parser, deltas = feed_body(response("completed", output=[]))
    assert deltas == [] and parser.done and parser.finish_reasons == {0: "stop"}


def test_a_body_skips_what_is_not_an_object_or_not_text() -> None:
    message = {
        "type": "message",
        "content": [
            "junk",
            {"type": "output_text", "text": "a"},
            {"type": "reasoning_text", "text": "not the answer"},
            {"type": "refusal", "refusal": ""},
            {"type": "refusal", "refusal": "no"},
        ],
    }
    _, deltas = feed_body(response("completed", output=[5, message]))
    assert [(d.delta.kind, d.delta.value) for d in deltas] == [("text", "a"), ("refusal", "no")]


def test_a_body_with_several_calls_builtins_and_reasoning() -> None:
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"text": "a"}, "junk", {"text": ""}, {"text": "b"}],
        "content": [{"text": "c"}, {"text": "d"}],
    }
    second = {**reasoning, "id": "rs_2", "summary": [{"text": "e"}], "content": []}
    output = [
        reasoning,
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "sh", "input": "ls"},
        {"type": "web_search_call", "id": "ws_1"},
        {"type": "web_search_call", "id": "ws_2"},
        second,
    ]
    parser, deltas = feed_body(response("completed", output=output))
    got = gather(deltas)
    assert got["reasoning"] == "a\n\nb\n\nc\n\nd\n\ne"
    assert got["calls"] == [
        {"id": "c1", "name": "f", "arguments": "{}"},
        {"id": "c2", "name": "sh", "arguments": "ls"},
    ]
    assert parser.reasoning_items == [reasoning, second]
    assert parser.metadata() == {
        "builtin_items": [{"type": "web_search_call", "id": "ws_1"}, output[4]],
        "reasoning_items": [reasoning, second],
    }
    assert parser.finish_reasons == {0: "tool_calls"}


def test_metadata_holds_only_what_was_seen() -> None:
    assert OpenAIResponsesParser("openai", "m").metadata() == {}
    message = {"type": "message", "phase": "final_answer", "content": []}
    parser, _ = deltas_of(sse("response.output_item.done", {"output_index": 4, "item": message}))
    assert parser.metadata() == {"phases": {4: "final_answer"}}


# -- usage -----------------------------------------------------------------------------------


def test_usage_without_details_and_with_the_other_cache_write_name() -> None:
    assert normalise_responses_usage({"input_tokens": 5, "output_tokens": 2}) == Usage.build(5, 2)
    written = {"input_tokens": 5, "input_tokens_details": {"cache_write_tokens": 4}}
    assert normalise_responses_usage(written) == Usage.build(5, 0, cache_write_tokens=4)


def test_usage_whose_total_adds_reasoning_on_top() -> None:
    raw = {
        "input_tokens": 10,
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 18,
    }
    assert normalise_responses_usage(raw) == Usage.build(10, 8, reasoning_tokens=3)
    assert normalise_responses_usage({**raw, "total_tokens": 15}) == Usage.build(
        10, 5, reasoning_tokens=3
    )


def test_a_body_keeps_reasoning_items_apart_and_phases_by_position() -> None:
    first = {"type": "reasoning", "id": "rs_1", "summary": [{"text": "a"}]}
    second = {"type": "reasoning", "id": "rs_2", "summary": [{"text": "b"}]}
    message = {"type": "message", "phase": "final_answer", "content": []}
    parser, deltas = feed_body(response("completed", output=[first, second, message]))
    assert gather(deltas)["reasoning"] == "a\n\nb"
    assert parser.phases == {2: "final_answer"}
