"""The Anthropic parser, sans-IO: every recording, any re-chunking, and the request side."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conformance import anthropic_expected

from steer_trio import (
    ConfigurationError,
    OverloadedError,
    ServerSentEvent,
    SSEDecoder,
    StreamDeltaEvent,
    StreamEvent,
)
from steer_trio._providers._anthropic import (
    AnthropicParser,
    build_anthropic_request,
    json_tool_name_for,
)
from steer_trio._providers._base import RequestSpec
from steer_trio._response import ResponseBuilder, StreamingResponse

RECORDINGS = sorted((FIXTURES / "anthropic").glob("*.sse"))


def body_of(path: Path) -> bytes:
    body = path.read_bytes()
    # One recording lacks the blank line after its final event (a storage artifact).
    if body.endswith(b"\n\n"):
        return body
    return body + (b"\n" if body.endswith(b"\n") else b"\n\n")


def parse(body: bytes, points: list[int]) -> tuple[AnthropicParser, StreamingResponse]:
    decoder = SSEDecoder()
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    cuts = sorted({p % (len(body) + 1) for p in points})
    for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True):
        for sse in decoder.feed(body[a:b]):
            parser.feed(sse, out)
    builder = ResponseBuilder()
    for event in out:
        assert isinstance(event, StreamDeltaEvent)
        builder.add(event)
    return parser, builder.build(StreamingResponse())


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
@settings(max_examples=15, deadline=None)
@given(points=st.lists(st.integers(min_value=0, max_value=300_000), max_size=60))
def test_every_recording_any_chunking(path: Path, points: list[int]) -> None:
    expected = anthropic_expected(path)
    parser, response = parse(body_of(path), points)
    assert parser.done and parser.usage_final
    assert response.get_text() == expected["text"]
    assert response.reasoning == expected["thinking"]
    assert parser.raw_finish_reasons[0] == expected["stop"]
    calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
    assert calls == [
        (t["id"], t["name"], t["arguments"]) for _, t in sorted(expected["tools"].items())
    ]
    raw = expected["usage"]
    assert parser.usage is not None
    assert parser.usage.completion_tokens == raw["output_tokens"]
    assert parser.usage.cache_read_tokens == (raw.get("cache_read_input_tokens") or 0)


def test_message_delta_usage_is_assigned_not_added() -> None:
    parser, _ = parse(body_of(FIXTURES / "anthropic/compaction-cache-read-sonnet-4-6.sse"), [])
    expected = anthropic_expected(FIXTURES / "anthropic/compaction-cache-read-sonnet-4-6.sse")
    assert parser.usage is not None
    assert parser.usage.cache_read_tokens == (expected["usage"].get("cache_read_input_tokens") or 0)


def test_in_stream_error_keeps_partial_text() -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    start = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
    delta = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'
    parser.feed(ServerSentEvent("content_block_start", start), out)
    parser.feed(ServerSentEvent("content_block_delta", delta), out)
    error = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(OverloadedError) as info:
        parser.feed(ServerSentEvent("error", error), out)
    assert info.value.in_stream and info.value.is_retryable
    assert [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)] == ["Hi"]


def spec(**kwargs: object) -> RequestSpec:
    base: dict[str, object] = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
    }
    base.update(kwargs)
    return RequestSpec(**base)  # type: ignore[arg-type]


def test_request_shape() -> None:
    req = build_anthropic_request(spec(stop=["END"], temperature=0.2), "sk-ant")
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == "sk-ant"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.json["system"] == "Be brief."
    assert req.json["messages"] == [{"role": "user", "content": "Hi"}]
    assert req.json["max_tokens"] == 4096
    assert req.json["stop_sequences"] == ["END"]
    assert req.json["stream"] is True


def test_tools_and_tool_results_translate() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"c": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    tools = [{"name": "w", "description": "weather", "parameters": {"type": "object"}}]
    req = build_anthropic_request(spec(messages=messages, tools=tools, tool_choice="required"), "k")
    assert req.json["tools"] == [
        {"name": "w", "description": "weather", "input_schema": {"type": "object"}}
    ]
    assert req.json["tool_choice"] == {"type": "any"}
    assert req.json["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "c1",
        "name": "w",
        "input": {"c": 1},
    }
    assert req.json["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "sunny"}],
    }


def test_json_mode_uses_a_forced_tool() -> None:
    s = spec(
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "schema": {"type": "object", "properties": {"n": {"type": "string"}}},
            },
        }
    )
    req = build_anthropic_request(s, "k")
    assert json_tool_name_for(s) == "person"
    assert req.json["tool_choice"] == {"type": "tool", "name": "person"}
    assert req.json["tools"][-1]["input_schema"]["properties"] == {"n": {"type": "string"}}


def test_n_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="n>1"):
        build_anthropic_request(spec(n=2), "k")
