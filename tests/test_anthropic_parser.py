"""The Anthropic adapter, sans-IO: every recording through the real SSE decoder (whole and
re-chunked at seeded random byte boundaries), in-stream errors, JSON mode, and the
request builder. Expected values come from this file's own simple walk over each
recording, never from the parser.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, assemble

from steer_trio._errors import (
    BadRequestError,
    ConfigurationError,
    OverloadedError,
    ProviderError,
    ServerError,
    StreamProtocolError,
)
from steer_trio._events import StreamDeltaEvent, StreamEvent
from steer_trio._providers._anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicParser,
    build_anthropic_request,
    json_tool_name_for,
)
from steer_trio._providers._base import RequestSpec
from steer_trio._sse import ServerSentEvent, SSEDecoder
from steer_trio._usage import Usage

RECORDINGS = sorted((FIXTURES / "anthropic").glob("*.sse"))
TRUNCATED = "tool-use-max-tokens-truncated-sonnet-3-7.sse"

# The test's own copy of the stop_reason vocabulary mapping.
STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause_turn",
    "model_context_window_exceeded": "length",
}


# -- the independent reading of a recording -------------------------------------------


def walk(path: Path) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, parsed data) per event: split on blank lines, then on lines."""
    events: list[tuple[str | None, dict[str, Any]]] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        name = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def expected_from(path: Path) -> dict[str, Any]:
    text, thinking = "", ""
    signatures: list[str] = []
    tools: dict[int, dict[str, str]] = {}  # content block index -> call
    raw_usage: dict[str, Any] = {}
    stop = None
    message: dict[str, Any] = {}
    for name, data in walk(path):
        kind = data["type"]
        assert name == kind  # the recordings' event names agree with data.type
        if kind == "message_start":
            message = data["message"]
            raw_usage.update(message["usage"])
        elif kind == "content_block_start":
            block = data["content_block"]
            if block["type"] == "text":
                text += block["text"]
            elif block["type"] == "tool_use":
                tools[data["index"]] = {"id": block["id"], "name": block["name"], "arguments": ""}
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            elif delta["type"] == "thinking_delta":
                thinking += delta["thinking"]
            elif delta["type"] == "signature_delta":
                signatures.append(delta["signature"])
            elif delta["type"] == "input_json_delta" and data["index"] in tools:
                tools[data["index"]]["arguments"] += delta["partial_json"]
        elif kind == "message_delta":
            stop = data["delta"]["stop_reason"]
            # Cumulative: each field present replaces the message_start value.
            raw_usage.update({k: v for k, v in data["usage"].items() if v is not None})
    fresh = raw_usage["input_tokens"]
    write = raw_usage.get("cache_creation_input_tokens") or 0
    read = raw_usage.get("cache_read_input_tokens") or 0
    output = raw_usage["output_tokens"]
    usage = Usage(
        prompt_tokens=fresh + write + read,
        completion_tokens=output,
        total_tokens=fresh + write + read + output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=(raw_usage.get("cache_creation") or {}).get(
            "ephemeral_1h_input_tokens", 0
        ),
        reasoning_tokens=(raw_usage.get("output_tokens_details") or {}).get("thinking_tokens", 0),
    )
    return {
        "id": message["id"],
        "model": message["model"],
        "text": text,
        "thinking": thinking,
        "signatures": signatures,
        "tools": [tools[index] for index in sorted(tools)],
        "stop": stop,
        "raw_usage": raw_usage,
        "usage": usage,
    }


def body_of(path: Path) -> bytes:
    body = path.read_bytes()
    if path.name == TRUNCATED:
        # This fixture file ends right after the final `data: {"type":"message_stop"}`
        # line, with no line end and no blank line (a storage artifact: the live stream
        # had them). The SSE spec discards an event that has no closing blank line at
        # end of stream, so message_stop would be lost; see
        # test_truncated_file_without_its_blank_line_loses_message_stop.
        assert not body.endswith(b"\n")
        body += b"\n\n"
    assert body.endswith(b"\n\n")
    return body


# -- running the decoder and the parser --------------------------------------------------


def run(
    body: bytes, cuts: list[int] | None = None, *, json_tool_name: str | None = None
) -> tuple[AnthropicParser, list[StreamDeltaEvent]]:
    decoder = SSEDecoder()
    parser = AnthropicParser("anthropic", "claude-requested", json_tool_name=json_tool_name)
    out: list[StreamEvent] = []
    bounds = [0, *sorted(cuts or []), len(body)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        for sse in decoder.feed(body[start:end]):
            parser.feed(sse, out)
    for sse in decoder.close():
        parser.feed(sse, out)
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert len(deltas) == len(out)
    return parser, deltas


def random_cuts(size: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return rng.sample(range(1, size), min(size - 1, rng.randint(1, 80)))


def check_recording(path: Path, parser: AnthropicParser, deltas: list[StreamDeltaEvent]) -> None:
    expected = expected_from(path)
    got = assemble(deltas)
    assert got["text"] == expected["text"]
    assert got["reasoning"] == expected["thinking"]
    assert got["signatures"] == expected["signatures"]
    assert [(c["id"], c["name"], c["arguments"]) for c in got["tools"]] == [
        (t["id"], t["name"], t["arguments"]) for t in expected["tools"]
    ]
    for call, recorded in zip(got["tools"], expected["tools"], strict=True):
        if expected["stop"] == "max_tokens":
            with pytest.raises(ValueError):  # cut mid-string: not JSON, and must not be
                json.loads(call["arguments"])
        else:
            # A tool without arguments streams only "": that means {}.
            assert json.loads(call["arguments"] or "{}") == json.loads(
                recorded["arguments"] or "{}"
            )
    assert parser.done
    assert parser.raw_finish_reasons == {0: expected["stop"]}
    assert parser.finish_reasons == {0: STOP[expected["stop"]]}
    assert parser.usage == expected["usage"]
    assert parser.usage_final
    assert parser.raw_usage == expected["raw_usage"]
    assert parser.response_id == expected["id"]
    assert parser.model == expected["model"]
    # Every delta carries content (no empty text/reasoning pieces; only a tool call's
    # opening delta is empty), the response's model, and consecutive chunk indexes.
    assert all(e.delta.value or e.delta.tool_call_id for e in deltas)
    assert all(e.provider == "anthropic" and e.model == expected["model"] for e in deltas)
    assert [e.chunk_index for e in deltas] == list(range(len(deltas)))


def test_all_recordings_are_present() -> None:
    assert len(RECORDINGS) == 13, f"expected the 13 Anthropic recordings under {FIXTURES}"


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_recording_fed_whole(path: Path) -> None:
    parser, deltas = run(body_of(path))
    check_recording(path, parser, deltas)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_recording_rechunked_at_random(path: Path, seed: int) -> None:
    body = body_of(path)
    parser, deltas = run(body, random_cuts(len(body), seed))
    check_recording(path, parser, deltas)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_recording_fed_one_byte_at_a_time(path: Path) -> None:
    body = body_of(path)
    parser, deltas = run(body, list(range(1, len(body))))
    check_recording(path, parser, deltas)


# Literal facts from SOURCES.md: a check on the test's own walk above.
# file: (prompt, completion, cache_read, cache_write, reasoning, raw stop, tool calls)
FACTS = {
    "text-haiku-4-5.sse": (10, 4, 0, 0, 0, "end_turn", 0),
    "thinking-signature-sonnet-4.sse": (43, 282, 0, 0, 0, "end_turn", 0),
    "thinking-redacted-sonnet-4-5.sse": (92, 189, 0, 0, 0, "end_turn", 0),
    "adaptive-thinking-opus-4-6.sse": (34, 44, 0, 0, 0, "end_turn", 0),
    "thinking-then-tool-use-haiku-4-5.sse": (598, 92, 0, 0, 53, "tool_use", 1),
    "tool-use-parallel-noargs-haiku-4-5.sse": (542, 62, 0, 0, 0, "tool_use", 2),
    "tool-use-parallel-opus-3-2024.sse": (469, 104, 0, 0, 0, "tool_use", 2),
    TRUNCATED: (450, 124, 0, 0, 0, "max_tokens", 1),
    "stop-sequence-prefill-haiku-4-5.sse": (16, 28, 0, 0, 0, "stop_sequence", 0),
    "prompt-cache-write-sonnet-3-5.sse": (4 + 1165, 201, 0, 1165, 0, "end_turn", 0),
    "prompt-cache-read-sonnet-3-5.sse": (4 + 1165, 221, 1165, 0, 0, "end_turn", 0),
    # message_start said in 100 + cache_read 55096; message_delta's 181 + 0 replace them.
    "compaction-cache-read-sonnet-4-6.sse": (181, 8, 0, 0, 0, "end_turn", 0),
    # server_tool_use is Anthropic's own tool, not a call for the caller.
    "web-search-server-tool-opus-4-1.sse": (10423, 341, 0, 0, 0, "end_turn", 0),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_recording_facts(name: str) -> None:
    prompt, completion, read, write, reasoning, stop, n_calls = FACTS[name]
    parser, deltas = run(body_of(FIXTURES / "anthropic" / name))
    assert parser.usage == Usage.build(
        prompt,
        completion,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
    )
    assert parser.raw_finish_reasons[0] == stop
    assert len(assemble(deltas)["tools"]) == n_calls


def test_thinking_signature_and_empty_thinking_delta() -> None:
    path = FIXTURES / "anthropic/thinking-signature-sonnet-4.sse"
    recorded = [d["delta"] for _, d in walk(path) if d["type"] == "content_block_delta"]
    kinds = [d["type"] for d in recorded]
    at = kinds.index("signature_delta")
    assert recorded[at - 1] == {"type": "thinking_delta", "thinking": ""}  # as SOURCES says
    _, deltas = run(body_of(path))
    signatures = [e.delta for e in deltas if e.delta.is_signature]
    assert len(signatures) == 1
    assert signatures[0].kind == "reasoning" and signatures[0].get_text() == ""
    assert signatures[0].value == recorded[at]["signature"]
    # Thinking precedes the answer, and no reasoning reaches get_text().
    first_text = next(i for i, e in enumerate(deltas) if e.delta.kind == "text")
    assert all(e.delta.kind == "reasoning" for e in deltas[:first_text])


def test_redacted_thinking_yields_no_reasoning() -> None:
    path = FIXTURES / "anthropic/thinking-redacted-sonnet-4-5.sse"
    starts = [
        d["content_block"]["type"] for _, d in walk(path) if d["type"] == "content_block_start"
    ]
    assert starts.count("redacted_thinking") == 2
    _, deltas = run(body_of(path))
    assert deltas and all(e.delta.kind == "text" for e in deltas)


def test_tool_call_index_counts_tool_blocks_not_content_blocks() -> None:
    _, deltas = run(body_of(FIXTURES / "anthropic/thinking-then-tool-use-haiku-4-5.sse"))
    calls = [e.delta for e in deltas if e.delta.kind == "tool_call"]
    assert {d.tool_call_index for d in calls} == {0}  # content block 1, first tool
    assert calls[0].value == "" and calls[0].tool_name == "fixed_version"


def test_no_argument_tools_stream_only_the_opening_delta() -> None:
    _, deltas = run(body_of(FIXTURES / "anthropic/tool-use-parallel-noargs-haiku-4-5.sse"))
    calls = [e.delta for e in deltas if e.delta.kind == "tool_call"]
    assert [(d.tool_call_index, d.value) for d in calls] == [(0, ""), (1, "")]


def test_compaction_usage_is_assigned_not_added() -> None:
    path = FIXTURES / "anthropic/compaction-cache-read-sonnet-4-6.sse"
    body = body_of(path)
    decoder = SSEDecoder()
    parser = AnthropicParser("anthropic", "claude-sonnet-4-6")
    out: list[StreamEvent] = []
    for sse in decoder.feed(body):
        parser.feed(sse, out)
        if sse.event == "message_start":
            assert parser.usage is not None and not parser.usage_final
            assert parser.usage.cache_read_tokens == 55096
            assert parser.usage.prompt_tokens == 100 + 55096
    assert parser.usage is not None and parser.usage_final
    assert parser.usage.cache_read_tokens == 0
    assert parser.usage.prompt_tokens == 181
    assert parser.usage.completion_tokens == 8


def test_truncated_file_without_its_blank_line_loses_message_stop() -> None:
    """Why the test appends "\\n\\n": a spec-following decoder drops the unterminated
    final event, so without it the stream would look incomplete."""
    path = FIXTURES / "anthropic" / TRUNCATED
    parser, deltas = run(path.read_bytes())
    assert not parser.done
    assert parser.raw_finish_reasons == {0: "max_tokens"}  # everything before it arrived
    assert assemble(deltas) == assemble(run(body_of(path))[1])


# -- synthetic streams ----------------------------------------------------------------


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def message_start(usage: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 12, "output_tokens": 1},
    }
    return sse("message_start", {"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def text_delta(index: int, text: str) -> bytes:
    return block_delta(index, {"type": "text_delta", "text": text})


def json_delta(index: int, piece: str) -> bytes:
    return block_delta(index, {"type": "input_json_delta", "partial_json": piece})


def block_stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


def message_end(stop: str, usage: dict[str, Any] | None = None) -> bytes:
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": usage or {"output_tokens": 20},
    }
    return sse("message_delta", delta) + sse("message_stop", {"type": "message_stop"})


def feed_all(parser: AnthropicParser, body: bytes) -> list[StreamDeltaEvent]:
    out: list[StreamEvent] = []
    decoder = SSEDecoder()
    for event in decoder.feed(body):
        parser.feed(event, out)
    return [e for e in out if isinstance(e, StreamDeltaEvent)]


def test_in_stream_overloaded_error_keeps_the_deltas_before_it() -> None:
    body = (
        message_start()
        + block_start(0, {"type": "text", "text": ""})
        + text_delta(0, "Hello")
        + text_delta(0, ", wor")
    )
    error = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011",
    }
    decoder = SSEDecoder()
    parser = AnthropicParser("anthropic", "claude-haiku-4-5")
    out: list[StreamEvent] = []
    with pytest.raises(OverloadedError) as info:
        for event in decoder.feed(body + sse("error", error)):
            parser.feed(event, out)
    err = info.value
    assert err.in_stream and err.is_retryable
    assert err.status_code == 529 and err.error_type == "overloaded_error"
    assert err.message == "Overloaded" and err.provider == "anthropic"
    assert err.request_id == "req_011" and err.body == error
    assert "".join(e.delta.get_text() for e in out if isinstance(e, StreamDeltaEvent)) == (
        "Hello, wor"
    )
    assert not parser.done


@pytest.mark.parametrize(
    ("error_type", "cls", "retryable"),
    [
        ("api_error", ServerError, True),
        ("invalid_request_error", BadRequestError, False),
        ("something_new", ServerError, True),
    ],
)
def test_in_stream_error_types(error_type: str, cls: type[ProviderError], retryable: bool) -> None:
    parser = AnthropicParser("anthropic", "claude")
    data = json.dumps({"type": "error", "error": {"type": error_type, "message": "m"}})
    with pytest.raises(cls) as info:
        parser.feed(ServerSentEvent("error", data), [])
    assert type(info.value) is cls
    assert info.value.in_stream and info.value.is_retryable is retryable


def test_error_named_only_by_the_event_line() -> None:
    parser = AnthropicParser("anthropic", "claude")
    data = '{"error": {"type": "overloaded_error", "message": "busy"}}'
    with pytest.raises(OverloadedError):
        parser.feed(ServerSentEvent("error", data), [])


@pytest.mark.parametrize("data", ['{"type":"content_block_delta",', "not json", ""])
def test_invalid_json_is_a_protocol_error_with_the_raw_line(data: str) -> None:
    parser = AnthropicParser("anthropic", "claude")
    with pytest.raises(StreamProtocolError) as info:
        parser.feed(ServerSentEvent("content_block_delta", data), [])
    assert info.value.raw == data


def test_json_that_is_not_an_object_is_a_protocol_error() -> None:
    parser = AnthropicParser("anthropic", "claude")
    with pytest.raises(StreamProtocolError, match="list"):
        parser.feed(ServerSentEvent("message_start", "[1, 2]"), [])


def test_ping_unknown_and_late_events_are_ignored() -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    parser.feed(ServerSentEvent("ping", '{"type": "ping"}'), out)
    parser.feed(ServerSentEvent("future_event", '{"type":"future_event","x":1}'), out)
    parser.feed(ServerSentEvent("message", '{"no_type": true}'), out)
    unknown_delta = '{"type":"content_block_delta","index":0,"delta":{"type":"new_delta"}}'
    parser.feed(ServerSentEvent("content_block_delta", unknown_delta), out)
    citation = (
        '{"type":"content_block_delta","index":0,'
        '"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location"}}}'
    )
    parser.feed(ServerSentEvent("content_block_delta", citation), out)
    assert out == [] and parser.usage is None and not parser.done
    assert parser.raw_usage is None and parser.response_id is None
    parser.feed(ServerSentEvent("message_stop", '{"type":"message_stop"}'), out)
    assert parser.done
    late = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}'
    parser.feed(ServerSentEvent("content_block_delta", late), out)
    assert out == []


@pytest.mark.parametrize(("raw", "unified"), [*STOP.items(), ("brand_new_reason", None)])
def test_stop_reason_mapping(raw: str, unified: str | None) -> None:
    parser = AnthropicParser("anthropic", "claude")
    feed_all(parser, message_start() + message_end(raw))
    assert parser.raw_finish_reasons == {0: raw}
    assert parser.finish_reasons == {0: unified or raw}  # unknown reasons are kept


def test_message_delta_usage_replaces_fields_present_and_keeps_the_rest() -> None:
    start = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
        "output_tokens": 3,
    }
    # output replaced; cache_read replaced by a smaller value (assigned, not added);
    # a null field is "not reported"; absent fields keep their message_start values.
    end = {
        "output_tokens": 90,
        "cache_read_input_tokens": 100,
        "input_tokens": None,
        "output_tokens_details": {"thinking_tokens": 40},
    }
    parser = AnthropicParser("anthropic", "claude")
    feed_all(parser, message_start(start))
    assert parser.usage == Usage.build(
        2350, 3, cache_read_tokens=300, cache_write_tokens=2000, cache_write_1h_tokens=500
    )
    assert not parser.usage_final
    feed_all(parser, message_end("end_turn", end))
    assert parser.usage == Usage.build(
        50 + 2000 + 100,
        90,
        cache_read_tokens=100,
        cache_write_tokens=2000,
        cache_write_1h_tokens=500,
        reasoning_tokens=40,
    )
    assert parser.usage_final
    assert parser.raw_usage is not None and parser.raw_usage["input_tokens"] == 50


def test_initial_text_and_thinking_in_block_start_are_emitted() -> None:
    parser = AnthropicParser("anthropic", "claude")
    deltas = feed_all(
        parser,
        block_start(0, {"type": "thinking", "thinking": "hmm", "signature": "sig"})
        + block_start(1, {"type": "text", "text": "Hi"})
        + block_start(2, {"type": "redacted_thinking", "data": "EmwKAhgBEgy"})
        + block_start(3, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"})
        + json_delta(3, '{"query": "x"}')
        + block_start(4, {"type": "web_search_tool_result", "content": []}),
    )
    assert [(e.delta.kind, e.delta.value, e.delta.is_signature) for e in deltas] == [
        ("reasoning", "hmm", False),
        ("reasoning", "sig", True),
        ("text", "Hi", False),
    ]


# -- JSON mode --------------------------------------------------------------------------


def forced_tool_stream(name: str, pieces: list[str]) -> bytes:
    """Modelled on the tool-use recordings: an empty first input_json_delta, then pieces."""
    body = message_start() + block_start(
        0, {"type": "tool_use", "id": "toolu_01", "name": name, "input": {}}
    )
    body += sse("ping", {"type": "ping"}) + json_delta(0, "")
    for piece in pieces:
        body += json_delta(0, piece)
    return body + block_stop(0) + message_end("tool_use")


PIECES = ['{"name": "Ad', 'a", "ag', 'e": 36, "tags": ["x"', ', "y"]}']


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
def test_json_mode_streams_the_forced_tool_input_as_text(chunking: str) -> None:
    body = forced_tool_stream("json_output", PIECES)
    cuts = list(range(1, len(body))) if chunking == "bytes" else None
    parser, deltas = run(body, cuts, json_tool_name="json_output")
    assert [e.delta.kind for e in deltas] == ["text"] * len(PIECES)
    text = "".join(e.delta.get_text() for e in deltas)
    assert text == "".join(PIECES)
    assert json.loads(text) == {"name": "Ada", "age": 36, "tags": ["x", "y"]}
    # The answer is complete as asked: a plain stop, with the raw value kept.
    assert parser.finish_reasons == {0: "stop"}
    assert parser.raw_finish_reasons == {0: "tool_use"}


def test_without_json_mode_the_same_stream_is_a_tool_call() -> None:
    parser, deltas = run(forced_tool_stream("json_output", PIECES))
    assert all(e.delta.kind == "tool_call" for e in deltas)
    assert assemble(deltas)["tools"] == [
        {"id": "toolu_01", "name": "json_output", "arguments": "".join(PIECES)}
    ]
    assert parser.finish_reasons == {0: "tool_calls"}


def test_json_mode_leaves_other_tools_as_tool_calls() -> None:
    body = (
        message_start()
        + block_start(0, {"type": "tool_use", "id": "toolu_a", "name": "lookup", "input": {}})
        + json_delta(0, '{"q": 1}')
        + block_stop(0)
        + block_start(1, {"type": "tool_use", "id": "toolu_b", "name": "person", "input": {}})
        + json_delta(1, '{"name": "Ada"}')
        + block_stop(1)
        + message_end("tool_use")
    )
    parser, deltas = run(body, json_tool_name="person")
    got = assemble(deltas)
    assert got["text"] == '{"name": "Ada"}'
    assert got["tools"] == [{"id": "toolu_a", "name": "lookup", "arguments": '{"q": 1}'}]
    assert parser.finish_reasons == {0: "tool_calls"}


def test_feed_message_matches_the_stream() -> None:
    message = {
        "id": "msg_02",
        "type": "message",
        "model": "claude-haiku-4-5-20251001",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "c2ln"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "noargs", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7},
    }
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    parser.feed_message(message, out)
    got = assemble([e for e in out if isinstance(e, StreamDeltaEvent)])
    assert got["text"] == "Calling." and got["reasoning"] == "plan"
    assert got["signatures"] == ["c2ln"]
    assert got["tools"] == [
        {"id": "toolu_1", "name": "w", "arguments": '{"city": "Paris"}'},
        {"id": "toolu_2", "name": "noargs", "arguments": ""},
    ]
    assert parser.done and parser.usage_final and parser.response_id == "msg_02"
    assert parser.usage == Usage.build(15, 7, cache_read_tokens=5)
    assert parser.finish_reasons == {0: "tool_calls"}


# -- the request builder --------------------------------------------------------------------


def spec(**kwargs: Any) -> RequestSpec:
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
    }
    fields.update(kwargs)
    return RequestSpec(**fields)


def test_request_shape() -> None:
    req = build_anthropic_request(spec(stop=["END"], temperature=0.2, top_p=0.9), "sk-ant")
    assert req.path == "/v1/messages"
    assert req.headers == {
        "x-api-key": "sk-ant",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "accept": "text/event-stream",
    }
    assert req.json == {
        "model": "claude-haiku-4-5",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4096,
        "stream": True,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }


def test_max_tokens_defaults_only_when_absent() -> None:
    assert DEFAULT_MAX_TOKENS == 4096
    assert build_anthropic_request(spec(), None).json["max_tokens"] == 4096
    assert build_anthropic_request(spec(max_tokens=10), None).json["max_tokens"] == 10


def test_non_streaming_request_and_no_key() -> None:
    req = build_anthropic_request(spec(stream=False), None)
    assert "stream" not in req.json and "x-api-key" not in req.headers
    assert req.headers["accept"] == "application/json"


def test_system_messages_move_to_the_top_level_field() -> None:
    messages = [
        {"role": "system", "content": "One."},
        {"role": "user", "content": "Hi"},
        {
            "role": "system",
            "content": [{"type": "text", "text": "Two"}, {"type": "text", "text": "!"}],
        },
        {"role": "assistant", "content": "Hello"},
    ]
    original = json.loads(json.dumps(messages))
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["system"] == "One.\n\nTwo!"
    assert req.json["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert messages == original
    without = build_anthropic_request(spec(messages=[{"role": "user", "content": "Hi"}]), "k")
    assert "system" not in without.json


def test_system_cache_control_survives_as_blocks() -> None:
    cached = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    messages = [
        {"role": "system", "content": "Rules."},
        {"role": "system", "content": [cached]},
        {"role": "user", "content": "Hi"},
    ]
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["system"] == [{"type": "text", "text": "Rules."}, cached]


def test_tools_translate_from_every_shape() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [
        {"name": "neutral", "description": "d", "parameters": schema},
        {
            "type": "function",
            "function": {"name": "openai", "description": "o", "parameters": schema},
        },
        {"name": "bare"},
        {"name": "native", "input_schema": schema},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ]
    req = build_anthropic_request(spec(tools=tools), "k")
    assert req.json["tools"] == [
        {"name": "neutral", "description": "d", "input_schema": schema},
        {"name": "openai", "description": "o", "input_schema": schema},
        {"name": "bare", "input_schema": {"type": "object", "properties": {}}},
        {"name": "native", "input_schema": schema},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ]
    assert "tool_choice" not in req.json


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "w"}}, {"type": "tool", "name": "w"}),
        ({"name": "w"}, {"type": "tool", "name": "w"}),
        ({"type": "tool", "name": "w"}, {"type": "tool", "name": "w"}),
        ({"type": "any"}, {"type": "any"}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    tools = [{"name": "w", "parameters": {"type": "object"}}]
    req = build_anthropic_request(spec(tools=tools, tool_choice=choice), "k")
    assert req.json["tool_choice"] == expected


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}, 3])
def test_tool_choice_not_understood(choice: Any) -> None:
    with pytest.raises(ConfigurationError, match="tool_choice"):
        build_anthropic_request(spec(tools=[{"name": "w"}], tool_choice=choice), "k")


def test_tool_choice_without_tools() -> None:
    # Anthropic rejects a tool_choice with no tools; "auto"/"none" then mean nothing.
    assert "tool_choice" not in build_anthropic_request(spec(tool_choice="none"), "k").json


def test_tool_calls_and_tool_results_translate() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "weather in two cities?"}]},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"c": 1}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "now", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "thanks"},
    ]
    original = json.loads(json.dumps(messages))
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "weather in two cities?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "c1", "name": "w", "input": {"c": 1}},
                {"type": "tool_use", "id": "c2", "name": "now", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "c2", "content": "noon"},
            ],
        },
        {"role": "user", "content": "thanks"},
    ]
    assert messages == original  # the caller's messages are not touched


def test_assistant_tool_call_without_text_and_bad_arguments() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "c1", "name": "w", "input": {}}],
    }
    bad = {"id": "c9", "type": "function", "function": {"name": "w", "arguments": "{oops"}}
    messages[1]["tool_calls"] = [bad]
    with pytest.raises(ConfigurationError, match="c9"):
        build_anthropic_request(spec(messages=messages), "k")


def test_json_object_mode_is_a_forced_tool() -> None:
    s = spec(response_format={"type": "json_object"})
    req = build_anthropic_request(s, "k")
    assert json_tool_name_for(s) == "json_output"
    assert req.json["tools"] == [
        {
            "name": "json_output",
            "description": req.json["tools"][0]["description"],
            "input_schema": {"type": "object"},
        }
    ]
    assert req.json["tool_choice"] == {"type": "tool", "name": "json_output"}
    assert "response_format" not in req.json


def test_json_schema_mode_uses_the_schema_and_its_name() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]}
    user_tool = {"name": "lookup", "parameters": {"type": "object"}}
    s = spec(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
        tools=[user_tool],
        tool_choice="auto",
    )
    req = build_anthropic_request(s, "k")
    assert json_tool_name_for(s) == "person"
    assert [t["name"] for t in req.json["tools"]] == ["lookup", "person"]
    assert req.json["tools"][-1]["input_schema"] == schema
    assert req.json["tool_choice"] == {"type": "tool", "name": "person"}
    unnamed = spec(response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    assert json_tool_name_for(unnamed) == "json_output"


def test_no_json_mode() -> None:
    assert json_tool_name_for(spec()) is None
    assert json_tool_name_for(spec(response_format={"type": "text"})) is None
    with pytest.raises(ConfigurationError, match="xml"):
        build_anthropic_request(spec(response_format={"type": "xml"}), "k")


def test_n_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="n>1"):
        build_anthropic_request(spec(n=2), "k")
    assert "n" not in build_anthropic_request(spec(n=1), "k").json


def test_extra_is_merged_as_is() -> None:
    extra = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 8000}
    req = build_anthropic_request(spec(extra=extra), "k")
    assert req.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert req.json["max_tokens"] == 8000


def test_image_parts_become_anthropic_image_blocks() -> None:
    user = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.png"}},
        ],
    }
    original = json.loads(json.dumps(user))
    req = build_anthropic_request(spec(messages=[user]), "k")
    assert req.json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.png"}},
            ],
        }
    ]
    assert user == original  # the caller's messages are not modified


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "image_url", "image_url": {"url": "data:text/plain,hello"}}, "data:image/png"),
        ({"type": "image_url", "image_url": {}}, "image_url.url"),
        ({"type": "input_audio", "input_audio": {"data": "..."}}, "no Anthropic equivalent"),
    ],
)
def test_content_parts_anthropic_cannot_take_are_refused(
    part: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")


def test_json_mode_with_extended_thinking_is_refused_before_sending() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    with pytest.raises(ConfigurationError, match="extended thinking"):
        build_anthropic_request(
            spec(response_format={"type": "json_object"}, extra={"thinking": thinking}), "k"
        )
    # Thinking alone, and JSON mode with thinking disabled, are fine.
    assert build_anthropic_request(spec(extra={"thinking": thinking}), "k").json["thinking"]
    disabled = spec(
        response_format={"type": "json_object"}, extra={"thinking": {"type": "disabled"}}
    )
    assert build_anthropic_request(disabled, "k").json["tool_choice"]["type"] == "tool"


def test_openai_custom_tools_are_refused_for_anthropic() -> None:
    tool = {"type": "custom", "custom": {"name": "grammar", "format": {"type": "text"}}}
    with pytest.raises(ConfigurationError, match="'grammar' is an OpenAI custom"):
        build_anthropic_request(spec(tools=[tool]), "k")


# -- whole-message bodies: errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (
            {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
                "request_id": "req_011",
            },
            OverloadedError,
        ),
        ({"error": {"type": "invalid_request_error", "message": "Overloaded"}}, BadRequestError),
    ],
)
def test_feed_message_error_body_raises_the_typed_error(
    body: dict[str, Any], cls: type[ProviderError]
) -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    with pytest.raises(cls) as info:
        parser.feed_message(body, out)
    err = info.value
    assert type(err) is cls and not err.in_stream and err.body == body
    assert err.message == "Overloaded" and err.provider == "anthropic"
    assert err.request_id == body.get("request_id")
    assert out == [] and not parser.done and parser.usage is None


# -- the fast path: a text delta skips the general walk ----------------------------------------


@pytest.mark.parametrize(
    ("delta", "walks"),
    [
        ({"type": "text_delta", "text": "a"}, False),
        ({"type": "text_delta", "text": ""}, False),
        ({"type": "text_delta"}, True),
        ({"type": "text_delta", "text": 5}, True),
        ({"type": "thinking_delta", "thinking": "a"}, True),
        ({"text": "a"}, True),
        ("text_delta", True),
        (None, True),
    ],
)
def test_only_a_text_delta_skips_the_walk(delta: Any, walks: bool) -> None:
    parser = AnthropicParser("anthropic", "claude")
    walked: list[Any] = []
    general = parser._block_delta

    def spy(payload: dict[str, Any], delta: Any, out: list[StreamEvent]) -> None:
        walked.append(delta)
        general(payload, delta, out)

    parser._block_delta = spy  # type: ignore[method-assign]
    out: list[StreamEvent] = []
    data = json.dumps({"type": "content_block_delta", "index": 0, "delta": delta})
    try:
        parser.feed(ServerSentEvent("content_block_delta", data), out)
    except StreamProtocolError:
        assert walks  # only the walk raises
    assert walked == ([delta] if walks else [])
    if delta == {"type": "text_delta", "text": "a"}:
        assert [(e.delta.kind, e.delta.value) for e in out if isinstance(e, StreamDeltaEvent)] == [
            ("text", "a")
        ]
    elif not walks:
        assert out == []


# -- the parser: event names, indexes, whole messages ------------------------------------------


def test_data_type_decides_whatever_the_event_line() -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    text = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}}
    parser.feed(ServerSentEvent(None, json.dumps(text)), out)
    parser.feed(ServerSentEvent("message", json.dumps(text)), out)
    assert [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)] == ["a", "a"]
    # Without a type in the data, the event line names the event.
    parser.feed(ServerSentEvent("message_stop", "{}"), out)
    assert parser.done


def test_error_named_by_its_type_under_another_event_line() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    for event in (None, "message"):
        with pytest.raises(OverloadedError):
            AnthropicParser("anthropic", "c").feed(ServerSentEvent(event, json.dumps(error)), [])
    # And an error event whose data names some other type is still an error.
    other = {"type": "surprise", "error": {"type": "api_error", "message": "boom"}}
    with pytest.raises(ServerError, match="boom"):
        AnthropicParser("anthropic", "c").feed(ServerSentEvent("error", json.dumps(other)), [])


def test_data_that_is_not_json_names_the_provider() -> None:
    with pytest.raises(StreamProtocolError, match="^anthropic sent a data line that is not JSON"):
        AnthropicParser("anthropic", "c").feed(ServerSentEvent("ping", "{oops"), [])


def test_a_missing_index_is_block_zero() -> None:
    parser = AnthropicParser("anthropic", "c")
    out: list[StreamEvent] = []
    start = {
        "type": "content_block_start",
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
    }
    piece = {
        "type": "content_block_delta",
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    }
    parser.feed(ServerSentEvent(None, json.dumps(start)), out)
    parser.feed(ServerSentEvent(None, json.dumps({**piece, "index": 0})), out)
    parser.feed(ServerSentEvent(None, json.dumps(piece)), out)
    got = [
        (e.delta.kind, e.delta.value, e.delta.choice_index, e.delta.tool_call_index)
        for e in out
        if isinstance(e, StreamDeltaEvent)
    ]
    assert got == [("tool_call", "", 0, 0), ("tool_call", "{}", 0, 0), ("tool_call", "{}", 0, 0)]


def test_feed_message_keeps_non_ascii_tool_input_as_is() -> None:
    message = {
        "id": "msg_3",
        "type": "message",
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"city": "Zürich"}}],
        "stop_reason": "tool_use",
    }
    parser = AnthropicParser("anthropic", "c")
    out: list[StreamEvent] = []
    parser.feed_message(message, out)
    pieces = [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)]
    assert pieces == ["", '{"city": "Zürich"}']


def test_feed_message_json_mode_answer_is_text() -> None:
    message = {
        "content": [{"type": "tool_use", "id": "t", "name": "json_output", "input": {"a": 1}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    parser = AnthropicParser("anthropic", "c", json_tool_name="json_output")
    out: list[StreamEvent] = []
    parser.feed_message(message, out)
    assert [(e.delta.kind, e.delta.value) for e in out if isinstance(e, StreamDeltaEvent)] == [
        ("text", '{"a": 1}')
    ]
    assert parser.finish_reasons == {0: "stop"} and parser.raw_finish_reasons == {0: "tool_use"}
    assert parser.usage == Usage.build(3, 4) and parser.usage_final and parser.done
    assert parser.model == "c" and parser.response_id is None


def test_feed_message_tool_without_input() -> None:
    message = {"content": [{"type": "tool_use", "id": "t", "name": "f"}], "stop_reason": None}
    parser = AnthropicParser("anthropic", "c")
    out: list[StreamEvent] = []
    parser.feed_message(message, out)
    assert [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)] == [""]
    assert parser.finish_reasons == {} and parser.done


# -- the request builder: the rest of its rules ---------------------------------------------------


def test_a_string_stop_is_one_stop_sequence() -> None:
    req = build_anthropic_request(spec(stop="END"), "k")  # type: ignore[arg-type]
    assert req.json["stop_sequences"] == ["END"]
    assert "stop_sequences" not in build_anthropic_request(spec(stop=[]), "k").json


@pytest.mark.parametrize(
    ("choice", "sent"),
    [("auto", None), ("none", None), ("required", {"type": "any"}), ({"name": "w"}, None)],
)
def test_tool_choice_without_tools_is_sent_only_when_it_forces_a_tool(
    choice: Any, sent: dict[str, Any] | None
) -> None:
    body = build_anthropic_request(spec(tool_choice=choice), "k").json
    if sent is None and choice != {"name": "w"}:
        assert "tool_choice" not in body
    elif sent is None:
        assert body["tool_choice"] == {"type": "tool", "name": "w"}
    else:
        assert body["tool_choice"] == sent
    assert "tools" not in body


def test_json_mode_tool_and_thinking_messages_are_exact() -> None:
    s = spec(response_format={"type": "json_object"})
    tool = build_anthropic_request(s, "k").json["tools"][0]
    assert tool["description"] == "Give the answer as this tool's input, as JSON."
    thinking = spec(
        response_format={"type": "json_object"},
        extra={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(thinking, "k")
    assert info.value.message == (
        "JSON mode on Anthropic forces a tool, which Anthropic does not allow with "
        "extended thinking: drop thinking=..., or drop response_format and ask for "
        "JSON in the prompt (the incremental parser still reads it from the text)"
    )
    with pytest.raises(ConfigurationError) as info:
        json_tool_name_for(spec(response_format={"type": "xml"}))
    assert info.value.message == (
        "response_format type 'xml' is not supported for Anthropic: use "
        "{'type': 'json_object'} or {'type': 'json_schema', 'json_schema': {...}}"
    )


@pytest.mark.parametrize("name", [5, "", None])
def test_json_schema_without_a_usable_name_uses_the_default_tool(name: Any) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": {}}}
    assert json_tool_name_for(spec(response_format=fmt)) == "json_output"


def test_messages_translate_edge_cases() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "tool", "content": "orphan result"},  # first, and without tool_call_id
        {"role": "developer", "content": "Be exact."},
        {"role": "user", "content": ["plain", {"type": "text"}, {"type": "text", "text": "x"}]},
        {"role": "assistant", "content": None},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Calling."}, 7],
            "tool_calls": [
                {"id": "c", "function": {"name": "f", "arguments": {"already": "parsed"}}},
                {"function": {"arguments": None}},
                {"id": "d", "function": {"name": "g", "arguments": "  "}},
            ],
        },
    ]
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["system"] == "Be exact."
    assert req.json["messages"] == [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "", "content": "orphan result"}],
        },
        {"role": "user", "content": ["plain", {"type": "text"}, {"type": "text", "text": "x"}]},
        {"role": "assistant", "content": ""},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Calling.7"},
                {"type": "tool_use", "id": "c", "name": "f", "input": {"already": "parsed"}},
                {"type": "tool_use", "id": "", "name": "", "input": {}},
                {"type": "tool_use", "id": "d", "name": "g", "input": {}},
            ],
        },
    ]


def test_tool_result_text_joins_text_parts_only() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text"}, "raw", 3]},
    ]
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["messages"][1]["content"][0]["content"] == "raw3"


def test_bad_tool_arguments_message_is_cut_at_80_characters() -> None:
    call = {"id": "c9", "function": {"name": "w", "arguments": "{" + "x" * 100}}
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(messages=messages), "k")
    assert info.value.message == (
        f"tool call 'c9' has arguments that are not JSON: {('{' + 'x' * 79)!r}"
    )


def test_system_blocks_keep_text_parts_only() -> None:
    cached = {"type": "text", "text": "Long", "cache_control": {"type": "ephemeral"}}
    untyped = {"text": "untyped is text"}
    image = {"type": "image", "source": {"type": "url", "url": "u"}}
    messages = [
        {"role": "system", "content": [cached, untyped, image, "not a dict"]},
        {"role": "system", "content": ""},
        {"role": "user", "content": "Hi"},
    ]
    req = build_anthropic_request(spec(messages=messages), "k")
    assert req.json["system"] == [cached, {"type": "text", "text": "untyped is text"}]


@pytest.mark.parametrize(
    ("url", "source"),
    [
        (
            "data:image/png;base64,AAA,BBB",
            {"type": "base64", "media_type": "image/png", "data": "AAA,BBB"},
        ),
        ("https://x/a.png", {"type": "url", "url": "https://x/a.png"}),
    ],
)
def test_image_sources(url: str, source: dict[str, str]) -> None:
    for image_url in ({"url": url}, url):
        part = {"type": "image_url", "image_url": image_url}
        req = build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")
        assert req.json["messages"][0]["content"] == [{"type": "image", "source": source}]


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64",  # no comma
        "data:text/plain;base64,aGk=",  # not an image
        "data:image/png;foo;base64,AAA",  # base64 must follow the media type
        "data:image/png,AAA",  # not base64
    ],
)
def test_image_data_urls_refused(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")
    assert info.value.message == (
        f"an image data URL must look like data:image/png;base64,<data> (got {url[:40]!r}...)"
    )


def test_long_image_data_url_is_cut_in_the_message() -> None:
    url = "data:text/plain;base64," + "A" * 100
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(ConfigurationError, match=re.escape(f"(got {url[:40]!r}...)")):
        build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")


@pytest.mark.parametrize("image_url", [5, "", {"url": 5}, {"url": ""}, None])
def test_image_url_without_a_url(image_url: Any) -> None:
    part = {"type": "image_url", "image_url": image_url}
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")
    assert info.value.message == "an image_url content part needs image_url.url"


@pytest.mark.parametrize("kind", ["input_audio", "file"])
def test_openai_only_parts_refused_with_the_exact_message(kind: str) -> None:
    part = {"type": kind, kind: {}}
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(messages=[{"role": "user", "content": [part]}]), "k")
    assert info.value.message == (
        f"a {kind!r} content part has no Anthropic equivalent in the Messages API; "
        "send it to an OpenAI model, or pass Anthropic's own content blocks"
    )


def test_tool_shapes_by_type() -> None:
    schema = {"type": "object"}
    tools = [
        {"type": "function", "name": "typed_neutral", "parameters": schema},
        {"type": "custom", "name": "custom_neutral"},
        {"name": "cached", "cache_control": {"type": "ephemeral"}},
        {"function": {"name": "untyped"}, "name": "outer name: not the function's"},
        {"function": {"name": "untyped_only", "parameters": schema}},
        {"type": "function", "function": "not a dict", "name": "neutral_again"},
    ]
    req = build_anthropic_request(spec(tools=tools), "k")
    assert req.json["tools"] == [
        {"name": "typed_neutral", "input_schema": schema},
        {"name": "custom_neutral", "input_schema": {"type": "object", "properties": {}}},
        {
            "name": "cached",
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": {"type": "ephemeral"},
        },
        {"name": "untyped", "input_schema": {"type": "object", "properties": {}}},
        {"name": "untyped_only", "input_schema": schema},
        {"name": "neutral_again", "input_schema": {"type": "object", "properties": {}}},
    ]
    custom = {"type": "custom", "custom": {"name": "grammar"}}
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(tools=[custom]), "k")
    assert info.value.message == (
        "tool 'grammar' is an OpenAI custom (free-form) tool, which "
        "Anthropic does not have: define it with a JSON schema of its parameters"
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("any", {"type": "any"}),
        ({"type": "auto"}, {"type": "auto"}),
        ({"type": "none"}, {"type": "none"}),
        ({"type": "tool", "name": "w", "disable_parallel_tool_use": True},
         {"type": "tool", "name": "w", "disable_parallel_tool_use": True}),
    ],
)  # fmt: skip
def test_tool_choice_passes_anthropic_shapes(choice: Any, expected: dict[str, Any]) -> None:
    req = build_anthropic_request(spec(tools=[{"name": "w"}], tool_choice=choice), "k")
    assert req.json["tool_choice"] == expected


@pytest.mark.parametrize("choice", [{"type": "tool"}, {"name": 5}, {"function": {"name": ""}}])
def test_tool_choice_without_a_usable_name(choice: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_anthropic_request(spec(tools=[{"name": "w"}], tool_choice=choice), "k")
    assert info.value.message == (
        f"tool_choice {choice!r} is not understood: use 'auto', 'required', 'none' or "
        "{'name': TOOL}"
    )


def test_only_a_function_typed_tool_is_unwrapped() -> None:
    server = {"type": "web_search_20250305", "name": "web_search", "function": {"name": "x"}}
    req = build_anthropic_request(spec(tools=[server]), "k")
    assert req.json["tools"] == [server]
