"""The client against the fake provider over real sockets."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
import trio
from conftest import steer_client as client_for

from steer_trio import (
    ConfigurationError,
    MissingAPIKeyError,
    SteerClient,
    StreamingOptions,
    UnknownModelError,
)
from steer_trio.testing import FakeProvider, Fault, Scenario, ToolCallSpec


async def test_stream_yields_text_chunks(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["Hello", ", ", "world", "!"]))
    async with client_for(fake_provider) as client:
        chunks = [c async for c in client.stream("Say hi", model="gpt-4o-mini")]
    assert chunks == ["Hello", ", ", "world", "!"]
    body = fake_provider.requests[-1].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


async def test_stream_with_usage_openai(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["a", "b", "c"], prompt_tokens=12, completion_tokens=3))
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("Write", model="gpt-4o-mini", max_tokens=50)
    assert response.get_text() == "abc"
    assert response.usage_info is not None
    assert {
        k: response.usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    } == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
    }
    assert response.usage["is_estimated"] is False
    assert response.finish_reason == "stop"
    assert response.provider == "openai"
    assert fake_provider.requests[-1].json["max_completion_tokens"] == 50


async def test_xai_reasoning_and_usage(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(
        Scenario(
            text=["4"],
            reasoning=["Two ", "plus ", "two"],
            prompt_tokens=10,
            completion_tokens=1,
            reasoning_tokens=30,
        )
    )
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("2+2?", model="grok-3-mini")
    assert response.get_text() == "4"
    assert response.reasoning == "Two plus two"
    assert response.usage_info is not None
    # xAI excludes reasoning from completion tokens; ours include it.
    assert response.usage["completion_tokens"] == 31
    assert response.usage["reasoning_tokens"] == 30
    assert response.usage["total_tokens"] == 41


async def test_tool_calls_are_assembled(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(
        Scenario(
            text=[],
            tool_calls=[
                ToolCallSpec(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
                ToolCallSpec(id="call_2", name="get_time", arguments='{"tz": "CET"}'),
            ],
        )
    )
    tools = [{"name": "get_weather", "description": "w", "parameters": {"type": "object"}}]
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("weather?", model="gpt-4o", tools=tools)
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {"tz": "CET"}),
    ]
    assert response.finish_reason == "tool_calls"
    sent = fake_provider.requests[-1].json["tools"][0]
    assert sent == {
        "type": "function",
        "function": {"name": "get_weather", "description": "w", "parameters": {"type": "object"}},
    }


async def test_callbacks_sync_and_async_in_order(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["x", "y"], prompt_tokens=3, completion_tokens=2))
    seen: list[str] = []

    async def on_start(event: Any) -> None:
        seen.append(f"start:{event.provider}:{event.model}")

    def on_delta(event: Any) -> None:
        seen.append(f"delta:{event.chunk_index}:{event.delta.get_text()}")

    async def on_usage(event: Any) -> None:
        seen.append(f"usage:{event.usage.total_tokens}")

    def on_complete(event: Any) -> None:
        assert event.metadata["duration_ms"] >= 0
        seen.append(f"complete:{event.finish_reason}")

    async with client_for(fake_provider) as client:
        await client.stream_with_usage(
            "p",
            model="gpt-4o",
            on_start=on_start,
            on_delta=on_delta,
            on_usage=on_usage,
            on_complete=on_complete,
        )
    assert seen == [
        "start:openai:gpt-4o",
        "delta:0:x",
        "delta:1:y",
        "usage:5",
        "complete:stop",
    ]


async def test_ten_sequential_streams_share_one_connection(fake_provider: FakeProvider) -> None:
    async with client_for(fake_provider) as client:
        for i in range(10):
            fake_provider.enqueue(Scenario(text=[f"t{i}"]))
            response = await client.stream_with_usage("p", model="gpt-4o")
            assert response.get_text() == f"t{i}"
        for i in range(3):
            fake_provider.enqueue(Scenario(text=[f"s{i}"]))
            assert [c async for c in client.stream("p", model="gpt-4o")] == [f"s{i}"]
    assert fake_provider.connections_opened == 1


async def test_async_with_stream_releases_connection_on_break(fake_provider: FakeProvider) -> None:
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    async with client_for(fake_provider, limits=limits) as client:
        for _ in range(20):
            fake_provider.enqueue(Scenario(text=["w "] * 200, delay=0.01))
            with trio.fail_after(5):
                async with client.stream("p", model="gpt-4o") as chunks:
                    async for _chunk in chunks:
                        break
        fake_provider.enqueue(Scenario(text=["done"]))
        with trio.fail_after(5):
            response = await client.stream_with_usage("p", model="gpt-4o")
    assert response.get_text() == "done"


async def test_plain_async_for_break_releases_connection(fake_provider: FakeProvider) -> None:
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    async with client_for(fake_provider, limits=limits) as client:
        for _ in range(5):
            fake_provider.enqueue(Scenario(text=["w "] * 200, delay=0.01))
            stream = client.stream("p", model="gpt-4o")
            with trio.fail_after(5):
                async for _chunk in stream:
                    break
        fake_provider.enqueue(Scenario(text=["ok"]))
        with trio.fail_after(5):
            response = await client.stream_with_usage("p", model="gpt-4o")
    assert response.get_text() == "ok"


async def test_cancelled_stream_with_usage_pool_still_works(fake_provider: FakeProvider) -> None:
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    partials: list[Any] = []
    async with client_for(fake_provider, limits=limits) as client:
        for _ in range(20):
            fake_provider.enqueue(Scenario(text=["w "] * 100, delay=0.01))
            with trio.move_on_after(0.05):
                await client.stream_with_usage(
                    "p", model="gpt-4o", on_error=lambda e: partials.append(e.partial)
                )
        fake_provider.enqueue(Scenario(text=["fine"]))
        with trio.fail_after(5):
            response = await client.stream_with_usage("p", model="gpt-4o")
    assert response.get_text() == "fine"
    assert len(partials) == 20
    assert all(p.is_partial and p.usage["is_estimated"] for p in partials)


async def test_bad_input_fails_before_any_request(fake_provider: FakeProvider) -> None:
    async with client_for(fake_provider) as client:
        with pytest.raises(UnknownModelError):
            client.stream("hi", model="llama3")
        with pytest.raises(ConfigurationError, match="empty"):
            await client.stream_with_usage("   ", model="gpt-4o")
        with pytest.raises(ConfigurationError, match="max_tokens"):
            await client.stream_with_usage("hi", model="gpt-4o", max_tokens=-1)
        with pytest.raises(ConfigurationError, match="prompt must be"):
            await client.stream_with_usage(42, model="gpt-4o")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="streaming_options"):
            await client.stream_with_usage("hi", model="gpt-4o", streaming_options={})  # type: ignore[arg-type]
        bad_calls: list[tuple[dict[str, Any], str]] = [
            ({"model": None}, "model must be a non-empty string"),
            ({"prompt": [{"role": "wizard", "content": "x"}]}, "role 'wizard'"),
            ({"tools": [{"description": "no name"}]}, "tool 0 has no name"),
            ({"tools": {"name": "f"}}, "tools must be a list"),
            ({"top_p": 2}, "top_p must be between 0 and 1"),
            ({"temperature": -0.5}, "temperature must be between 0 and 2"),
        ]
        for changes, message in bad_calls:
            call: dict[str, Any] = {"prompt": "hi", "model": "gpt-4o", **changes}
            with pytest.raises(ConfigurationError, match=message):
                await client.stream_with_usage(call.pop("prompt"), **call)
        # Tool shapes that are all fine: neutral, OpenAI function, OpenAI custom.
        client.stream(
            "hi",
            model="gpt-4o",
            tools=[
                {"name": "a", "parameters": {"type": "object"}},
                {"type": "function", "function": {"name": "b"}},
                {"type": "custom", "custom": {"name": "c"}},
            ],
        )
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        SteerClient(env={}).stream("hi", model="gpt-4o")
    assert fake_provider.requests == []


async def test_client_without_async_with_and_idempotent_close(fake_provider: FakeProvider) -> None:
    client = client_for(fake_provider)
    fake_provider.enqueue(Scenario(text=["ok"]))
    assert (await client.stream_with_usage("p", model="gpt-4o")).get_text() == "ok"
    await client.aclose()
    await client.aclose()


async def test_openai_compatible_server_without_usage_is_estimated(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Scenario(text=["one two three four"], send_usage=False))
    async with SteerClient(base_url=fake_provider.openai_base_url) as client:
        response = await client.stream_with_usage("count", model="llama3")
    assert response.get_text() == "one two three four"
    assert response.usage_info is not None
    assert response.usage["is_estimated"] is True
    assert response.usage["completion_tokens"] > 0
    assert fake_provider.requests[-1].json["model"] == "llama3"


async def test_options_are_not_mutated(fake_provider: FakeProvider) -> None:
    options = StreamingOptions(enable_usage_aggregation=False)
    fake_provider.enqueue(Scenario(text=["x"], send_usage=False))
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("p", model="gpt-4o", streaming_options=options)
    # Nobody counted: no usage_info; usage is the zero dict that says so.
    assert response.usage_info is None
    assert response.usage["source"] == "none" and response.usage["total_tokens"] == 0
    assert options == StreamingOptions(enable_usage_aggregation=False)


def test_runs_under_anyio_trio_backend(fake_provider_url: None = None) -> None:
    import anyio

    from steer_trio.testing import open_fake_provider

    async def main() -> str:
        async with open_fake_provider() as server:
            server.enqueue(Scenario(text=["any", "io"]))
            async with client_for(server) as client:
                chunks = [c async for c in client.stream("p", model="gpt-4o")]
                response = await client.stream_with_usage("p", model="gpt-4o")
        return "".join(chunks) + "|" + str(response.usage_info is not None)

    assert anyio.run(main, backend="trio") == "anyio|True"


@pytest.mark.parametrize("model", ["gpt-4o", "claude-haiku-4-5", "grok-3-mini"])
async def test_generate_is_one_non_streaming_request(
    fake_provider: FakeProvider, model: str
) -> None:
    fake_provider.enqueue(
        Scenario(
            text=["The ", "answer."],
            prompt_tokens=9,
            completion_tokens=2,
            tool_calls=[ToolCallSpec(id="c7", name="f", arguments='{"x": 1}')],
        )
    )
    async with client_for(fake_provider) as client:
        response = await client.generate("question", model=model)
    body = fake_provider.requests[-1].json
    assert "stream" not in body and "stream_options" not in body
    assert response.get_text() == "The answer."
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("c7", "f", {"x": 1})
    ]
    assert response.usage["prompt_tokens"] == 9 and response.usage["completion_tokens"] == 2
    assert response.finish_reason == "tool_calls"
    assert response.cost_usd is not None


async def test_generate_errors_are_typed(fake_provider: FakeProvider) -> None:
    from steer_trio import AuthenticationError

    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=401, body='{"error": {"message": "bad key"}}'))
    )
    async with client_for(fake_provider) as client:
        with pytest.raises(AuthenticationError, match="bad key"):
            await client.generate("q", model="gpt-4o")
        for name in ("on_delta", "on_tool_call"):
            with pytest.raises(ConfigurationError, match=name):
                await client.generate("q", model="gpt-4o", **{name: print})
        # Neither was sent: the only request is the 401 above.
        assert len(fake_provider.requests) == 1


async def test_open_fake_provider_raises_the_blocks_own_exception() -> None:
    from steer_trio.testing import open_fake_provider

    class Mine(Exception):
        pass

    with pytest.raises(Mine):  # the exception itself, not an ExceptionGroup around it
        async with open_fake_provider():
            raise Mine


async def test_streams_ask_for_no_compression_and_survive_it_anyway() -> None:
    import gzip

    body = (
        b'data: {"id":"c","model":"gpt-4o",'
        b'"choices":[{"index":0,"delta":{"content":"Zipped "}}]}\n\n'
        b'data: {"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"text"},'
        b'"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("accept-encoding"))
        # A proxy that compresses whatever it is asked: the SDK must still read it.
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
            content=gzip.compress(body),
        )

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = SteerClient(api_keys={"openai": "k"}, http_client=http)
    chunks = [chunk async for chunk in client.stream("x", model="gpt-4o")]
    response = await client.stream_with_usage("x", model="gpt-4o")
    assert "".join(chunks) == response.get_text() == "Zipped text"
    assert seen == ["identity", "identity"]
    await http.aclose()
