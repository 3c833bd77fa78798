"""Every recording replayed through the fake provider (real sockets, re-chunked at
random byte boundaries) and read by the client; checked against values this test reads
from the file itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, recording_payloads
from conftest import steer_client as client_for
from test_openai_parser import expected_from_recording

from steer_trio import ProviderError, SteerClient
from steer_trio.testing import FakeProvider, Replay

OPENAI_FORMAT = sorted(
    p for folder in ("openai-chat", "xai") for p in (FIXTURES / folder).glob("*.sse")
)
ANTHROPIC = sorted((FIXTURES / "anthropic").glob("*.sse"))


@pytest.mark.parametrize("path", OPENAI_FORMAT, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("chunking", ["event", "random"])
async def test_openai_format_recordings(
    fake_provider: FakeProvider, path: Path, chunking: str
) -> None:
    expected = expected_from_recording(path)
    provider = "xai" if path.parent.name == "xai" else "openai"
    fake_provider.enqueue(Replay(path, chunking=chunking, seed=len(path.name)))  # type: ignore[arg-type]
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("replay", model="gpt-4o", provider=provider)
    assert response.get_text() == expected["text"].get(0, "")
    for choice in response.choices:
        assert choice.text == expected["text"].get(choice.index, "")
        assert choice.finish_reason == expected["finish"].get(choice.index)
    assert response.finish_reason == expected["finish"].get(0)
    assert (response.refusal or "") == expected["refusal"]
    assert response.reasoning == expected["reasoning"]
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        (c["id"], c["name"], c["arguments"]) for _, c in sorted(expected["calls"].items())
    ]
    raw = expected["usage"]
    usage = response.usage
    assert response.usage_info is not None
    if raw is None:
        assert usage["is_estimated"] is True  # the Azure recording sends no usage
    else:
        reasoning = (raw.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
        completion = raw["completion_tokens"]
        if provider == "xai" and raw["total_tokens"] != raw["prompt_tokens"] + completion:
            completion += reasoning
        assert usage["prompt_tokens"] == raw["prompt_tokens"]
        assert usage["completion_tokens"] == completion
        assert usage["total_tokens"] == raw["prompt_tokens"] + completion
        assert usage["is_estimated"] is False


def anthropic_expected(path: Path) -> dict[str, Any]:
    text, thinking = "", ""
    tools: dict[int, dict[str, str]] = {}
    usage: dict[str, Any] = {}
    stop = None
    for _, data in recording_payloads(path):
        kind = data.get("type")
        if kind == "message_start":
            usage.update(data["message"]["usage"])
        elif kind == "content_block_start" and data["content_block"]["type"] == "tool_use":
            block = data["content_block"]
            tools[data["index"]] = {"id": block["id"], "name": block["name"], "arguments": ""}
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            elif delta["type"] == "thinking_delta":
                thinking += delta["thinking"]
            elif delta["type"] == "input_json_delta" and data["index"] in tools:
                # (server_tool_use blocks stream their input too; they are not our tools)
                tools[data["index"]]["arguments"] += delta["partial_json"]
        elif kind == "message_delta":
            stop = data["delta"].get("stop_reason")
            usage.update(data.get("usage") or {})
    return {"text": text, "thinking": thinking, "tools": tools, "usage": usage, "stop": stop}


STOP = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
}


@pytest.mark.parametrize("path", ANTHROPIC, ids=lambda p: p.name)
@pytest.mark.parametrize("chunking", ["event", "random"])
async def test_anthropic_recordings(fake_provider: FakeProvider, path: Path, chunking: str) -> None:
    expected = anthropic_expected(path)
    fake_provider.enqueue(Replay(path, chunking=chunking, seed=7))  # type: ignore[arg-type]
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("replay", model="claude-sonnet-4-5")
    assert response.get_text() == expected["text"]
    assert response.reasoning == expected["thinking"]
    assert response.raw_finish_reason == expected["stop"]
    assert response.finish_reason == STOP.get(expected["stop"], expected["stop"])
    calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
    assert calls == [
        (t["id"], t["name"], t["arguments"]) for _, t in sorted(expected["tools"].items())
    ]
    for call in response.tool_calls:
        if response.finish_reason != "length":
            assert isinstance(call.parsed_arguments(), dict)  # no-arg tools: "" means {}
    raw = expected["usage"]
    prompt = (
        raw["input_tokens"]
        + (raw.get("cache_creation_input_tokens") or 0)
        + (raw.get("cache_read_input_tokens") or 0)
    )
    assert response.usage_info is not None
    assert response.usage["prompt_tokens"] == prompt
    assert response.usage["completion_tokens"] == raw["output_tokens"]
    assert response.usage["cache_read_tokens"] == (raw.get("cache_read_input_tokens") or 0)
    assert response.usage["cache_write_tokens"] == (raw.get("cache_creation_input_tokens") or 0)
    assert response.usage["is_estimated"] is False


async def test_groq_mid_stream_error_keeps_partial(fake_provider: FakeProvider) -> None:
    path = FIXTURES / "openai-compatible/groq-gpt-oss-mid-stream-error.sse"
    fake_provider.enqueue(Replay(path))  # type: ignore[arg-type]
    # An OpenAI-compatible server behind the OpenAI settings (as with OPENAI_BASE_URL);
    # "openai/openai/gpt-oss-120b" is split at the first slash only.
    async with SteerClient(
        api_keys={"openai": "k"}, base_urls={"openai": fake_provider.openai_base_url}
    ) as client:
        with pytest.raises(ProviderError) as info:
            await client.stream_with_usage("x", model="openai/openai/gpt-oss-120b")
    err = info.value
    assert err.in_stream and err.status_code == 400 and not err.is_retryable
    assert err.partial is not None
    assert err.partial.get_text() == "maybe"
    assert err.partial.reasoning  # the reasoning that came before is kept too
    assert err.content_delivered
    # The model went to the compatible server with its own slash intact.
    assert fake_provider.requests[-1].json["model"] == "openai/gpt-oss-120b"
    assert json.dumps(err.body)
