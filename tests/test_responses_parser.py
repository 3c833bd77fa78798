"""The OpenAI Responses API adapter, sans-IO: every recording through the real SSE decoder
(one event per read, and cut at seeded random byte positions), sequence numbers and
resuming, in-stream errors, built-in tool items, and the request builders. Expected
values come from this file's own simple walk over each recording, never from the
parser.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, recording_payloads

from steer_trio._errors import (
    BadRequestError,
    ConfigurationError,
    OverloadedError,
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
)
from steer_trio._providers._wires import WIRES
from steer_trio._sse import SSEDecoder
from steer_trio._usage import Usage

FOLDER = FIXTURES / "openai-responses"
RECORDINGS = sorted(FOLDER.glob("*.sse"))
ERROR_FILE = "error-insufficient-quota-gpt-5-nano.sse"
RESUME_FILE = "background-resume-starting-after-gpt-4o.sse"
CLIENT_CALLS = ("function_call", "custom_tool_call")


# -- the independent reading of a recording -------------------------------------------


def expected_from(path: Path) -> dict[str, Any]:
    text, refusal = "", ""
    reasoning_parts: dict[tuple[Any, ...], str] = {}  # insertion order = stream order
    calls: dict[int, dict[str, str]] = {}  # output_index -> call
    done_arguments: dict[int, str] = {}
    items: dict[int, dict[str, Any]] = {}
    phases: dict[int, str] = {}
    terminal: dict[str, Any] = {}
    numbers: list[int] = []
    rid = model = None
    for name, data in recording_payloads(path):
        kind = data["type"]
        assert name == kind  # every recording's event names agree with data.type
        if "sequence_number" in data:
            numbers.append(data["sequence_number"])
        if kind in ("response.created", "response.queued"):
            rid, model = data["response"]["id"], data["response"]["model"]
        elif kind == "response.output_text.delta":
            text += data["delta"]
        elif kind == "response.refusal.delta":
            refusal += data["delta"]
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            key = (kind, data["item_id"], data.get("summary_index"), data.get("content_index"))
            reasoning_parts[key] = reasoning_parts.get(key, "") + data["delta"]
        elif kind == "response.output_item.added":
            item = data["item"]
            items[data["output_index"]] = item
            if item["type"] in CLIENT_CALLS:
                calls[data["output_index"]] = {
                    "id": item["call_id"],
                    "name": item["name"],
                    "arguments": "",
                }
            if item["type"] == "message" and "phase" in item:
                phases[data["output_index"]] = item["phase"]
        elif kind == "response.output_item.done":
            items[data["output_index"]] = data["item"]
        elif kind == "response.function_call_arguments.delta":
            calls[data["output_index"]]["arguments"] += data["delta"]
        elif kind == "response.function_call_arguments.done":
            done_arguments[data["output_index"]] = data["arguments"]
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            terminal = data["response"]
            rid, model = terminal["id"], terminal["model"]
    for index, arguments in done_arguments.items():
        assert calls[index]["arguments"] == arguments  # deltas add up to .done
    status = terminal.get("status")
    if status == "incomplete":
        raw_finish = terminal["incomplete_details"]["reason"]
        finish = "length"
    elif status == "completed":
        raw_finish, finish = "completed", "tool_calls" if calls else "stop"
    else:
        raw_finish = finish = None
    usage = terminal.get("usage")
    return {
        "id": rid,
        "model": model,
        "text": text,
        "refusal": refusal,
        "reasoning": "\n\n".join(reasoning_parts.values()),
        "calls": [calls[i] for i in sorted(calls)],
        "builtin": [
            items[i]
            for i in sorted(items)
            if items[i]["type"] not in ("message", "reasoning", *CLIENT_CALLS)
        ],
        "phases": phases,
        "finish": finish,
        "raw_finish": raw_finish,
        "usage": usage,
        "numbers": numbers,
    }


def usage_from(raw: dict[str, Any]) -> Usage:
    return Usage.build(
        raw["input_tokens"],
        raw["output_tokens"],
        cache_read_tokens=(raw.get("input_tokens_details") or {}).get("cached_tokens", 0),
        reasoning_tokens=(raw.get("output_tokens_details") or {}).get("reasoning_tokens", 0),
    )


# -- running the decoder and the parser --------------------------------------------------


def events_of(body: bytes) -> list[bytes]:
    """The body as one piece per event, as a provider writes them."""
    return [part + b"\n\n" for part in body.split(b"\n\n") if part.strip()]


def run(
    pieces: list[bytes], parser: OpenAIResponsesParser | None = None
) -> tuple[OpenAIResponsesParser, list[StreamDeltaEvent]]:
    decoder = SSEDecoder()
    parser = parser or OpenAIResponsesParser("openai", "gpt-requested")
    out: list[StreamEvent] = []
    for piece in pieces:
        for sse in decoder.feed(piece):
            parser.feed(sse, out)
    for sse in decoder.close():
        parser.feed(sse, out)
    parser.at_eof()
    deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
    assert len(deltas) == len(out)
    return parser, deltas


def cut(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 120))))
    bounds = [0, *points, len(body)]
    return [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def gather(deltas: list[StreamDeltaEvent]) -> dict[str, Any]:
    calls: dict[int, dict[str, Any]] = {}
    for event in deltas:
        d = event.delta
        if d.kind == "tool_call":
            assert d.tool_call_index is not None
            call = calls.setdefault(d.tool_call_index, {"id": None, "name": None, "arguments": ""})
            if d.tool_call_id is not None or d.tool_name is not None:
                assert call["arguments"] == ""  # id and name come first
                call["id"], call["name"] = d.tool_call_id, d.tool_name
            call["arguments"] += d.value
    assert sorted(calls) == list(range(len(calls)))
    return {
        "text": "".join(e.delta.value for e in deltas if e.delta.kind == "text"),
        "refusal": "".join(e.delta.value for e in deltas if e.delta.kind == "refusal"),
        "reasoning": "".join(e.delta.value for e in deltas if e.delta.kind == "reasoning"),
        "calls": [calls[i] for i in sorted(calls)],
    }


def check(path: Path, parser: OpenAIResponsesParser, deltas: list[StreamDeltaEvent]) -> None:
    expected = expected_from(path)
    got = gather(deltas)
    assert got["text"] == expected["text"]
    assert got["refusal"] == expected["refusal"]
    assert got["reasoning"] == expected["reasoning"]
    assert got["calls"] == expected["calls"]
    for call in got["calls"]:
        json.loads(call["arguments"])
    assert parser.done
    assert parser.finish_reasons == {0: expected["finish"]}
    assert parser.raw_finish_reasons == {0: expected["raw_finish"]}
    assert parser.usage == usage_from(expected["usage"])
    assert parser.raw_usage == expected["usage"]
    assert parser.response_id == expected["id"]
    assert parser.model == expected["model"]
    assert parser.builtin_items == expected["builtin"]
    assert parser.phases == expected["phases"]
    assert parser.last_sequence_number == (
        max(expected["numbers"]) if expected["numbers"] else None
    )
    assert all(e.delta.value or e.delta.tool_call_id for e in deltas)
    assert [e.chunk_index for e in deltas] == list(range(len(deltas)))


COMPLETE = [p for p in RECORDINGS if p.name != ERROR_FILE]


def test_all_recordings_are_present() -> None:
    assert len(RECORDINGS) == 18, f"expected the 18 Responses recordings under {FOLDER}"


@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.name)
def test_recording_one_event_per_read(path: Path) -> None:
    parser, deltas = run(events_of(path.read_bytes()))
    check(path, parser, deltas)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("path", COMPLETE, ids=lambda p: p.name)
def test_recording_cut_at_random(path: Path, seed: int) -> None:
    body = path.read_bytes()
    parser, deltas = run(cut(body, seed))
    check(path, parser, deltas)


SMALL = [p for p in COMPLETE if p.stat().st_size < 20_000]


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.name)
def test_recording_one_byte_at_a_time(path: Path) -> None:
    body = path.read_bytes()
    parser, deltas = run([body[i : i + 1] for i in range(len(body))])
    check(path, parser, deltas)


# Literal facts from the SOURCES files: a check on the test's own walk above.
# file: (prompt, completion, cached, reasoning, raw finish, calls, text length)
FACTS = {
    "code-interpreter-cached-gpt-5.sse": (3727, 347, 3200, 128, "completed", 0, 646),
    "compaction-item-gpt-4-1.sse": (872, 1254, 0, 0, "completed", 0, 1750),
    "file-search-gpt-4o.sse": (1177, 37, 0, 0, "completed", 0, 31),
    "image-generation-gpt-5.sse": (2941, 1249, 1920, 1024, "completed", 0, 0),
    "incomplete-max-output-tokens-gpt-4o.sse": (14, 50, 0, 0, "max_output_tokens", 0, 152),
    "json-schema-gpt-5-4.sse": (None, None, 0, 0, "completed", 0, 24),
    "mcp-call-o4-mini.sse": (1401, 480, 0, 256, "completed", 0, 687),
    "parallel-function-calls-gpt-4o.sse": (36, 54, 0, 0, "completed", 2, 0),
    "phase-commentary-function-call-gpt-5-5.sse": (63, 69, 0, 26, "completed", 1, 52),
    "refusal-json-schema-gpt-4o.sse": (None, None, 0, 0, "completed", 0, 0),
    "tool-search-gpt-5-4.sse": (600, 47, 0, 21, "completed", 1, 0),
    "text-gpt-5-5.sse": (11, 5, 0, 0, "completed", 0, 4),
    "function-call-gpt-4o-no-seqnum.sse": (255, 16, 0, 0, "completed", 1, 0),
    "function-call-reasoning-gpt-5.sse": (53, 469, 0, 448, "completed", 1, 0),
    "reasoning-summary-o3-mini.sse": (13, 1680, 0, 1408, "completed", 0, None),
    "web-search-cached-gpt-5.sse": (9463, 582, 8320, 512, "completed", 0, None),
    RESUME_FILE: (15, 9, 0, 0, "completed", 0, 15),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_recording_facts(name: str) -> None:
    prompt, completion, cached, reasoning, raw_finish, n_calls, text_length = FACTS[name]
    parser, deltas = run(events_of((FOLDER / name).read_bytes()))
    assert parser.usage is not None
    if prompt is not None:
        assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (prompt, completion)
        assert parser.usage.total_tokens == prompt + completion
    assert parser.usage.cache_read_tokens == cached
    assert parser.usage.reasoning_tokens == reasoning
    assert parser.raw_finish_reasons[0] == raw_finish
    got = gather(deltas)
    assert len(got["calls"]) == n_calls
    if text_length is not None:
        assert len(got["text"]) == text_length


def test_parallel_calls_are_told_apart_by_output_index() -> None:
    _, deltas = run(events_of((FOLDER / "parallel-function-calls-gpt-4o.sse").read_bytes()))
    calls = gather(deltas)["calls"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("secret_retrieval_tool", {"password": "mellon"}),
        ("secret_retrieval_tool", {"password": "radiance"}),
    ]
    # The recording streams one call after the other; interleave the two calls' events
    # (both opened, then their deltas alternating) and the result must not change.
    payloads = [d for _, d in recording_payloads(FOLDER / "parallel-function-calls-gpt-4o.sse")]
    opened = [d for d in payloads if d["type"] == "response.output_item.added"]
    first, second = (
        [d for d in payloads if d["type"].endswith("arguments.delta") and d["output_index"] == i]
        for i in (0, 1)
    )
    assert first and second
    mixed = [x for pair in zip(first, second, strict=False) for x in pair]
    mixed += first[len(second) :] + second[len(first) :]
    rest = [d for d in payloads if d not in opened and not d["type"].endswith("arguments.delta")]
    stream = [*opened, *mixed, *rest]
    _, shuffled = run(
        [
            sse(d["type"], {k: v for k, v in d.items() if k not in ("type", "sequence_number")})
            for d in stream
        ]
    )
    assert gather(shuffled)["calls"] == calls


def test_builtin_tools_never_become_tool_calls() -> None:
    kinds = {
        "code-interpreter-cached-gpt-5.sse": ["code_interpreter_call"] * 3,
        "compaction-item-gpt-4-1.sse": ["compaction"],
        "file-search-gpt-4o.sse": ["file_search_call"],
        "image-generation-gpt-5.sse": ["image_generation_call"],
        "mcp-call-o4-mini.sse": ["mcp_list_tools", "mcp_call"],
        "tool-search-gpt-5-4.sse": ["tool_search_call", "tool_search_output"],
        "web-search-cached-gpt-5.sse": ["web_search_call"],
    }
    for name, expected in kinds.items():
        parser, deltas = run(events_of((FOLDER / name).read_bytes()))
        assert [item["type"] for item in parser.builtin_items] == expected, name
        calls = gather(deltas)["calls"]
        assert all(c["name"] not in ("ask_question",) for c in calls)  # mcp_call's tool
        # The finished form of each item replaces the one first announced.
        assert all(item.get("status") != "in_progress" for item in parser.builtin_items), name


def test_phase_commentary_is_text_and_kept() -> None:
    parser, deltas = run(
        events_of((FOLDER / "phase-commentary-function-call-gpt-5-5.sse").read_bytes())
    )
    assert parser.phases == {1: "commentary"}
    assert (
        gather(deltas)["text"]
        == "I\u2019ll check the capital lookup tool for \u201cPotatoLand.\u201d"
    )
    assert parser.finish_reasons == {0: "tool_calls"}
    json_schema = run(events_of((FOLDER / "json-schema-gpt-5-4.sse").read_bytes()))[0]
    assert json_schema.phases == {0: "final_answer"}


def test_reasoning_summary_parts_are_paragraphs() -> None:
    path = FOLDER / "reasoning-summary-o3-mini.sse"
    _, deltas = run(events_of(path.read_bytes()))
    reasoning = gather(deltas)["reasoning"]
    parts = [
        d["text"]
        for _, d in recording_payloads(path)
        if d["type"] == "response.reasoning_summary_text.done"
    ]
    assert len(parts) == 4
    assert reasoning == "\n\n".join(parts)


def test_reasoning_items_kept_for_the_next_turn() -> None:
    parser, _ = run(events_of((FOLDER / "function-call-reasoning-gpt-5.sse").read_bytes()))
    assert len(parser.reasoning_items) == 1
    assert len(parser.reasoning_items[0]["encrypted_content"]) == 3896  # as SOURCES says


def test_refusal_is_its_own_channel() -> None:
    _, deltas = run(events_of((FOLDER / "refusal-json-schema-gpt-4o.sse").read_bytes()))
    got = gather(deltas)
    assert got["text"] == ""
    assert got["refusal"] == "I'm sorry, I can't assist with that."


def test_incomplete_is_length_with_the_reason_kept() -> None:
    parser, _ = run(events_of((FOLDER / "incomplete-max-output-tokens-gpt-4o.sse").read_bytes()))
    assert parser.done and parser.status == "incomplete"
    assert parser.finish_reasons == {0: "length"}
    assert parser.raw_finish_reasons == {0: "max_output_tokens"}


# -- errors ---------------------------------------------------------------------------


def test_error_event_is_typed_and_stops_the_stream() -> None:
    body = (FOLDER / ERROR_FILE).read_bytes()
    parser = OpenAIResponsesParser("openai", "gpt-5-nano")
    with pytest.raises(RateLimitError) as info:
        run(events_of(body), parser)
    err = info.value
    assert err.in_stream and err.error_type == "insufficient_quota"
    assert not err.is_retryable  # quota: a new request will not succeed
    assert "exceeded your current quota" in err.message
    assert parser.response_id == "resp_05500b38c2cd9bfc00691c7c9d222481a3b595421266dab424"
    assert not parser.done


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def response(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "model": "gpt-5", "status": status, **fields}


def test_response_failed_without_error_event_is_typed() -> None:
    failed = response("failed", error={"code": "server_error", "message": "boom"})
    with pytest.raises(ServerError) as info:
        run(
            [
                sse("response.created", {"response": response("in_progress")}),
                sse("response.failed", {"response": failed}),
            ]
        )
    assert info.value.message == "boom" and info.value.is_retryable
    assert info.value.body["type"] == "response.failed"


def test_error_event_in_the_documented_flat_shape() -> None:
    flat = {"code": "invalid_request_error", "message": "bad input", "param": "input"}
    with pytest.raises(BadRequestError) as info:
        run([sse("error", flat)])
    assert info.value.message == "bad input"


def test_failed_with_no_error_object_still_raises() -> None:
    with pytest.raises(ProviderError, match="without saying why"):
        run([sse("response.failed", {"response": response("failed")})])


def test_error_after_text_keeps_the_deltas_before_it() -> None:
    decoder = SSEDecoder()
    parser = OpenAIResponsesParser("openai", "gpt-5")
    out: list[StreamEvent] = []
    body = sse("response.output_text.delta", {"delta": "Hel", "output_index": 0}) + sse(
        "error",
        {"error": {"type": "overloaded_error", "code": "overloaded_error", "message": "busy"}},
    )
    with pytest.raises(OverloadedError):
        for event in decoder.feed(body):
            parser.feed(event, out)
    assert [e.delta.value for e in out if isinstance(e, StreamDeltaEvent)] == ["Hel"]


def test_garbage_is_a_protocol_error_with_the_line() -> None:
    with pytest.raises(StreamProtocolError) as info:
        run([b"event: response.output_text.delta\ndata: {nope\n\n"])
    assert info.value.raw == "{nope"


def test_body_ending_without_a_terminal_event_is_not_done() -> None:
    body = events_of((FOLDER / "text-gpt-5-5.sse").read_bytes())[:-1]
    parser, deltas = run(body)
    assert not parser.done  # the transport raises StreamIncompleteError
    assert gather(deltas)["text"] == "pong"
    assert parser.usage is None


def test_events_after_the_end_are_ignored() -> None:
    pieces = events_of((FOLDER / "text-gpt-5-5.sse").read_bytes())
    late = sse("response.output_text.delta", {"delta": "late", "sequence_number": 99})
    _, deltas = run([*pieces, late])
    assert gather(deltas)["text"] == "pong"


# -- sequence numbers and resuming ------------------------------------------------------


def test_duplicate_and_stale_sequence_numbers_are_ignored() -> None:
    pieces = events_of((FOLDER / "json-schema-gpt-5-4.sse").read_bytes())
    rng = random.Random(3)
    noisy = list(pieces)
    for _ in range(10):
        at = rng.randrange(1, len(noisy))
        noisy.insert(at, rng.choice(noisy[:at]))  # an event already delivered
    parser, deltas = run(noisy)
    check(FOLDER / "json-schema-gpt-5-4.sse", parser, deltas)


def test_events_without_sequence_numbers_are_never_dropped() -> None:
    path = FOLDER / "function-call-gpt-4o-no-seqnum.sse"
    pieces = events_of(path.read_bytes())
    assert all(b"sequence_number" not in p for p in pieces)
    parser, deltas = run(pieces)
    check(path, parser, deltas)
    assert parser.last_sequence_number is None


@pytest.mark.parametrize("cut_after", [1, 3, 6, 10, 14])
def test_resuming_a_background_response(cut_after: int) -> None:
    """The connection drops after ``cut_after`` events; the resumed stream carries on
    from the last sequence number the parser saw, to the same answer."""
    path = FOLDER / RESUME_FILE
    pieces = events_of(path.read_bytes())
    parser, before = run(pieces[:cut_after])
    assert not parser.done
    assert parser.response_id == "resp_0850765c843cca5300699cc47d93c0819089a181f5feeff8eb"
    last = parser.last_sequence_number
    assert last == cut_after  # the recording starts at 1 (it resumed after 0)
    request = build_responses_resume_request(parser.response_id, last, "sk-test")
    assert request.method == "GET"
    assert request.path == (
        f"/responses/resp_0850765c843cca5300699cc47d93c0819089a181f5feeff8eb"
        f"?stream=true&starting_after={last}"
    )
    # What the server sends: the events after `last`. The same parser carries on.
    numbered = [(json.loads(p.split(b"data: ", 1)[1])["sequence_number"], p) for p in pieces]
    _, after = run([p for n, p in numbered if n > last], parser)
    check(path, parser, before + after)


def test_resuming_from_a_server_that_repeats_the_whole_stream() -> None:
    path = FOLDER / RESUME_FILE
    pieces = events_of(path.read_bytes())
    parser, before = run(pieces[:7])
    _, after = run(pieces, parser)  # everything again: the first 7 are duplicates
    check(path, parser, before + after)
    assert gather(before + after)["text"] == "2 + 2 equals 4."


def test_resume_request_is_checked_and_escaped() -> None:
    assert build_responses_resume_request("a/b c", 0, None).path == (
        "/responses/a%2Fb%20c?stream=true&starting_after=0"
    )
    assert "authorization" not in build_responses_resume_request("r", 0, None).headers
    for bad in (-1, "3", True, 1.5):
        with pytest.raises(ConfigurationError, match="starting_after"):
            build_responses_resume_request("r", bad, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="response id"):
        build_responses_resume_request("", 0, None)


# -- synthetic streams: calls that do not stream their arguments ------------------------


def test_call_whose_arguments_arrive_only_at_done() -> None:
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "f",
        "arguments": "",
    }
    done = {**item, "arguments": '{"a": 1}'}
    parser, deltas = run(
        [
            sse("response.output_item.added", {"output_index": 0, "item": item}),
            sse(
                "response.function_call_arguments.done",
                {"output_index": 0, "arguments": '{"a": 1}'},
            ),
            sse("response.output_item.done", {"output_index": 0, "item": done}),
            sse("response.completed", {"response": response("completed")}),
        ]
    )
    assert gather(deltas)["calls"] == [{"id": "call_1", "name": "f", "arguments": '{"a": 1}'}]
    assert parser.finish_reasons == {0: "tool_calls"}


def test_custom_tool_call_is_a_client_call() -> None:
    item = {
        "type": "custom_tool_call",
        "id": "ctc_1",
        "call_id": "call_9",
        "name": "sh",
        "input": "",
    }
    _, deltas = run(
        [
            sse("response.output_item.added", {"output_index": 0, "item": item}),
            sse("response.custom_tool_call_input.delta", {"output_index": 0, "delta": "ls "}),
            sse("response.custom_tool_call_input.delta", {"output_index": 0, "delta": "-la"}),
            sse("response.custom_tool_call_input.done", {"output_index": 0, "input": "ls -la"}),
            sse("response.completed", {"response": response("completed")}),
        ]
    )
    assert gather(deltas)["calls"] == [{"id": "call_9", "name": "sh", "arguments": "ls -la"}]


def test_content_filter_incomplete_is_not_length() -> None:
    incomplete = response("incomplete", incomplete_details={"reason": "content_filter"})
    parser, _ = run([sse("response.incomplete", {"response": incomplete})])
    assert parser.finish_reasons == {0: "content_filter"}
    assert parser.raw_finish_reasons == {0: "content_filter"}


def test_usage_with_cache_writes() -> None:
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 20, "cache_creation_tokens": 30},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 107,
    }
    parser, _ = run([sse("response.completed", {"response": response("completed", usage=usage)})])
    assert parser.usage == Usage.build(
        100, 7, cache_read_tokens=20, cache_write_tokens=30, reasoning_tokens=2
    )


# -- the non-streaming body -------------------------------------------------------------


def test_feed_body_matches_the_stream() -> None:
    """The terminal event of each recording holds the whole response object: fed as a
    non-streaming body it must give what the stream gave (reasoning aside: only the
    summary text is in the object)."""
    for path in COMPLETE:
        terminal = [
            d
            for _, d in recording_payloads(path)
            if d["type"] in ("response.completed", "response.incomplete")
        ]
        parser = OpenAIResponsesParser("openai", "m")
        out: list[StreamEvent] = []
        WIRES["openai_responses"].feed_body(parser, terminal[-1]["response"], out)
        deltas = [e for e in out if isinstance(e, StreamDeltaEvent)]
        expected = expected_from(path)
        got = gather(deltas)
        assert parser.done, path.name
        assert got["text"] == expected["text"], path.name
        assert got["refusal"] == expected["refusal"], path.name
        assert got["calls"] == expected["calls"], path.name
        assert parser.finish_reasons == {0: expected["finish"]}, path.name
        assert parser.usage == usage_from(expected["usage"]), path.name
        assert [i["type"] for i in parser.builtin_items] == [i["type"] for i in expected["builtin"]]


def test_feed_body_failed_raises() -> None:
    parser = OpenAIResponsesParser("openai", "m")
    body = response("failed", error={"code": "rate_limit_exceeded", "message": "slow down"})
    with pytest.raises(RateLimitError):
        parser.feed_response(body, [])


# -- the request --------------------------------------------------------------------------


def spec(**fields: Any) -> RequestSpec:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return RequestSpec(provider="openai", model="gpt-5", **fields)


def test_request_basics() -> None:
    req = build_responses_request(
        spec(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": "Use metric."},
            ],
            max_tokens=50,
            temperature=0.5,
            top_p=0.9,
        ),
        "sk",
    )
    assert req.path == "/responses" and req.method == "POST"
    assert req.headers["authorization"] == "Bearer sk"
    assert req.headers["accept"] == "text/event-stream"
    assert req.json == {
        "model": "gpt-5",
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": "Use metric."},
        ],
        "instructions": "Be brief.",
        "stream": True,
        "max_output_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
        "store": False,
    }


def test_request_conversation_with_tools_and_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"x": 1}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "look", "arguments": {"x": 2}},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
    ]
    req = build_responses_request(spec(messages=messages), None)
    assert req.json["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
            ],
        },
        {"role": "assistant", "content": "Let me look."},
        {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "call_2", "name": "look", "arguments": '{"x": 2}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        {"type": "function_call_output", "call_id": "call_2", "output": "a dog"},
    ]
    assert "authorization" not in req.headers


def test_request_tools_flattened_and_builtin_passed() -> None:
    tools = [
        {"name": "a", "description": "A", "parameters": {"type": "object", "properties": {}}},
        {
            "type": "function",
            "function": {"name": "b", "parameters": {"type": "object"}, "strict": True},
        },
        {"type": "web_search"},
        {"type": "mcp", "server_label": "x", "server_url": "https://x"},
        {"name": "c"},
    ]
    req = build_responses_request(
        spec(tools=tools, tool_choice={"type": "function", "function": {"name": "b"}}), None
    )
    assert req.json["tools"] == [
        {
            "type": "function",
            "name": "a",
            "description": "A",
            "parameters": {"type": "object", "properties": {}},
        },
        {"type": "function", "name": "b", "parameters": {"type": "object"}, "strict": True},
        {"type": "web_search"},
        {"type": "mcp", "server_label": "x", "server_url": "https://x"},
        {"type": "function", "name": "c", "parameters": {"type": "object", "properties": {}}},
    ]
    assert req.json["tool_choice"] == {"type": "function", "name": "b"}
    for choice, sent in (
        ("required", "required"),
        ("auto", "auto"),
        ({"name": "a"}, {"type": "function", "name": "a"}),
        ({"type": "web_search"}, {"type": "web_search"}),
    ):
        assert build_responses_request(spec(tool_choice=choice), None).json["tool_choice"] == sent
    with pytest.raises(ConfigurationError, match="tool_choice"):
        build_responses_request(spec(tool_choice=3), None)


def test_request_json_modes() -> None:
    req = build_responses_request(spec(response_format={"type": "json_object"}), None)
    assert req.json["text"] == {"format": {"type": "json_object"}}
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "N", "schema": schema, "strict": True}}
    req = build_responses_request(
        spec(response_format=fmt, extra={"text": {"verbosity": "low"}}), None
    )
    assert req.json["text"] == {
        "format": {"type": "json_schema", "name": "N", "schema": schema, "strict": True},
        "verbosity": "low",
    }
    assert "text" not in build_responses_request(spec(response_format={"type": "text"}), None).json
    with pytest.raises(ConfigurationError, match="not supported"):
        build_responses_request(spec(response_format={"type": "xml"}), None)


def test_request_reasoning_store_and_refusals() -> None:
    req = build_responses_request(
        spec(extra={"reasoning_effort": "high", "reasoning_summary": "auto"}), None
    )
    assert req.json["reasoning"] == {"effort": "high", "summary": "auto"}
    req = build_responses_request(spec(extra={"reasoning": {"effort": "low"}}), None)
    assert req.json["reasoning"] == {"effort": "low"}
    assert build_responses_request(spec(extra={"store": True}), None).json["store"] is True
    background = build_responses_request(spec(extra={"background": True}), None).json
    assert background["background"] is True and "store" not in background
    assert "stream" not in build_responses_request(spec(stream=False), None).json
    with pytest.raises(ConfigurationError, match="stop sequences"):
        build_responses_request(spec(stop=["\n"]), None)
    with pytest.raises(ConfigurationError, match="n>1"):
        build_responses_request(spec(n=2), None)
