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

from steer_trio import ProviderError, SSEDecoder, StreamDeltaEvent, StreamEvent
from steer_trio._providers._base import RequestSpec
from steer_trio._providers._openai import OpenAIChatParser, build_openai_request
from steer_trio._response import ResponseBuilder, StreamingResponse

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
