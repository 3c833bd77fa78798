"""The OpenAI-format parser on every OpenAI, xAI and OpenAI-compatible recording.

Expected values are read from each file independently (tests/conftest.py), then the
file is fed through the real SSE decoder and parser, whole and re-chunked."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, recording_payloads

from steer_trio import (
    BadRequestError,
    ProviderError,
    RateLimitError,
    ServerError,
    SSEDecoder,
    StreamDeltaEvent,
    StreamEvent,
    StreamProtocolError,
)
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._openai import OpenAIChatParser, build_openai_request
from steer_trio._response import ResponseBuilder, StreamingResponse
from steer_trio._sse import ServerSentEvent
from steer_trio._usage import Usage

RECORDINGS = sorted(
    p for folder in ("openai-chat", "xai") for p in (FIXTURES / folder).glob("*.sse")
)


def expected_from_recording(path: Path) -> dict[str, Any]:
    text: dict[int, str] = {}
    refusal = ""
    reasoning = ""
    calls: dict[int, dict[str, str]] = {}
    finish: dict[int, str] = {}
    usage = None
    for _event, data in recording_payloads(path):
        if data == "[DONE]":
            continue
        for choice in data.get("choices") or []:
            idx = choice.get("index", 0)
            delta = choice.get("delta") or {}
            text[idx] = text.get(idx, "") + (delta.get("content") or "")
            if idx == 0:
                refusal += delta.get("refusal") or ""
                reasoning += delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                    fn = call.get("function") or {}
                    slot["id"] = call.get("id") or slot["id"]
                    slot["name"] = fn.get("name") or slot["name"]
                    slot["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                finish[idx] = choice["finish_reason"]
        if data.get("usage"):
            usage = data["usage"]
    return {
        "text": text,
        "refusal": refusal,
        "reasoning": reasoning,
        "calls": calls,
        "finish": finish,
        "usage": usage,
    }


def run_parser(
    body: bytes, chunks: list[int] | None, provider: str = "openai"
) -> tuple[OpenAIChatParser, StreamingResponse]:
    decoder = SSEDecoder()
    parser = OpenAIChatParser(provider, "model")
    builder = ResponseBuilder()
    out: list[StreamEvent] = []
    pieces = [body] if chunks is None else []
    if chunks is not None:
        start = 0
        for size in chunks:
            pieces.append(body[start : start + size])
            start += size
        pieces.append(body[start:])
    for piece in pieces:
        for sse in decoder.feed(piece):
            parser.feed(sse, out)
    for sse in decoder.close():
        parser.feed(sse, out)
    for event in out:
        assert isinstance(event, StreamDeltaEvent)
        builder.add(event)
    return parser, builder.build(StreamingResponse())


def random_chunks(size: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    sizes = []
    total = 0
    while total < size:
        n = rng.randint(1, 97)
        sizes.append(n)
        total += n
    return sizes


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_recording_conformance(path: Path, seed: int | None) -> None:
    body = path.read_bytes()
    expected = expected_from_recording(path)
    chunks = None if seed is None else random_chunks(len(body), seed)
    parser, response = run_parser(body, chunks, "xai" if "xai" in path.parts else "openai")
    assert parser.done
    assert response.text == expected["text"].get(0, "")
    for choice in response.choices:
        assert choice.text == expected["text"].get(choice.index, "")
        assert choice.finish_reason is None  # builder alone does not know finish reasons
    assert (response.refusal or "") == expected["refusal"]
    assert response.reasoning == expected["reasoning"]
    got_calls = {c.index: (c.id, c.name, c.arguments) for c in response.tool_calls}
    want_calls = {i: (c["id"], c["name"], c["arguments"]) for i, c in expected["calls"].items()}
    assert got_calls == want_calls
    for call in response.tool_calls:
        json.loads(call.arguments)
    assert parser.finish_reasons == expected["finish"]
    raw = expected["usage"]
    if raw is None:
        assert parser.usage is None
    else:
        assert parser.usage is not None
        reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
        cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        completion = raw["completion_tokens"]
        if "xai" in path.parts and reasoning:
            # xAI: completion excludes reasoning; total includes it.
            assert raw["total_tokens"] == raw["prompt_tokens"] + completion + reasoning
            completion += reasoning
        assert parser.usage.prompt_tokens == raw["prompt_tokens"]
        assert parser.usage.completion_tokens == completion
        assert parser.usage.total_tokens == raw["prompt_tokens"] + completion
        assert parser.usage.reasoning_tokens == reasoning
        assert parser.usage.cache_read_tokens == cached


def test_xai_usage_counts_reasoning_in_completion() -> None:
    parser, _ = run_parser((FIXTURES / "xai/grok-3-mini-reasoning-text.sse").read_bytes(), None)
    assert parser.usage is not None
    assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (12, 342)
    assert parser.usage.total_tokens == 354
    assert parser.usage.reasoning_tokens == 340
    assert parser.usage.cache_read_tokens == 11


def test_gpt5_nano_reasoning_already_inside_completion() -> None:
    path = FIXTURES / "openai-chat/reasoning-tokens-gpt-5-nano.sse"
    parser, _ = run_parser(path.read_bytes(), None)
    assert parser.usage is not None
    assert (parser.usage.completion_tokens, parser.usage.reasoning_tokens) == (74, 64)
    assert parser.usage.total_tokens == 86


def test_refusal_kept_apart_from_text() -> None:
    path = FIXTURES / "openai-chat/refusal-json-schema-gpt-4o.sse"
    _, response = run_parser(path.read_bytes(), None)
    assert response.text == ""
    assert response.refusal == "I'm sorry, I can't assist with that request."


def test_n3_choices_each_have_text() -> None:
    path = FIXTURES / "openai-chat/multi-choice-n3-json-schema-gpt-4o.sse"
    parser, response = run_parser(path.read_bytes(), None)
    assert [c.index for c in response.choices] == [0, 1, 2]
    for choice in response.choices:
        json.loads(choice.text)
    assert parser.finish_reasons == {0: "stop", 1: "stop", 2: "stop"}


def test_grok2_usage_on_every_chunk_keeps_last_not_sum() -> None:
    path = FIXTURES / "xai/grok-2-text-usage-every-chunk.sse"
    payloads = [d for _, d in recording_payloads(path) if d != "[DONE]"]
    last = [d["usage"] for d in payloads if d.get("usage")][-1]
    parser, _ = run_parser(path.read_bytes(), None)
    assert parser.usage is not None
    assert parser.usage.prompt_tokens == last["prompt_tokens"]


def test_groq_mid_stream_error_is_typed_and_keeps_partial_text() -> None:
    path = FIXTURES / "openai-compatible/groq-gpt-oss-mid-stream-error.sse"
    decoder = SSEDecoder()
    parser = OpenAIChatParser("openai_compatible", "openai/gpt-oss-120b")
    out: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        for sse in decoder.feed(path.read_bytes()):
            parser.feed(sse, out)
    err = info.value
    assert err.in_stream
    assert err.status_code == 400
    assert err.error_type == "invalid_request_error"
    assert not err.is_retryable
    text = "".join(
        e.delta.value for e in out if isinstance(e, StreamDeltaEvent) and e.delta.kind == "text"
    )
    assert text == "maybe"


def test_request_always_asks_for_usage() -> None:
    spec = RequestSpec(
        provider="openai", model="gpt-4o", messages=[{"role": "user", "content": "x"}], max_tokens=5
    )
    req = build_openai_request(spec, "sk")
    assert req.json["stream_options"] == {"include_usage": True}
    assert req.json["max_completion_tokens"] == 5
    assert req.headers["authorization"] == "Bearer sk"
    spec.provider = "xai"
    assert build_openai_request(spec, "k").json["max_tokens"] == 5


# -- helpers for hand-written streams -------------------------------------------------------


def sse_bytes(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def feed_wire(
    parser: OpenAIChatParser, payloads: list[dict[str, Any] | str], *, one_by_one: bool
) -> list[StreamEvent]:
    """Feed the stream one event per read, or the whole wire in one read."""
    decoder = SSEDecoder()
    out: list[StreamEvent] = []
    wire = [sse_bytes(p) for p in payloads]
    for piece in wire if one_by_one else [b"".join(wire)]:
        for sse in decoder.feed(piece):
            parser.feed(sse, out)
    return out


def kinds(out: list[StreamEvent]) -> list[tuple[str, str]]:
    return [(e.delta.kind, e.delta.value) for e in out if isinstance(e, StreamDeltaEvent)]


def mistral_chunk(content: Any, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c8d7",
        "object": "chat.completion.chunk",
        "created": 1750000000,
        "model": "magistral-medium-2509",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }


# -- Mistral's content parts ---------------------------------------------------------------------


def thinking(*texts: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": t} for t in texts]}


MISTRAL_STREAM: list[dict[str, Any] | str] = [
    {**mistral_chunk(""), "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    mistral_chunk([thinking("Okay, ", "the user")]),
    mistral_chunk([thinking(" asks 2+2.")]),
    # Closing the thinking, then the answer as parts, then as plain strings.
    mistral_chunk([{**thinking(""), "closed": True}, {"type": "text", "text": "The "}]),
    mistral_chunk(
        [{"type": "reference", "reference_ids": [1]}, {"type": "text", "text": "answer"}]
    ),
    mistral_chunk(" is"),
    mistral_chunk([{"type": "text", "text": " 4."}, {"type": "image_url", "image_url": "x"}]),
    mistral_chunk("", "stop"),
    {
        "id": "c8d7",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 40, "total_tokens": 50},
    },
    "[DONE]",
]


@pytest.mark.parametrize("one_by_one", [True, False])
def test_mistral_content_parts_mixed_with_strings(one_by_one: bool) -> None:
    parser = OpenAIChatParser("openai_compatible", "magistral-medium-latest")
    out = feed_wire(parser, MISTRAL_STREAM, one_by_one=one_by_one)
    assert kinds(out) == [
        ("reasoning", "Okay, "),
        ("reasoning", "the user"),
        ("reasoning", " asks 2+2."),
        ("text", "The "),
        ("text", "answer"),
        ("text", " is"),
        ("text", " 4."),
    ]
    assert parser.done and parser.finish_reasons == {0: "stop"}
    assert parser.model == "magistral-medium-2509"
    assert parser.usage == Usage.build(10, 40)


def test_mistral_thinking_parts_skip_references_and_other_parts() -> None:
    parts = [
        {
            "type": "thinking",
            "thinking": [
                {"type": "text", "text": "a"},
                {"type": "reference", "reference_ids": [3]},
                {"type": "text"},
                {"type": "text", "text": "b"},
            ],
        },
        {"type": "thinking"},  # nothing to read: not an error
        {"type": "text"},
        {"text": "no type: not a part we know"},
    ]
    parser = OpenAIChatParser("openai_compatible", "m")
    out = feed_wire(parser, [mistral_chunk(parts)], one_by_one=True)
    assert kinds(out) == [("reasoning", "a"), ("reasoning", "b")]


def test_mistral_part_that_is_not_an_object_is_a_protocol_error() -> None:
    data = json.dumps(mistral_chunk([{"type": "text", "text": "ok"}, "oops"]))
    out: list[StreamEvent] = []
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("mistral", "m").feed(ServerSentEvent(None, data), out)
    assert info.value.raw == data
    assert "mistral sent choices[0].delta.content[1] as a string" in info.value.message
    assert kinds(out) == [("text", "ok")]  # the part before it stays


def test_mistral_non_streaming_message_content_list() -> None:
    body = {
        "id": "d356",
        "object": "chat.completion",
        "model": "magistral-medium-latest",
        "usage": {"prompt_tokens": 10, "completion_tokens": 40, "total_tokens": 50},
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": [{"type": "text", "text": "Dolphins are mammals."}],
                            "closed": True,
                        },
                        {"type": "text", "text": "Dolphins are clever."},
                    ],
                    "tool_calls": None,
                    "prefix": False,
                },
            }
        ],
    }
    parser = OpenAIChatParser("openai_compatible", "magistral-medium-latest")
    out: list[StreamEvent] = []
    parser.feed_completion(body, out)
    assert kinds(out) == [("reasoning", "Dolphins are mammals."), ("text", "Dolphins are clever.")]
    assert parser.done and parser.response_id == "d356"
    assert parser.finish_reasons == {0: "length"} and parser.usage == Usage.build(10, 40)


# -- OpenRouter: an error chunk with usage ---------------------------------------------------------


def openrouter_chunk(delta: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "id": "gen-1750000000-abc",
        "provider": "SomeProvider",
        "model": "deepseek/deepseek-r1",
        "object": "chat.completion.chunk",
        "created": 1750000000,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        **top,
    }


OPENROUTER_ERROR = {
    "id": "gen-1750000000-abc",
    "object": "chat.completion.chunk",
    "created": 1750000000,
    "model": "deepseek/deepseek-r1",
    "provider": "SomeProvider",
    "error": {
        "code": 400,
        "message": "Upstream provider rejected the request",
        "metadata": {"provider_name": "SomeProvider", "raw": "bad request"},
    },
    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    "usage": {"prompt_tokens": 43, "completion_tokens": 10, "total_tokens": 53},
}


@pytest.mark.parametrize("one_by_one", [True, False])
def test_openrouter_error_chunk_keeps_usage_and_earlier_deltas(one_by_one: bool) -> None:
    stream: list[dict[str, Any] | str] = [
        openrouter_chunk({"role": "assistant", "content": "", "reasoning": "Let me"}),
        openrouter_chunk({"content": "", "reasoning": " think."}),
        openrouter_chunk({"content": "Partial"}),
        OPENROUTER_ERROR,
    ]
    parser = OpenAIChatParser("openrouter", "deepseek/deepseek-r1")
    out: list[StreamEvent] = []
    with pytest.raises(BadRequestError) as info:
        out = []
        decoder = SSEDecoder()
        wire = [sse_bytes(p) for p in stream]
        for piece in wire if one_by_one else [b"".join(wire)]:
            for sse in decoder.feed(piece):
                parser.feed(sse, out)
    err = info.value
    assert err.in_stream and err.status_code == 400 and not err.is_retryable
    assert err.message == "Upstream provider rejected the request"
    assert err.body == OPENROUTER_ERROR
    assert kinds(out) == [("reasoning", "Let me"), ("reasoning", " think."), ("text", "Partial")]
    assert parser.usage == Usage.build(43, 10)
    assert parser.raw_usage == OPENROUTER_ERROR["usage"]
    assert parser.raw_finish_reasons == {0: "error"}
    assert parser.response_id == "gen-1750000000-abc"
    assert not parser.done


def test_error_chunk_deltas_are_kept_before_the_error() -> None:
    payload = {**OPENROUTER_ERROR, "error": {"code": 502, "message": "Upstream died"}}
    payload["choices"] = [{"index": 0, "delta": {"content": "last words"}, "finish_reason": None}]
    parser = OpenAIChatParser("openrouter", "m")
    out: list[StreamEvent] = []
    with pytest.raises(ServerError) as info:
        parser.feed(ServerSentEvent(None, json.dumps(payload)), out)
    assert info.value.status_code == 502 and info.value.is_retryable
    assert kinds(out) == [("text", "last words")]
    assert parser.usage == Usage.build(43, 10)


def test_event_error_without_an_error_field_is_still_an_error() -> None:
    parser = OpenAIChatParser("openai_compatible", "m")
    out: list[StreamEvent] = []
    data = json.dumps({"message": "model crashed", "choices": [{"delta": {"content": "x"}}]})
    with pytest.raises(ServerError, match="model crashed"):
        parser.feed(ServerSentEvent("error", data), out)
    assert kinds(out) == [("text", "x")]


@pytest.mark.parametrize("empty", [None, "", 0, {}, []])
def test_an_empty_error_field_is_not_an_error(empty: Any) -> None:
    parser = OpenAIChatParser("openai", "m")
    out: list[StreamEvent] = []
    parser.feed(
        ServerSentEvent(None, json.dumps({**openrouter_chunk({"content": "a"}), "error": empty})),
        out,
    )
    assert kinds(out) == [("text", "a")]


def test_completion_body_error_is_typed_not_in_stream() -> None:
    parser = OpenAIChatParser("openai", "gpt-4o")
    body = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": None}}
    with pytest.raises(RateLimitError) as info:
        parser.feed_completion(body, [])
    assert not info.value.in_stream and info.value.status_code == 429
    assert info.value.body == body and not parser.done


def test_completion_body_error_keeps_its_usage() -> None:
    body = {**OPENROUTER_ERROR, "object": "chat.completion"}
    body["choices"] = [{"index": 0, "message": {"content": "so far"}, "finish_reason": "error"}]
    parser = OpenAIChatParser("openrouter", "m")
    out: list[StreamEvent] = []
    with pytest.raises(BadRequestError):
        parser.feed_completion(body, out)
    assert kinds(out) == [("text", "so far")] and parser.usage == Usage.build(43, 10)
    assert not parser.done


# -- Groq's x_groq.usage -----------------------------------------------------------------------


def groq_final(
    x_usage: dict[str, Any] | None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-g",
        "object": "chat.completion.chunk",
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": {"id": "req_01", **({"usage": x_usage} if x_usage is not None else {})},
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


GROQ_USAGE = {
    "queue_time": 0.05,
    "prompt_tokens": 18,
    "prompt_time": 0.002,
    "completion_tokens": 9,
    "completion_time": 0.03,
    "total_tokens": 27,
    "total_time": 0.032,
}
TOP_USAGE = {"prompt_tokens": 20, "completion_tokens": 11, "total_tokens": 31}


def test_groq_usage_in_x_groq_is_used() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    out = feed_wire(
        parser,
        [openrouter_chunk({"content": "Hi"}), groq_final(GROQ_USAGE), "[DONE]"],
        one_by_one=True,
    )
    assert kinds(out) == [("text", "Hi")]
    assert parser.usage == Usage.build(18, 9)
    assert parser.raw_usage == GROQ_USAGE
    assert parser.done


def test_groq_top_level_usage_wins_in_the_same_chunk() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    feed_wire(parser, [groq_final(GROQ_USAGE, TOP_USAGE)], one_by_one=True)
    assert parser.usage == Usage.build(20, 11) and parser.raw_usage == TOP_USAGE


def test_groq_top_level_usage_wins_over_a_later_x_groq_usage() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    usage_chunk = {"id": "chatcmpl-g", "choices": [], "usage": TOP_USAGE}
    feed_wire(parser, [usage_chunk, groq_final(GROQ_USAGE)], one_by_one=True)
    assert parser.usage == Usage.build(20, 11) and parser.raw_usage == TOP_USAGE


def test_groq_top_level_usage_replaces_an_earlier_x_groq_usage() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    usage_chunk = {"id": "chatcmpl-g", "choices": [], "usage": TOP_USAGE}
    feed_wire(parser, [groq_final(GROQ_USAGE), usage_chunk], one_by_one=True)
    assert parser.usage == Usage.build(20, 11) and parser.raw_usage == TOP_USAGE


def test_groq_x_groq_usage_in_a_chunk_without_choices_and_in_a_whole_body() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    feed_wire(
        parser, [{"id": "g", "choices": [], "x_groq": {"usage": GROQ_USAGE}}], one_by_one=True
    )
    assert parser.usage == Usage.build(18, 9)
    parser = OpenAIChatParser("openai_compatible", "llama")
    feed_wire(parser, [{"id": "g", "x_groq": {"usage": GROQ_USAGE}}], one_by_one=True)
    assert parser.usage == Usage.build(18, 9)
    body = {
        "id": "g",
        "choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}],
        "x_groq": {"id": "req", "usage": GROQ_USAGE},
    }
    parser = OpenAIChatParser("openai_compatible", "llama")
    parser.feed_completion(body, [])
    assert parser.usage == Usage.build(18, 9) and parser.raw_usage == GROQ_USAGE


def test_groq_x_groq_without_usage_or_empty_usage_leaves_none() -> None:
    parser = OpenAIChatParser("openai_compatible", "llama")
    feed_wire(parser, [groq_final(None), groq_final({})], one_by_one=True)
    assert parser.usage is None and parser.raw_usage is None


def test_groq_recording_first_chunk_x_groq_has_no_usage() -> None:
    path = FIXTURES / "openai-compatible/groq-gpt-oss-mid-stream-error.sse"
    first = recording_payloads(path)[0][1]
    assert set(first["x_groq"]) == {"id", "seed"}
    parser = OpenAIChatParser("openai_compatible", "openai/gpt-oss-120b")
    parser.feed(ServerSentEvent(None, json.dumps(first)), [])
    assert parser.usage is None


# -- behaviour pinned: state the pipeline reads ------------------------------------------------


def test_response_id_is_the_first_non_empty_id() -> None:
    parser = OpenAIChatParser("openai", "m")
    feed_wire(
        parser,
        [{"choices": []}, {"id": "", "choices": []}, {"id": "first"}, {"id": "second"}],
        one_by_one=True,
    )
    assert parser.response_id == "first"
    parser = OpenAIChatParser("openai", "m")
    parser.feed_completion({"id": "body-id", "choices": []}, [])
    assert parser.response_id == "body-id"
    parser = OpenAIChatParser("openai", "m")
    parser.feed_completion({"id": "", "choices": []}, [])
    assert parser.response_id is None


def test_model_follows_the_chunks_and_reaches_the_events() -> None:
    parser = OpenAIChatParser("openai", "gpt-4o")
    out = feed_wire(
        parser,
        [
            {"model": "gpt-4o-2024-08-06", "choices": [{"delta": {"content": "a"}}]},
            {"model": "", "choices": [{"delta": {"content": "b"}}]},
            {"choices": [{"delta": {"content": "c"}}]},
        ],
        one_by_one=True,
    )
    assert parser.model == "gpt-4o-2024-08-06"
    assert [e.model for e in out] == ["gpt-4o-2024-08-06"] * 3
    assert [e.chunk_index for e in out if isinstance(e, StreamDeltaEvent)] == [0, 1, 2]
    assert all(e.provider == "openai" for e in out)
    parser = OpenAIChatParser("openai", "gpt-4o")
    parser.feed_completion({"model": "", "choices": []}, [])
    assert parser.model == "gpt-4o"
    parser.feed_completion({"model": "gpt-4o-mini", "choices": []}, [])
    assert parser.model == "gpt-4o-mini"


def test_raw_usage_is_the_provider_payload_and_the_last_one_wins() -> None:
    parser = OpenAIChatParser("xai", "grok")
    first = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    last = {
        "prompt_tokens": 12,
        "completion_tokens": 2,
        "total_tokens": 354,
        "prompt_tokens_details": {"cached_tokens": 11},
        "completion_tokens_details": {"reasoning_tokens": 340},
        "num_sources_used": 0,
    }
    feed_wire(
        parser,
        [
            {"choices": [], "usage": first},
            {"choices": [], "usage": None},
            {"choices": [], "usage": {}},
            {"choices": [], "usage": last},
        ],
        one_by_one=True,
    )
    assert parser.raw_usage == last
    assert parser.usage == Usage.build(12, 342, cache_read_tokens=11, reasoning_tokens=340)


@pytest.mark.parametrize(
    ("raw", "completion"),
    [
        # OpenAI: reasoning inside completion_tokens; total = prompt + completion.
        ({"prompt_tokens": 10, "completion_tokens": 74, "total_tokens": 84}, 74),
        # xAI: total = prompt + completion + reasoning, so reasoning is added back.
        ({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 84}, 74),
        # A total that matches neither: completion is taken as is.
        ({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 85}, 10),
        ({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 83}, 10),
    ],
)
def test_usage_reasoning_convention(raw: dict[str, int], completion: int) -> None:
    raw = {**raw, "completion_tokens_details": {"reasoning_tokens": 64}}
    parser = OpenAIChatParser("openai", "m")
    parser.feed(ServerSentEvent(None, json.dumps({"choices": [], "usage": raw})), [])
    assert parser.usage == Usage.build(10, completion, reasoning_tokens=64)


def test_usage_without_reasoning_is_not_adjusted() -> None:
    raw = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    parser = OpenAIChatParser("openai", "m")
    parser.feed(ServerSentEvent(None, json.dumps({"choices": [], "usage": raw})), [])
    assert parser.usage == Usage.build(10, 5)


def test_raw_and_unified_finish_reasons_per_choice() -> None:
    parser = OpenAIChatParser("openai", "m")
    feed_wire(
        parser,
        [
            {"choices": [{"index": 0, "delta": {}, "finish_reason": ""}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]},
            {"choices": [{"index": 1, "delta": {}, "finish_reason": "length"}]},
            {"choices": [{"delta": {}, "finish_reason": "content_filter"}, {"index": 2}]},
        ],
        one_by_one=True,
    )
    assert parser.raw_finish_reasons == {0: "content_filter", 1: "length"}
    assert parser.finish_reasons == {0: "content_filter", 1: "length"}
    parser = OpenAIChatParser("openai", "m")
    parser.feed(
        ServerSentEvent(
            None,
            json.dumps({"choices": [{"index": 3, "delta": {}, "finish_reason": "function_call"}]}),
        ),
        [],
    )
    assert parser.raw_finish_reasons == {3: "function_call"}
    assert parser.finish_reasons == {3: "tool_calls"}


def test_delta_fields_and_their_order() -> None:
    delta = {
        "role": "assistant",
        "content": "answer",
        "reasoning_content": "r1",
        "reasoning": "r2",
        "refusal": "no",
        "tool_calls": [
            {"index": 2, "id": "call_a", "function": {"name": "f", "arguments": '{"x":'}},
            {"function": {"arguments": "1}"}},
            {"id": "call_c"},
        ],
    }
    payload = {"choices": [{"index": 1, "delta": delta, "finish_reason": None}]}
    parser = OpenAIChatParser("openai", "m")
    out: list[StreamEvent] = []
    parser.feed(ServerSentEvent(None, json.dumps(payload)), out)
    got = [
        (d.kind, d.value, d.choice_index, d.tool_call_index, d.tool_call_id, d.tool_name)
        for d in (e.delta for e in out if isinstance(e, StreamDeltaEvent))
    ]
    assert got == [
        ("reasoning", "r1", 1, None, None, None),
        ("reasoning", "r2", 1, None, None, None),
        ("text", "answer", 1, None, None, None),
        ("refusal", "no", 1, None, None, None),
        ("tool_call", '{"x":', 1, 2, "call_a", "f"),
        # Without an index, a fragment's position in the list stands in.
        ("tool_call", "1}", 1, 1, None, None),
        ("tool_call", "", 1, 2, "call_c", None),
    ]


def test_empty_pieces_emit_nothing() -> None:
    delta = {
        "content": "",
        "reasoning_content": "",
        "reasoning": "",
        "refusal": "",
        "tool_calls": [],
    }
    parser = OpenAIChatParser("openai", "m")
    out: list[StreamEvent] = []
    parser.feed(ServerSentEvent(None, json.dumps({"choices": [{"delta": delta}]})), out)
    parser.feed(ServerSentEvent(None, json.dumps({"choices": [{"delta": {"content": ""}}]})), out)
    parser.feed(ServerSentEvent(None, json.dumps({"choices": [{"delta": None}, {}]})), out)
    assert out == [] and parser.finish_reasons == {}


def test_fast_path_and_walk_agree_on_index_and_finish() -> None:
    parser = OpenAIChatParser("openai", "m")
    out = feed_wire(
        parser,
        [
            {"choices": [{"delta": {"content": "a"}}]},  # no index: choice 0
            {"choices": [{"index": None, "delta": {"content": "b"}}]},
            {"choices": [{"index": 2, "delta": {"content": "c"}}]},
            {"choices": [{"index": 2, "delta": {"content": "d"}, "finish_reason": "stop"}]},
        ],
        one_by_one=True,
    )
    assert [
        (e.delta.value, e.delta.choice_index) for e in out if isinstance(e, StreamDeltaEvent)
    ] == [
        ("a", 0),
        ("b", 0),
        ("c", 2),
        ("d", 2),
    ]
    assert parser.finish_reasons == {2: "stop"}


def test_done_marker_ends_the_stream_and_later_events_are_ignored() -> None:
    parser = OpenAIChatParser("openai", "m")
    out = feed_wire(
        parser,
        [
            {"choices": [{"delta": {"content": "a"}}]},
            "[DONE]",
            {"choices": [{"delta": {"content": "late"}}]},
            "not json",
        ],
        one_by_one=True,
    )
    assert parser.done and kinds(out) == [("text", "a")]
    assert not OpenAIChatParser("openai", "m").done


def test_completion_tool_calls_numbered_by_position() -> None:
    body = {
        "id": "c",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        },
                        {
                            "id": "b",
                            "type": "function",
                            "function": {"name": "g", "arguments": '{"x":1}'},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    parser = OpenAIChatParser("openai", "m")
    out: list[StreamEvent] = []
    parser.feed_completion(body, out)
    got = [
        (e.delta.tool_call_index, e.delta.tool_call_id, e.delta.tool_name, e.delta.value)
        for e in out
        if isinstance(e, StreamDeltaEvent)
    ]
    assert got == [(0, "a", "f", "{}"), (1, "b", "g", '{"x":1}')]
    assert parser.finish_reasons == {0: "tool_calls"} and parser.done


# -- behaviour pinned: the request ----------------------------------------------------------------


def chat_spec(**kwargs: Any) -> RequestSpec:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    fields.update(kwargs)
    return RequestSpec(**fields)


def test_streaming_request_shape() -> None:
    req = build_openai_request(chat_spec(), "sk")
    assert req.path == "/chat/completions"
    assert req.headers == {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "authorization": "Bearer sk",
    }
    assert req.json == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_non_streaming_request_shape_and_no_key() -> None:
    req = build_openai_request(chat_spec(stream=False), None)
    assert req.headers == {"content-type": "application/json", "accept": "application/json"}
    assert req.json == {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    assert "authorization" not in build_openai_request(chat_spec(), "").headers


@pytest.mark.parametrize(
    ("provider", "key"),
    [
        ("openai", "max_completion_tokens"),
        ("xai", "max_tokens"),
        ("openai_compatible", "max_tokens"),
    ],
)
def test_max_tokens_name_per_provider(provider: str, key: str) -> None:
    body = build_openai_request(chat_spec(provider=provider, max_tokens=0), "k").json
    assert body[key] == 0
    other = {"max_tokens", "max_completion_tokens"} - {key}
    assert not other & set(body)
    assert not {"max_tokens", "max_completion_tokens"} & set(
        build_openai_request(chat_spec(provider=provider), "k").json
    )


def test_optional_fields_passed_when_given_and_extra_last() -> None:
    fmt = {"type": "json_object"}
    req = build_openai_request(
        chat_spec(
            temperature=0.0,
            top_p=0.5,
            stop=["END"],
            n=2,
            response_format=fmt,
            tool_choice="auto",
            extra={"seed": 7, "temperature": 1.0},
        ),
        "k",
    )
    assert req.json["top_p"] == 0.5 and req.json["stop"] == ["END"] and req.json["n"] == 2
    assert req.json["response_format"] == fmt and req.json["tool_choice"] == "auto"
    assert req.json["seed"] == 7
    assert req.json["temperature"] == 1.0  # extra wins: it is sent as-is, last


def test_tool_shapes() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    own = {"type": "function", "function": {"name": "own", "parameters": schema}}
    custom = {"type": "custom", "custom": {"name": "grammar"}}
    function_without_type = {"function": {"name": "legacy"}}
    tools = [
        {"name": "neutral", "description": "d", "parameters": schema},
        {"name": "bare"},
        {"name": "typed", "type": "function", "description": ""},
        own,
        custom,
        function_without_type,
    ]
    req = build_openai_request(chat_spec(tools=tools), "k")
    assert req.json["tools"] == [
        {
            "type": "function",
            "function": {"name": "neutral", "description": "d", "parameters": schema},
        },
        {
            "type": "function",
            "function": {"name": "bare", "parameters": {"type": "object", "properties": {}}},
        },
        {
            "type": "function",
            "function": {"name": "typed", "parameters": {"type": "object", "properties": {}}},
        },
        own,
        custom,
        {"type": "function", "function": {"name": "legacy"}},
    ]
    assert req.json["tools"][3] is own and req.json["tools"][4] is custom
    assert function_without_type == {"function": {"name": "legacy"}}  # not modified
    assert "tools" not in build_openai_request(chat_spec(tools=[]), "k").json


# -- the fast path: the common case skips the general walk -------------------------------------


@pytest.mark.parametrize(
    ("choice", "walks"),
    [
        ({"index": 0, "delta": {"content": "a"}, "finish_reason": None, "logprobs": None}, False),
        ({"delta": {"content": "a"}}, False),
        ({"index": 3, "delta": {"content": "a"}}, False),
        ({"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}, True),
        ({"index": 0, "delta": {"content": "a"}, "finish_reason": ""}, True),
        ({"index": 0, "delta": {"content": "a", "role": "assistant"}}, True),
        ({"index": 0, "delta": {"content": ""}}, True),
        ({"index": 0, "delta": {"reasoning_content": "a"}}, True),
        ({"index": 0, "delta": {"content": ["a"]}}, True),
        ({"index": None, "delta": {"content": "a"}}, True),
        ({"index": True, "delta": {"content": "a"}}, True),
        ({"index": -1, "delta": {"content": "a"}}, True),
        ({"index": 0, "delta": {}}, True),
        ({"index": 0, "delta": None}, True),
        ({"index": 0}, True),
    ],
)
def test_only_a_bare_content_delta_skips_the_walk(choice: dict[str, Any], walks: bool) -> None:
    parser = OpenAIChatParser("openai", "m")
    walked: list[Any] = []
    general = parser._feed_choice

    def spy(*args: Any) -> None:
        walked.append(args[0])
        general(*args)

    parser._feed_choice = spy  # type: ignore[method-assign]
    out: list[StreamEvent] = []
    try:
        parser.feed(ServerSentEvent(None, json.dumps({"choices": [choice]})), out)
    except StreamProtocolError:
        assert walks  # only the walk raises
    assert walked == ([choice] if walks else [])
    if not walks:
        assert kinds(out) == [("text", "a")]
        assert [e.delta.choice_index for e in out if isinstance(e, StreamDeltaEvent)] == [
            choice.get("index") or 0
        ]


def test_mistral_parts_keep_their_choice_index() -> None:
    payload = mistral_chunk([thinking("t"), {"type": "text", "text": "a"}])
    payload["choices"][0]["index"] = 2
    parser = OpenAIChatParser("openai_compatible", "m")
    out: list[StreamEvent] = []
    parser.feed(ServerSentEvent(None, json.dumps(payload)), out)
    got = [(e.delta.kind, e.delta.choice_index) for e in out if isinstance(e, StreamDeltaEvent)]
    assert got == [("reasoning", 2), ("text", 2)]


def test_data_that_is_not_json_names_the_provider() -> None:
    with pytest.raises(StreamProtocolError, match="^xai sent a data line that is not JSON"):
        OpenAIChatParser("xai", "grok").feed(ServerSentEvent(None, "{oops"), [])


def test_completion_error_body_names_the_provider() -> None:
    with pytest.raises(ServerError) as info:
        OpenAIChatParser("xai", "grok").feed_completion({"error": {"message": "m"}}, [])
    assert info.value.provider == "xai"


def test_fast_path_events_are_built_like_the_walks() -> None:
    import attrs

    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    for delta in (
        {"content": "fast"},
        {"role": "assistant", "content": "walked"},
        {"content": "f"},
    ):
        parser.feed(ServerSentEvent(None, json.dumps({"choices": [{"delta": delta}]})), out)
    fast, walked, again = (attrs.asdict(e, recurse=False) for e in out)
    assert {k: v for k, v in fast.items() if k != "delta"} == {
        **{k: v for k, v in walked.items() if k != "delta"},
        "chunk_index": 0,
    }
    assert [fast["chunk_index"], walked["chunk_index"], again["chunk_index"]] == [0, 1, 2]
    assert type(out[0]) is type(out[1]) is StreamDeltaEvent
