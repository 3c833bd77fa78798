"""The Responses API and Gemini through the real client and the fake provider, over
sockets: every recording replayed (one event per write, and re-chunked at random byte
boundaries) and checked against values this test reads from the file itself; then the
public API (stream, stream_with_usage, generate, callbacks, JSON mode, tool-call
events) with a Gemini model and with ``api="responses"``; one typed error with the
partial for a mid-stream error, a cut connection and a body that just stops; routing;
resuming a background response; and the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from conftest import FIXTURES
from conftest import steer_client as client_for
from test_gemini_parser import expected_from as gemini_expected
from test_responses_parser import expected_from as responses_expected

from steer_trio import (
    BadRequestError,
    ConfigurationError,
    MissingAPIKeyError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
    SSEDecoder,
    StreamIncompleteError,
    StreamingOptions,
    StreamInterruptedError,
    cli,
)
from steer_trio._events import StreamDeltaEvent, StreamEvent
from steer_trio._providers._responses import OpenAIResponsesParser, build_responses_resume_request
from steer_trio._providers._routing import resolve_model
from steer_trio.testing import FakeProvider, Fault, Replay, Scenario, ToolCallSpec

RESPONSES = sorted((FIXTURES / "openai-responses").glob("*.sse"))
GEMINI = sorted((FIXTURES / "gemini").glob("*.sse"))

#: The two formats, as a call asks for them: (keyword arguments, request path suffix).
FORMATS = {
    "gemini": ({"model": "gemini-2.5-flash"}, ":streamGenerateContent"),
    "responses": ({"model": "gpt-4o", "api": "responses"}, "/responses"),
}


# -- every recording, replayed --------------------------------------------------------


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunking", ["event", "random"])
async def test_responses_recordings(fake_provider: FakeProvider, path: Path, chunking: str) -> None:
    expected = responses_expected(path)
    fake_provider.enqueue(Replay(path, chunking=chunking, seed=len(path.name)))  # type: ignore[arg-type]
    async with client_for(fake_provider) as client:
        if expected["usage"] is None:  # the mid-stream error recording
            with pytest.raises(RateLimitError) as info:
                await client.stream_with_usage("replay", model="gpt-4o", api="responses")
            assert info.value.partial is not None and info.value.partial.get_text() == ""
            return
        response = await client.stream_with_usage("replay", model="gpt-4o", api="responses")
    assert fake_provider.requests[-1].path == "/v1/responses"
    assert response.get_text() == expected["text"]
    assert (response.refusal or "") == expected["refusal"]
    assert response.reasoning == expected["reasoning"]
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        (c["id"], c["name"], c["arguments"]) for c in expected["calls"]
    ]
    assert response.finish_reason == expected["finish"]
    assert response.raw_finish_reason == expected["raw_finish"]
    assert (response.model, response.response_id) == (expected["model"], expected["id"])
    raw = expected["usage"]
    assert response.usage_info is not None
    assert response.usage["prompt_tokens"] == raw["input_tokens"]
    assert response.usage["completion_tokens"] == raw["output_tokens"]
    assert response.usage["cache_read_tokens"] == raw["input_tokens_details"]["cached_tokens"]
    assert response.usage["is_estimated"] is False


@pytest.mark.parametrize("path", GEMINI, ids=lambda p: p.name)
@pytest.mark.parametrize("chunking", ["event", "random"])
async def test_gemini_recordings(fake_provider: FakeProvider, path: Path, chunking: str) -> None:
    fake_provider.enqueue(Replay(path, chunking=chunking, seed=len(path.name)))  # type: ignore[arg-type]
    async with client_for(fake_provider) as client:
        if path.name.startswith("prompt-blocked"):
            with pytest.raises(BadRequestError, match="the prompt was blocked: SAFETY") as info:
                await client.stream_with_usage("replay", model="gemini-pro")
            assert not info.value.is_retryable and info.value.partial is not None
            return
        response = await client.stream_with_usage("replay", model="gemini-2.5-flash")
    expected = gemini_expected(path)
    assert fake_provider.requests[-1].path.endswith(
        "/models/gemini-2.5-flash:streamGenerateContent"
    )
    assert response.get_text() == expected["text"]
    assert response.reasoning == expected["thoughts"]
    assert [(c.id, c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        (c["id"], c["name"], c["args"]) for c in expected["calls"]
    ]
    assert response.finish_reason == expected["finish"]
    assert response.raw_finish_reason == expected["raw_finish"]
    assert (response.model, response.response_id) == (expected["model"], expected["id"])
    raw = expected["usage"]
    thoughts = raw.get("thoughtsTokenCount", 0)
    assert response.usage_info is not None
    assert response.usage["prompt_tokens"] == raw["promptTokenCount"] + raw.get(
        "toolUsePromptTokenCount", 0
    )
    assert response.usage["completion_tokens"] == raw.get("candidatesTokenCount", 0) + thoughts
    assert response.usage["reasoning_tokens"] == thoughts
    assert response.usage["is_estimated"] is False


# -- the public API, in both formats ----------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_stream_yields_the_text(fake_provider: FakeProvider, fmt: str) -> None:
    kwargs, suffix = FORMATS[fmt]
    fake_provider.enqueue(Scenario(text=["Hello", ", ", "world", "!"]))
    async with client_for(fake_provider) as client:
        chunks = [c async for c in client.stream("Say hi", system="Be kind.", **kwargs)]
    assert chunks == ["Hello", ", ", "world", "!"]
    sent = fake_provider.requests[-1]
    assert sent.path.endswith(suffix) and sent.method == "POST"
    if fmt == "gemini":
        assert sent.headers["x-goog-api-key"] == "gm-test"
        assert sent.json["contents"] == [{"role": "user", "parts": [{"text": "Say hi"}]}]
        assert sent.json["systemInstruction"] == {"parts": [{"text": "Be kind."}]}
    else:
        assert sent.headers["authorization"] == "Bearer sk-test"
        assert sent.json["input"] == [{"role": "user", "content": "Say hi"}]
        assert sent.json["instructions"] == "Be kind."
        assert sent.json["stream"] is True and sent.json["store"] is False


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_stream_with_usage_reasoning_usage_and_cost(
    fake_provider: FakeProvider, fmt: str
) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(
            text=["a", "b", "c"],
            reasoning=["Let me ", "think"],
            prompt_tokens=1000,
            completion_tokens=500,
            reasoning_tokens=200,
            cache_read_tokens=400,
        )
    )
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("Write", max_tokens=50, **kwargs)
    assert response.get_text() == "abc"
    assert response.reasoning == "Let me think"
    assert response.finish_reason == "stop"
    usage = response.usage
    assert usage["source"] == "provider" and usage["is_estimated"] is False
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (1000, 500)
    assert (usage["cache_read_tokens"], usage["reasoning_tokens"]) == (400, 200)
    # The price table's entries: (input, cached input, output) USD per million tokens.
    input_price, cached_price, output_price = (
        (0.3, 0.03, 2.5) if fmt == "gemini" else (2.5, 1.25, 10)
    )
    assert response.cost_usd == pytest.approx(
        (600 * input_price + 400 * cached_price + 500 * output_price) / 1e6
    )
    sent = fake_provider.requests[-1].json
    if fmt == "gemini":
        assert sent["generationConfig"] == {"maxOutputTokens": 50}
    else:
        assert sent["max_output_tokens"] == 50


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_generate_is_one_non_streaming_request(fake_provider: FakeProvider, fmt: str) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(Scenario(text=["One ", "answer."], prompt_tokens=7, completion_tokens=2))
    async with client_for(fake_provider) as client:
        response = await client.generate("q", **kwargs)
    assert response.get_text() == "One answer."
    assert response.finish_reason == "stop"
    assert response.usage_info is not None
    assert (response.usage["prompt_tokens"], response.usage["completion_tokens"]) == (7, 2)
    sent = fake_provider.requests[-1]
    if fmt == "gemini":
        assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    else:
        assert sent.path == "/v1/responses" and "stream" not in sent.json
        assert response.response_id is not None and response.response_id.startswith("resp_")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_callbacks_in_order(fake_provider: FakeProvider, fmt: str) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(Scenario(text=["x", "y"], prompt_tokens=3, completion_tokens=2))
    seen: list[str] = []

    async def on_start(event: Any) -> None:
        seen.append(f"start:{event.provider}")

    def on_delta(event: Any) -> None:
        seen.append(f"delta:{event.chunk_index}:{event.delta.get_text()}")

    async def on_usage(event: Any) -> None:
        seen.append(f"usage:{event.usage.total_tokens}")

    def on_complete(event: Any) -> None:
        seen.append(f"complete:{event.finish_reason}")

    async with client_for(fake_provider) as client:
        await client.stream_with_usage(
            "p",
            on_start=on_start,
            on_delta=on_delta,
            on_usage=on_usage,
            on_complete=on_complete,
            **kwargs,
        )
    provider = "gemini" if fmt == "gemini" else "openai"
    assert seen == [f"start:{provider}", "delta:0:x", "delta:1:y", "usage:5", "complete:stop"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_json_mode(fake_provider: FakeProvider, fmt: str) -> None:
    kwargs, _ = FORMATS[fmt]
    partials: list[Any] = []
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage(
            "Give me a person",
            response_format={"type": "json_object"},
            streaming_options=StreamingOptions(enable_json_stream_handler=True),
            on_json=lambda event: partials.append(dict(event.partial or {})),
            **kwargs,
        )
    assert response.get_json() == {"name": "John Doe", "age": 30, "email": "john@example.com"}
    assert len(partials) > 2 and partials[-1] == response.get_json()
    sent = fake_provider.requests[-1].json
    if fmt == "gemini":
        assert sent["generationConfig"] == {"responseMimeType": "application/json"}
    else:
        assert sent["text"] == {"format": {"type": "json_object"}}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_tool_call_events(fake_provider: FakeProvider, fmt: str) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(
            text=[],
            tool_calls=[
                ToolCallSpec(
                    id="call_1", name="get_weather", arguments='{"city": "Paris", "days": 3}'
                ),
                ToolCallSpec(id="call_2", name="get_time", arguments='{"tz": "CET"}'),
            ],
        )
    )
    events: list[Any] = []
    tools = [
        {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "get_time", "parameters": {"type": "object"}},
    ]
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage(
            "Weather?", tools=tools, on_tool_call=events.append, **kwargs
        )
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in response.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris", "days": 3}),
        ("call_2", "get_time", {"tz": "CET"}),
    ]
    starts = [(e.tool_call_index, e.tool_call_id, e.name) for e in events if e.phase == "start"]
    assert starts == [(0, "call_1", "get_weather"), (1, "call_2", "get_time")]
    done = [(e.tool_call_index, e.arguments, e.error) for e in events if e.phase == "done"]
    assert done == [(0, {"city": "Paris", "days": 3}, None), (1, {"tz": "CET"}, None)]
    sent = fake_provider.requests[-1].json
    if fmt == "gemini":
        assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == [
            "get_weather",
            "get_time",
        ]
    else:
        assert [t["name"] for t in sent["tools"]] == ["get_weather", "get_time"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_conversation_with_tool_results_goes_out_in_the_format(
    fake_provider: FakeProvider, fmt: str
) -> None:
    kwargs, _ = FORMATS[fmt]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    "thought_signature": "c2ln",
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    async with client_for(fake_provider) as client:
        await client.stream_with_usage(messages, **kwargs)
    sent = fake_provider.requests[-1].json
    if fmt == "gemini":
        assert sent["contents"][1:] == [
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {
                            "name": "get_weather",
                            "args": {"city": "Paris"},
                            "id": "call_1",
                        },
                        "thoughtSignature": "c2ln",
                    }
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"temp": 21},
                            "id": "call_1",
                        }
                    }
                ],
            },
        ]
    else:
        assert sent["input"][1:] == [
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
        ]


# -- failures: one typed error, with the partial ------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_mid_stream_error_is_one_typed_error_with_the_partial(
    fake_provider: FakeProvider, fmt: str
) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(text=["alpha ", "beta ", "gamma "], fault=Fault("in_stream_error", after_events=2))
    )
    errors: list[Any] = []
    async with client_for(fake_provider) as client:
        with pytest.raises(ProviderError) as info:
            await client.stream_with_usage("x", on_error=errors.append, **kwargs)
    err = info.value
    # Gemini says UNAVAILABLE (503); the Responses API names the error type itself.
    assert type(err) is (ServerError if fmt == "gemini" else OverloadedError)
    assert err.in_stream and err.message == "Overloaded"
    assert err.partial is not None and err.partial.get_text() == "alpha beta "
    assert err.partial.is_partial and err.content_delivered
    assert len(errors) == 1 and errors[0].error is err
    assert len(fake_provider.requests) == 1  # content had arrived: never retried


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_cut_connection_is_one_typed_error_with_the_partial(
    fake_provider: FakeProvider, fmt: str
) -> None:
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(text=["alpha ", "beta ", "gamma "], fault=Fault("drop_after", after_events=2))
    )
    got: list[str] = []
    async with client_for(fake_provider) as client:
        with pytest.raises(StreamInterruptedError) as info:
            async with client.stream("x", **kwargs) as chunks:
                async for chunk in chunks:
                    got.append(chunk)
    assert got == ["alpha ", "beta "]
    assert info.value.partial is not None
    assert info.value.partial.get_text() == "alpha beta "
    assert info.value.partial.usage["is_estimated"] is True


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_body_that_just_stops_is_incomplete(fake_provider: FakeProvider, fmt: str) -> None:
    """The body ends cleanly before Gemini's finishReason / the Responses terminal event."""
    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(text=["alpha ", "beta ", "gamma "], fault=Fault("truncate_after", after_events=2))
    )
    async with client_for(fake_provider) as client:
        with pytest.raises(StreamIncompleteError) as info:
            await client.stream_with_usage("x", **kwargs)
    assert info.value.partial is not None and info.value.partial.get_text() == "alpha beta "
    assert info.value.partial.finish_reason is None


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_malformed_json_is_a_protocol_error(fake_provider: FakeProvider, fmt: str) -> None:
    from steer_trio import StreamProtocolError

    kwargs, _ = FORMATS[fmt]
    fake_provider.enqueue(
        Scenario(text=["a", "b"], fault=Fault("malformed_json_after", after_events=1))
    )
    async with client_for(fake_provider) as client:
        with pytest.raises(StreamProtocolError) as info:
            await client.stream_with_usage("x", **kwargs)
    assert info.value.partial.get_text() == "a"


# -- routing ----------------------------------------------------------------------------


async def test_responses_only_models_go_to_the_responses_api(fake_provider: FakeProvider) -> None:
    async with client_for(fake_provider) as client:
        for model in ("o3-pro", "gpt-5-pro", "gpt-5-codex", "codex-mini-latest"):
            await client.stream_with_usage("x", model=model)
            assert fake_provider.requests[-1].path == "/v1/responses", model
        await client.stream_with_usage("x", model="gpt-4o")
        assert fake_provider.requests[-1].path == "/v1/chat/completions"
        with pytest.raises(ConfigurationError, match="only by OpenAI's Responses API"):
            await client.stream_with_usage("x", model="o3-pro", api="chat")
        with pytest.raises(ConfigurationError, match="does not speak"):
            await client.stream_with_usage("x", model="claude-haiku-4-5", api="responses")
        with pytest.raises(ConfigurationError, match="api must be"):
            await client.stream_with_usage("x", model="gpt-4o", api="soap")


async def test_streaming_options_api_and_the_call_wins(fake_provider: FakeProvider) -> None:
    options = StreamingOptions(api="responses")
    async with client_for(fake_provider, streaming_options=options) as client:
        await client.stream_with_usage("x", model="gpt-4o")
        assert fake_provider.requests[-1].path == "/v1/responses"
        await client.stream_with_usage("x", model="gpt-4o", api="chat")
        assert fake_provider.requests[-1].path == "/v1/chat/completions"
        await client.stream_with_usage("x", model="grok-3-mini")  # xAI speaks it too
        assert fake_provider.requests[-1].path == "/xai/v1/responses"
        await client.stream_with_usage("x", model="gemini-2.5-flash", api="chat")  # its own
        assert fake_provider.requests[-1].path.endswith(":streamGenerateContent")
    # A client-wide default never breaks a call: providers with their own format ignore
    # it, and a Responses-only model goes to the Responses API whatever it says.
    async with client_for(fake_provider, streaming_options=options) as client:
        await client.stream_with_usage("x", model="claude-haiku-4-5")
        assert fake_provider.requests[-1].path == "/v1/messages"
    chat = StreamingOptions(api="chat")
    async with client_for(fake_provider, streaming_options=chat) as client:
        await client.stream_with_usage("x", model="o3-pro")
        assert fake_provider.requests[-1].path == "/v1/responses"
    with pytest.raises(ValueError, match="StreamingOptions.api"):
        StreamingOptions(api="soap")  # type: ignore[arg-type]


def test_gemini_keys_and_base_url() -> None:
    t = resolve_model("gemini-2.5-flash", env={"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "m"})
    assert (t.provider.name, t.provider.wire, t.api_key) == ("gemini", "gemini", "m")
    assert t.base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert resolve_model("gemini-2.5-flash", env={"GOOGLE_API_KEY": "g"}).api_key == "g"
    t = resolve_model(
        "gemini/gemini-2.5-pro",
        base_urls={"gemini": "http://proxy/v1beta/"},
        env={"GEMINI_API_KEY": "k"},
    )
    assert (t.model, t.base_url) == ("gemini-2.5-pro", "http://proxy/v1beta")
    t = resolve_model(
        "gemini-2.5-pro", env={"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "http://env/v1beta"}
    )
    assert t.base_url == "http://env/v1beta"
    with pytest.raises(MissingAPIKeyError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        resolve_model("gemini-2.5-flash", env={})


# -- resuming a background response over sockets ---------------------------------------------


async def test_background_response_resumes_where_it_broke(fake_provider: FakeProvider) -> None:
    """The sans-IO pieces against the fake provider's resume endpoint: read part of a
    background stream, lose the rest, GET it again from ``starting_after``."""
    words = ["one ", "two ", "three ", "four ", "five"]
    fake_provider.enqueue(Scenario(text=words))
    body = {"model": "gpt-4o", "input": "count", "stream": True, "background": True, "store": True}
    parser = OpenAIResponsesParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    async with httpx2.AsyncClient(base_url=fake_provider.openai_base_url) as http:
        with trio.fail_after(10):
            first = await http.post("/responses", json=body)
            # The connection "drops" after the second delta: what followed is lost.
            for event in SSEDecoder().feed(first.content):
                parser.feed(event, out)
                if len(out) == 2:
                    break
            assert parser.response_id is not None and not parser.done
            request = build_responses_resume_request(
                parser.response_id, parser.last_sequence_number or 0, None
            )
            async with http.stream(
                request.method, request.path.removeprefix("/"), headers=request.headers
            ) as rest:
                decoder = SSEDecoder()
                async for chunk in rest.aiter_raw():
                    for event in decoder.feed(chunk):
                        parser.feed(event, out)
    assert parser.done and parser.finish_reasons == {0: "stop"}
    assert "".join(e.delta.value for e in out if isinstance(e, StreamDeltaEvent)) == "".join(words)
    assert fake_provider.requests[-1].method == "GET"
    async with httpx2.AsyncClient(base_url=fake_provider.openai_base_url) as http:
        missing = await http.get("responses/resp_nope?stream=true&starting_after=0")
    assert missing.status_code == 404


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "XAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("_no_keys")
@pytest.mark.parametrize(
    ("argv", "provider"),
    [
        (["--local", "-m", "gemini-2.5-flash"], "gemini"),
        (["--local", "--api", "responses"], "local"),
    ],
)
def test_cli_streams_from_the_fake_in_each_format(
    capsys: pytest.CaptureFixture[str], argv: list[str], provider: str
) -> None:
    assert cli.main(["stream", *argv, "--json", "Tell me a story"]) == cli.EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["text"].startswith("Once upon a time") and result["provider"] == provider
    assert result["finish_reason"] == "stop" and result["usage"]["is_estimated"] is False


@pytest.mark.usefixtures("_no_keys")
def test_cli_missing_gemini_key_names_both_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stream", "-m", "gemini-2.5-flash", "Hi"]) == cli.EXIT_CONFIG
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in capsys.readouterr().err


def test_cli_models_lists_the_new_models_and_their_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models"]) == cli.EXIT_OK
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["gemini-2.5-flash"][-1] == "gemini"
    assert rows["o3-pro"][-1] == "openai_responses"
    assert rows["gpt-4o"][-1] == "openai"
    assert rows["claude-haiku-4-5"][-1] == "anthropic"
    assert rows["gemini-2.5-pro"][1:5] == ["1.25", "0.125", "-", "10"]
