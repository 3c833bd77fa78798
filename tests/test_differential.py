"""The official SDKs and steer_trio read the same fake-provider stream alike."""

from __future__ import annotations

import gc

import pytest
from conftest import FIXTURES
from conftest import steer_client as steer

from steer_trio.testing import FakeProvider, Replay, Scenario, ToolCallSpec

SCENARIOS = [
    Scenario(text=["Hello", ", ", "wörld", " 😀"], prompt_tokens=11, completion_tokens=4),
    Scenario(text=["a"] * 50, prompt_tokens=3, completion_tokens=50, cache_read_tokens=2),
    Scenario(
        text=[],
        tool_calls=[ToolCallSpec(id="call_9", name="lookup", arguments='{"q": "trio", "n": 3}')],
    ),
]


# The openai SDK stops reading at [DONE] and leaves its own async generators (and the
# HTTP client's below them) for the garbage collector: its warnings, not ours. They are
# collected inside this test (gc.collect below) and ignored here only; steer_trio's own
# part of the test runs after the SDK is gone, under the suite's strict filters.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_openai_sdk_sees_what_we_see(fake_provider: FakeProvider, scenario: Scenario) -> None:
    from openai import AsyncOpenAI

    fake_provider.enqueue(scenario, scenario)
    sdk = AsyncOpenAI(api_key="k", base_url=fake_provider.openai_base_url, max_retries=0)
    stream = await sdk.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, calls = "", None, {}
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, ["", "", ""])
                slot[0] = call.id or slot[0]
                slot[1] = (call.function.name if call.function else None) or slot[1]
                slot[2] += (call.function.arguments if call.function else None) or ""
    await sdk.close()
    del stream, sdk
    gc.collect()

    async with steer(fake_provider) as client:
        response = await client.stream_with_usage("hi", model="gpt-4o")
    assert response.get_text() == text
    assert usage is not None and response.usage is not None
    assert response.usage["prompt_tokens"] == usage.prompt_tokens
    assert response.usage["completion_tokens"] == usage.completion_tokens
    assert response.usage["total_tokens"] == usage.total_tokens
    assert response.usage["cache_read_tokens"] == usage.prompt_tokens_details.cached_tokens
    assert [[c.id, c.name, c.arguments] for c in response.tool_calls] == [
        calls[i] for i in sorted(calls)
    ]


@pytest.mark.parametrize(
    "item",
    [
        *SCENARIOS,
        Replay(FIXTURES / "anthropic/thinking-signature-sonnet-4.sse"),
        Replay(FIXTURES / "anthropic/prompt-cache-read-sonnet-3-5.sse"),
        Replay(FIXTURES / "anthropic/tool-use-parallel-noargs-haiku-4-5.sse"),
    ],
)
async def test_anthropic_sdk_sees_what_we_see(
    fake_provider: FakeProvider, item: Scenario | Replay
) -> None:
    from anthropic import AsyncAnthropic

    fake_provider.enqueue(item, item)
    sdk = AsyncAnthropic(api_key="k", base_url=fake_provider.anthropic_base_url, max_retries=0)
    async with sdk.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        async for _ in stream:
            pass
        message = await stream.get_final_message()
    await sdk.close()
    text = "".join(b.text for b in message.content if b.type == "text")
    tools = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]

    async with steer(fake_provider) as client:
        response = await client.stream_with_usage("hi", model="claude-haiku-4-5")
    assert response.get_text() == text
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == tools
    u = message.usage
    read = u.cache_read_input_tokens or 0
    write = u.cache_creation_input_tokens or 0
    assert response.usage is not None
    assert response.usage["prompt_tokens"] == u.input_tokens + read + write
    assert response.usage["completion_tokens"] == u.output_tokens
    assert response.usage["cache_read_tokens"] == read
    assert response.usage["cache_write_tokens"] == write
    assert response.raw_finish_reason == message.stop_reason
