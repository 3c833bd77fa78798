"""The Gemini adapter, sans-IO: every recording through the real SSE decoder (one event
per read, cut at seeded random byte positions, one byte at a time), the end of a body
with no end marker, thoughts and their signatures, whole and streamed (Vertex) function
calls, server-side tools, blocked prompts and in-stream errors, and the request
builder. Expected values come from this file's own simple walk over each recording,
never from the parser.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES

from steer_trio._errors import (
    BadRequestError,
    ConfigurationError,
    RateLimitError,
    ServerError,
    StreamProtocolError,
)
from steer_trio._events import StreamDeltaEvent, StreamEvent
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._gemini import GeminiParser, build_gemini_request, client_function_names
from steer_trio._providers._wires import WIRES
from steer_trio._sse import SSEDecoder
from steer_trio._usage import Usage

FOLDER = FIXTURES / "gemini"
RECORDINGS = sorted(FOLDER.glob("*.sse"))
BLOCKED = "prompt-blocked-safety-gemini-pro.sse"
MCP = "cached-tokens-server-mcp-gemini-2-5-flash.sse"
VERTEX = "vertex-stream-function-call-args-gemini-3-1-pro.sse"
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


# -- the independent reading of a recording -------------------------------------------


def chunks_of(path: Path) -> list[dict[str, Any]]:
    """The data of each event: the file is `data: <json>` blocks ended by CRLF CRLF."""
    text = path.read_bytes().decode("utf-8")  # not read_text: it would turn CRLF into LF
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    assert all(b.startswith("data: ") and "\n" not in b for b in blocks)  # one line each
    return [json.loads(b[len("data: ") :]) for b in blocks]


def expected_from(path: Path) -> dict[str, Any]:
    text, thoughts = "", ""
    calls: list[dict[str, Any]] = []
    answered: list[str] = []  # functionResponse names: calls the server ran itself
    signatures: list[str] = []
    extras: list[str] = []
    finish = None
    usage = None
    open_call: dict[str, Any] | None = None
    for chunk in chunks_of(path):
        for candidate in chunk.get("candidates", []):
            for part in candidate.get("content", {}).get("parts", []):
                if "thoughtSignature" in part:
                    signatures.append(part["thoughtSignature"])
                if "text" in part:
                    if part.get("thought"):
                        thoughts += part["text"]
                    else:
                        text += part["text"]
                elif "functionCall" in part:
                    call = part["functionCall"]
                    if "name" in call:
                        open_call = {
                            "id": call.get("id"),
                            "name": call["name"],
                            "args": call.get("args", {}),
                        }
                        calls.append(open_call)
                    for arg in call.get("partialArgs", []):
                        key = arg["jsonPath"].removeprefix("$.")
                        assert open_call is not None
                        open_call["args"][key] = open_call["args"].get(key, "") + arg["stringValue"]
                else:
                    kind = next(iter(k for k in part if k != "thoughtSignature"))
                    extras.append(kind)
                    if kind == "functionResponse":
                        answered.append(part[kind]["name"])
            for key in ("groundingMetadata", "urlContextMetadata", "citationMetadata"):
                if candidate.get(key):  # (empty ones, {}, say nothing)
                    extras.append(key)
            if "finishReason" in candidate:
                finish = candidate["finishReason"]
        if "usageMetadata" in chunk and "promptTokenCount" in chunk["usageMetadata"]:
            usage = chunk["usageMetadata"]
    client_calls = [c for c in calls if c["name"] not in answered]
    mapped = FINISH.get(finish) if finish else None
    if mapped == "stop" and client_calls:
        mapped = "tool_calls"
    return {
        "text": text,
        "thoughts": thoughts,
        "calls": calls,
        "finish": mapped,
        "raw_finish": finish,
        "usage": usage,
        "signatures": signatures,
        "extras": extras,
        "model": chunks_of(path)[-1].get("modelVersion"),
        "id": chunks_of(path)[0].get("responseId"),
    }


def usage_from(raw: dict[str, Any]) -> Usage:
    thoughts = raw.get("thoughtsTokenCount", 0)
    return Usage.build(
        raw["promptTokenCount"] + raw.get("toolUsePromptTokenCount", 0),
        raw.get("candidatesTokenCount", 0) + thoughts,
        cache_read_tokens=raw.get("cachedContentTokenCount", 0),
        reasoning_tokens=thoughts,
    )


# -- running the decoder and the parser --------------------------------------------------


def events_of(body: bytes) -> list[bytes]:
    return [part + b"\r\n\r\n" for part in body.split(b"\r\n\r\n") if part.strip()]


def run(
    pieces: list[bytes], parser: GeminiParser | None = None, *, eof: bool = True
) -> tuple[GeminiParser, list[StreamDeltaEvent]]:
    decoder = SSEDecoder()
    parser = parser or GeminiParser("gemini", "gemini-requested")
    out: list[StreamEvent] = []
    for piece in pieces:
        for sse in decoder.feed(piece):
            parser.feed(sse, out)
    for sse in decoder.close():
        parser.feed(sse, out)
    if eof:
        parser.at_eof()
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert len(deltas) == len(out)
    return parser, deltas


def cut(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 80))))
    bounds = [0, *points, len(body)]
    return [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def gather(deltas: list[StreamDeltaEvent]) -> dict[str, Any]:
    calls: dict[int, dict[str, Any]] = {}
    for event in deltas:
        d = event.delta
        if d.kind == "tool_call":
            assert d.tool_call_index is not None
            call = calls.setdefault(d.tool_call_index, {"id": None, "name": None, "arguments": ""})
            if d.tool_name is not None:
                assert call["arguments"] == "" and call["name"] is None  # name comes first
                call["id"], call["name"] = d.tool_call_id, d.tool_name
            call["arguments"] += d.value
    assert sorted(calls) == list(range(len(calls)))
    return {
        "text": "".join(e.delta.value for e in deltas if e.delta.kind == "text"),
        "thoughts": "".join(
            e.delta.value
            for e in deltas
            if e.delta.kind == "reasoning" and not e.delta.is_signature
        ),
        "signatures": [e.delta.value for e in deltas if e.delta.is_signature],
        "calls": [calls[i] for i in sorted(calls)],
    }


def check(path: Path, parser: GeminiParser, deltas: list[StreamDeltaEvent]) -> None:
    expected = expected_from(path)
    got = gather(deltas)
    assert got["text"] == expected["text"]
    assert got["thoughts"] == expected["thoughts"]
    assert got["signatures"] == expected["signatures"]
    assert [s["signature"] for s in parser.thought_signatures] == expected["signatures"]
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in got["calls"]] == [
        (c["id"], c["name"], c["args"]) for c in expected["calls"]
    ]
    assert [e["type"] for e in parser.extras] == expected["extras"]
    assert parser.done
    assert parser.finish_reasons == {0: expected["finish"]}
    assert parser.raw_finish_reasons == {0: expected["raw_finish"]}
    assert parser.usage == usage_from(expected["usage"])
    assert parser.raw_usage == expected["usage"]
    assert parser.usage_final
    assert parser.model == expected["model"]
    assert parser.response_id == expected["id"]
    assert all(e.delta.value or e.delta.tool_name for e in deltas)
    assert [e.chunk_index for e in deltas] == list(range(len(deltas)))


COMPLETE = [p for p in RECORDINGS if p.name != BLOCKED]


def test_all_recordings_are_present() -> None:
    assert len(RECORDINGS) == 11, f"expected the 11 Gemini recordings under {FOLDER}"


@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.name)
def test_recording_one_event_per_read(path: Path) -> None:
    parser, deltas = run(events_of(path.read_bytes()))
    check(path, parser, deltas)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.name)
def test_recording_cut_at_random(path: Path, seed: int) -> None:
    parser, deltas = run(cut(path.read_bytes(), seed))
    check(path, parser, deltas)


@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.name)
def test_recording_one_byte_at_a_time(path: Path) -> None:
    """Every CR and LF of the CRLF CRLF framing arrives in its own read."""
    body = path.read_bytes()
    parser, deltas = run([body[i : i + 1] for i in range(len(body))])
    check(path, parser, deltas)


# Literal facts from SOURCES-gemini-responses.md: a check on the test's own walk.
# file: (prompt incl. tool use, completion incl. thoughts, cached, thoughts, raw, calls, text)
FACTS = {
    MCP: (1844 + 1934, 432 + 91, 901, 91, "STOP", 1, 460),
    "code-execution-gemini-3-flash.sse": (147 + 360, 108 + 168, 0, 168, "STOP", 0, 82),
    "file-search-toolcall-gemini-3-flash.sse": (427 + 771, 122 + 447, 0, 447, "STOP", 0, 438),
    "function-call-no-args-signature-gemini-3-pro.sse": (29, 10 + 202, 0, 202, "STOP", 1, 0),
    "google-search-grounding-gemini-2-5-pro.sse": (17 + 102, 241 + 412, 0, 412, "STOP", 0, 926),
    "parallel-function-calls-ids-gemini-3-5-flash.sse": (85, 35 + 127, 0, 127, "STOP", 2, 0),
    "text-gemini-2-0-flash-exp.sse": (13, 8, 0, 0, "STOP", 0, 32),
    # candidatesTokenCount never present: the answer token is not counted.
    "thinking-no-candidates-count-gemini-2-5-flash.sse": (30, 1947, 0, 1947, "STOP", 0, 1),
    "thinking-thought-parts-gemini-2-5-pro.sse": (34, 469 + 787, 0, 787, "STOP", 0, 1938),
    VERTEX: (26, 23 + 132, 0, 132, "STOP", 2, 0),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_recording_facts(name: str) -> None:
    prompt, completion, cached, thoughts, raw, n_calls, text_length = FACTS[name]
    parser, deltas = run(events_of((FOLDER / name).read_bytes()))
    assert parser.usage == Usage.build(
        prompt, completion, cache_read_tokens=cached, reasoning_tokens=thoughts
    )
    assert parser.raw_finish_reasons == {0: raw}
    got = gather(deltas)
    assert len(got["calls"]) == n_calls
    assert len(got["text"]) == text_length


def test_usage_is_the_last_never_a_sum_and_may_shrink() -> None:
    path = FOLDER / "text-gemini-2-0-flash-exp.sse"
    decoder = SSEDecoder()
    parser = GeminiParser("gemini", "gemini-2.0-flash")
    prompts = []
    for piece in events_of(path.read_bytes()):
        for sse in decoder.feed(piece):
            parser.feed(sse, [])
        assert parser.usage is not None
        prompts.append(parser.usage.prompt_tokens)
    assert prompts == [15, 15, 13]  # promptTokenCount changes between chunks
    assert not parser.usage_final  # only a finished stream's count is final
    parser.at_eof()
    assert parser.usage_final and parser.usage.completion_tokens == 8


# -- the end of the body ------------------------------------------------------------------


def test_body_ending_before_a_finish_reason_is_incomplete() -> None:
    pieces = events_of((FOLDER / "thinking-thought-parts-gemini-2-5-pro.sse").read_bytes())
    parser, deltas = run(pieces[:-1])
    assert not parser.done  # the transport raises StreamIncompleteError
    assert not parser.finish_reasons
    assert gather(deltas)["thoughts"]  # what arrived is kept for the partial


def test_finish_reason_on_an_early_chunk_does_not_end_the_stream() -> None:
    """A server-side MCP turn says STOP on its first chunk and carries on."""
    pieces = events_of((FOLDER / MCP).read_bytes())
    parser, _ = run(pieces[:1], eof=False)
    assert parser.raw_finish_reasons == {0: "STOP"} and not parser.done
    parser, deltas = run(pieces)
    assert len(gather(deltas)["text"]) == 460


def test_every_candidate_must_finish() -> None:
    def chunk(index: int, text: str, finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": index,
        }
        if finish:
            candidate["finishReason"] = finish
        return f"data: {json.dumps({'candidates': [candidate]})}\r\n\r\n".encode()

    parser, deltas = run([chunk(0, "a"), chunk(1, "b"), chunk(0, "c", "STOP")])
    assert not parser.done
    parser, deltas = run(
        [chunk(0, "a"), chunk(1, "b"), chunk(0, "c", "STOP"), chunk(1, "d", "MAX_TOKENS")]
    )
    assert parser.done
    assert parser.finish_reasons == {0: "stop", 1: "length"}
    assert [(e.delta.choice_index, e.delta.value) for e in deltas] == [
        (0, "a"),
        (1, "b"),
        (0, "c"),
        (1, "d"),
    ]


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL"),
    ],
)
def test_finish_reasons_map(raw: str, unified: str) -> None:
    candidate = {"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": raw}
    parser, _ = run([f"data: {json.dumps({'candidates': [candidate]})}\r\n\r\n".encode()])
    assert parser.done
    assert parser.finish_reasons == {0: unified}
    assert parser.raw_finish_reasons == {0: raw}


# -- thoughts, calls and server-side tools -----------------------------------------------


def test_thought_signatures_are_kept_per_part_and_call() -> None:
    parser, deltas = run(
        events_of((FOLDER / "parallel-function-calls-ids-gemini-3-5-flash.sse").read_bytes())
    )
    assert [(s["part"], s["tool_call_index"]) for s in parser.thought_signatures] == [
        ("functionCall", 0)
    ]
    signature = parser.thought_signatures[0]["signature"]
    assert parser.tool_call_signatures == {(0, 0): signature}
    assert all(e.delta.get_text() == "" for e in deltas if e.delta.is_signature)
    thinking, _ = run(
        events_of((FOLDER / "thinking-thought-parts-gemini-2-5-pro.sse").read_bytes())
    )
    assert [s["part"] for s in thinking.thought_signatures] == ["text"]  # the first answer part


def test_vertex_streamed_arguments_become_json_text() -> None:
    _, deltas = run(events_of((FOLDER / VERTEX).read_bytes()))
    calls = gather(deltas)["calls"]
    assert [(c["name"], c["arguments"]) for c in calls] == [
        ("getWeather", '{"location":"Boston"}'),
        ("getWeather", '{"location":"San Francisco"}'),
    ]
    # The text streams: the opening, the value as it comes, then the closers.
    pieces = [e.delta.value for e in deltas if e.delta.tool_call_index == 0]
    assert pieces == ["", '{"location":"Boston', '"', "}"]


def test_function_call_without_arguments_is_an_empty_object() -> None:
    _, deltas = run(
        events_of((FOLDER / "function-call-no-args-signature-gemini-3-pro.sse").read_bytes())
    )
    assert [(c["name"], c["arguments"]) for c in gather(deltas)["calls"]] == [("get_country", "{}")]


def test_server_side_mcp_call_with_the_request_tools_is_not_a_client_call() -> None:
    """The request declared no functions, only a server-side tool: the call is the
    server's, its answer is in the stream, and the finish stays STOP -> stop."""
    parser = GeminiParser("gemini", "gemini-2.5-flash", client_tools=frozenset())
    parser, deltas = run(events_of((FOLDER / MCP).read_bytes()), parser)
    assert gather(deltas)["calls"] == []
    assert [e["type"] for e in parser.extras][:2] == ["serverFunctionCall", "functionResponse"]
    assert parser.extras[0]["value"]["name"] == "weather_server_get_weather"
    assert parser.finish_reasons == {0: "stop"}
    assert parser.finish_messages == {0: "Model generated function call(s)."}


def test_call_answered_in_the_stream_is_marked_server_executed() -> None:
    """Without knowing the request's tools, the call streams as a call (nothing can
    take a delta back), but its functionResponse marks it and the finish is stop."""
    parser, deltas = run(events_of((FOLDER / MCP).read_bytes()))
    assert [c["name"] for c in gather(deltas)["calls"]] == ["weather_server_get_weather"]
    assert parser.server_executed_calls == [(0, 0)]
    assert parser.finish_reasons == {0: "stop"}


def test_client_tools_pick_the_callers_calls() -> None:
    path = FOLDER / "parallel-function-calls-ids-gemini-3-5-flash.sse"
    mine, deltas = run(
        events_of(path.read_bytes()),
        GeminiParser("gemini", "m", client_tools=frozenset({"favorite_color"})),
    )
    assert len(gather(deltas)["calls"]) == 2 and mine.finish_reasons == {0: "tool_calls"}
    other, deltas = run(
        events_of(path.read_bytes()), GeminiParser("gemini", "m", client_tools=frozenset({"x"}))
    )
    assert gather(deltas)["calls"] == [] and other.finish_reasons == {0: "stop"}


def test_code_execution_and_grounding_are_kept_beside_the_text() -> None:
    parser, deltas = run(events_of((FOLDER / "code-execution-gemini-3-flash.sse").read_bytes()))
    code = next(e["value"] for e in parser.extras if e["type"] == "executableCode")
    result = next(e["value"] for e in parser.extras if e["type"] == "codeExecutionResult")
    assert code["language"] == "PYTHON" and len(code["code"]) == 57
    assert result == {"outcome": "OUTCOME_OK", "output": "-428330955.97745\n", "id": "8xju7mua"}
    assert gather(deltas)["text"].startswith("The result of $65465")
    grounded, _ = run(
        events_of((FOLDER / "google-search-grounding-gemini-2-5-pro.sse").read_bytes())
    )
    metadata = [e["value"] for e in grounded.extras if e["type"] == "groundingMetadata"]
    # Every chunk carries groundingMetadata, empty until the last: the empty ones say
    # nothing and are not kept.
    assert len(metadata) == 1 and metadata[0]["webSearchQueries"] == [
        "weather in San Francisco today"
    ]


# -- errors ---------------------------------------------------------------------------


def test_blocked_prompt_raises_a_typed_error() -> None:
    parser = GeminiParser("gemini", "gemini-pro")
    with pytest.raises(BadRequestError) as info:
        run(events_of((FOLDER / BLOCKED).read_bytes()), parser)
    err = info.value
    assert "the prompt was blocked: SAFETY" in err.message
    assert err.in_stream and not err.is_retryable and err.error_type == "prompt_blocked"
    assert err.body["promptFeedback"]["blockReason"] == "SAFETY"


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        (
            {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"},
            RateLimitError,
            429,
        ),
        ({"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}, ServerError, 503),
        ({"message": "bad", "status": "INVALID_ARGUMENT"}, BadRequestError, 400),
        ({"message": "?"}, ServerError, 500),
    ],
)
def test_in_stream_error_payload_is_typed(error: dict[str, Any], cls: type, status: int) -> None:
    head = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}
    body = f"data: {json.dumps(head)}\r\n\r\ndata: {json.dumps({'error': error})}\r\n\r\n".encode()
    decoder = SSEDecoder()
    parser = GeminiParser("gemini", "gemini-2.5-flash")
    out: list[StreamEvent] = []
    with pytest.raises(cls) as info:
        for sse in decoder.feed(body):
            parser.feed(sse, out)
    assert info.value.status_code == status and info.value.in_stream
    assert info.value.body == {"error": error}
    assert [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)] == ["Hi"]


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(StreamProtocolError):
        run([b"data: {oops\r\n\r\n"])


def test_hostile_shapes_do_not_crash() -> None:
    weird = [
        {"candidates": "no"},
        {"candidates": [1, {"content": "x"}, {"content": {"parts": "abc"}}]},
        {"candidates": [{"index": "1", "content": {"parts": [3, {"text": 5}, {"text": "ok"}]}}]},
        {"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]},
        {
            "candidates": [
                {"content": {"parts": [{"functionCall": {"partialArgs": [{"jsonPath": 3}]}}]}}
            ]
        },
        {"usageMetadata": {"promptTokenCount": "many"}},
    ]
    parser, deltas = run([f"data: {json.dumps(w)}\r\n\r\n".encode() for w in weird])
    assert [e.delta.value for e in deltas] == ["ok"]
    assert parser.usage == Usage()


# -- the non-streaming body -------------------------------------------------------------


def test_feed_body_is_a_single_chunk() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "hmm", "thought": True},
                        {"text": "Hello"},
                        {
                            "functionCall": {"name": "f", "args": {"a": [1, 2]}},
                            "thoughtSignature": "c2ln",
                        },
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 5,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 2,
            "totalTokenCount": 10,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    parser = GeminiParser("gemini", "m")
    out: list[StreamEvent] = []
    WIRES["gemini"].feed_body(parser, body, out)
    got = gather([e for e in out if isinstance(e, StreamDeltaEvent)])
    assert (got["text"], got["thoughts"]) == ("Hello", "hmm")
    assert [(c["name"], json.loads(c["arguments"])) for c in got["calls"]] == [("f", {"a": [1, 2]})]
    assert parser.done and parser.finish_reasons == {0: "tool_calls"}
    assert parser.usage == Usage.build(5, 5, reasoning_tokens=2)
    assert (parser.model, parser.response_id) == ("gemini-2.5-flash", "r1")
    assert parser.tool_call_signatures == {(0, 0): "c2ln"}


# -- the request --------------------------------------------------------------------------


def spec(**fields: Any) -> RequestSpec:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return RequestSpec(provider="gemini", model="gemini-2.5-flash", **fields)


def test_request_path_key_and_basics() -> None:
    req = build_gemini_request(
        spec(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            max_tokens=50,
            temperature=0.2,
            top_p=0.5,
            stop=["END"],
            extra={"thinking_config": {"thinkingBudget": 0}, "safetySettings": []},
        ),
        "gk",
    )
    assert req.path == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert req.headers["x-goog-api-key"] == "gk" and "authorization" not in req.headers
    assert req.headers["accept"] == "text/event-stream"
    assert req.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "maxOutputTokens": 50,
            "temperature": 0.2,
            "topP": 0.5,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 0},
        },
        "safetySettings": [],
    }
    plain = build_gemini_request(
        RequestSpec(provider="gemini", model="models/gemini-2.5-pro", messages=[], stream=False),
        None,
    )
    assert plain.path == "/models/gemini-2.5-pro:generateContent"
    assert plain.headers["accept"] == "application/json" and "x-goog-api-key" not in plain.headers


def test_request_conversation_round_trips_calls_and_signatures() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                {"type": "image_url", "image_url": {"url": "https://x.example/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "0b3pdf3o",
                    "type": "function",
                    "function": {"name": "color", "arguments": '{"who": "Joe"}'},
                    "thought_signature": "U0lH",
                },
                {"id": None, "type": "function", "function": {"name": "size", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "0b3pdf3o", "content": '{"color": "red"}'},
        {"role": "tool", "content": "large"},  # no id: the assistant's next call by position
        {"role": "user", "content": "thanks"},
    ]
    contents = build_gemini_request(spec(messages=messages), None).json["contents"]
    assert contents == [
        {
            "role": "user",
            "parts": [
                {"text": "Look:"},
                {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
                {"fileData": {"fileUri": "https://x.example/cat.jpg", "mimeType": "image/jpeg"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "color", "args": {"who": "Joe"}, "id": "0b3pdf3o"},
                    "thoughtSignature": "U0lH",
                },
                {"functionCall": {"name": "size", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "color",
                        "response": {"color": "red"},
                        "id": "0b3pdf3o",
                    }
                },
                {"functionResponse": {"name": "size", "response": {"output": "large"}}},
                {"text": "thanks"},
            ],
        },
    ]


def test_request_tool_result_without_a_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="function's name"):
        build_gemini_request(spec(messages=[{"role": "tool", "content": "x"}]), None)


def test_request_tools_choice_and_json() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "additionalProperties": False,
    }
    req = build_gemini_request(
        spec(
            tools=[
                {"name": "a", "description": "A", "parameters": schema},
                {"type": "function", "function": {"name": "b"}},
                {"googleSearch": {}},
            ],
            tool_choice={"type": "function", "function": {"name": "a"}},
            response_format={"type": "json_schema", "json_schema": {"name": "N", "schema": schema}},
        ),
        None,
    )
    assert req.json["tools"] == [
        {
            "functionDeclarations": [
                {"name": "a", "description": "A", "parametersJsonSchema": schema},
                {"name": "b"},
            ]
        },
        {"googleSearch": {}},
    ]
    assert req.json["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a"]}
    }
    assert req.json["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    for choice, mode in (("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")):
        assert build_gemini_request(spec(tool_choice=choice), None).json["toolConfig"] == {
            "functionCallingConfig": {"mode": mode}
        }
    json_object = build_gemini_request(spec(response_format={"type": "json_object"}), None)
    assert json_object.json["generationConfig"] == {"responseMimeType": "application/json"}
    with pytest.raises(ConfigurationError, match="not supported for Gemini"):
        build_gemini_request(spec(response_format={"type": "xml"}), None)
    assert build_gemini_request(spec(n=3), None).json["generationConfig"] == {"candidateCount": 3}


def test_client_function_names() -> None:
    assert client_function_names(spec()) is None
    assert client_function_names(spec(tools=[{"name": "a"}])) == {"a"}
    native = spec(
        extra={"tools": [{"functionDeclarations": [{"name": "b"}]}, {"codeExecution": {}}]}
    )
    assert client_function_names(native) == {"b"}
    assert client_function_names(spec(extra={"tools": [{"codeExecution": {}}]})) == frozenset()
