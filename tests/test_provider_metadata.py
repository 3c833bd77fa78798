"""What a format says beyond text and usage reaches the response, and what the provider
needs back comes back: built-in tool items, phases, Gemini's extras and signatures."""

from __future__ import annotations

import json
from typing import Any

from conftest import FIXTURES, recording_payloads, steer_client

from steer_trio.testing import FakeProvider, Replay

GEMINI_SIGNATURE = FIXTURES / "gemini/function-call-no-args-signature-gemini-3-pro.sse"
WEB_SEARCH = FIXTURES / "openai-responses/web-search-cached-gpt-5.sse"
CODE_EXECUTION = FIXTURES / "gemini/code-execution-gemini-3-flash.sse"


def _gemini_signature() -> str:
    for _, payload in recording_payloads(GEMINI_SIGNATURE):
        for candidate in payload.get("candidates", []):
            for part in candidate["content"]["parts"]:
                if "thoughtSignature" in part and "functionCall" in part:
                    signature: str = part["thoughtSignature"]
                    return signature
    raise AssertionError("the recording has a signed function call")


async def test_gemini_signature_rides_on_the_tool_call_and_goes_back(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Replay(GEMINI_SIGNATURE))
    async with steer_client(fake_provider) as client:
        first = await client.stream_with_usage(
            "where?",
            "gemini-3-pro-preview",
            tools=[{"name": "get_country", "parameters": {"type": "object"}}],
        )
        [call] = first.tool_calls
        assert call.name == "get_country"
        assert call.signature == _gemini_signature()
        message = first.to_message()
        assert message["tool_calls"][0]["thought_signature"] == call.signature
        # The next turn carries the signature back on the functionCall part.
        fake_provider.enqueue(Replay(FIXTURES / "gemini/text-gemini-2-0-flash-exp.sse"))
        await client.stream_with_usage(
            [
                {"role": "user", "content": "where?"},
                message,
                {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": "FR"},
            ],
            "gemini-3-pro-preview",
            tools=[{"name": "get_country", "parameters": {"type": "object"}}],
        )
    sent = fake_provider.requests[-1].json
    parts = [p for c in sent["contents"] for p in c["parts"] if "functionCall" in p]
    assert parts and parts[0]["thoughtSignature"] == call.signature


async def test_responses_builtin_tool_items_are_kept_not_called(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Replay(WEB_SEARCH))
    async with steer_client(fake_provider) as client:
        response = await client.stream_with_usage(
            "news?", "gpt-5", api="responses", tools=[{"type": "web_search"}]
        )
    items = response.provider_metadata["builtin_items"]
    expected = [
        p["item"]["id"]
        for _, p in recording_payloads(WEB_SEARCH)
        if isinstance(p, dict)
        and p.get("type") == "response.output_item.done"
        and p["item"]["type"] == "web_search_call"
    ]
    assert [item["id"] for item in items] == expected and expected
    assert response.tool_calls == []  # OpenAI ran them: nothing for the caller to run
    assert response.text
    # The built-in tool went out as given (no name needed).
    assert fake_provider.requests[-1].json["tools"] == [{"type": "web_search"}]


async def test_gemini_code_execution_parts_are_kept(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Replay(CODE_EXECUTION))
    async with steer_client(fake_provider) as client:
        response: Any = await client.stream_with_usage(
            "compute", "gemini-3-flash-preview", tools=[{"codeExecution": {}}]
        )
    kinds = {extra["type"] for extra in response.provider_metadata["extras"]}
    assert {"executableCode", "codeExecutionResult"} <= kinds
    assert fake_provider.requests[-1].json["tools"] == [{"codeExecution": {}}]
    assert json.dumps(response.provider_metadata)  # plain data, storable as JSON
