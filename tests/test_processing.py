"""Tool-call events, the event processor, JSON mode and every StreamingOptions field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import httpx2
import pytest
import trio
from conftest import FIXTURES
from conftest import steer_client as steer

from steer_trio import (
    APIConnectionError,
    ConnectTimeout,
    EventTransformer,
    ResponseValidationError,
    ServerError,
    SteerClient,
    StreamDeltaEvent,
    StreamingOptions,
    StreamToolCallEvent,
    create_event_processor,
)
from steer_trio.testing import FakeProvider, Fault, Replay, Scenario

# -- unified tool-call events ------------------------------------------------------------

TOOL_RECORDINGS = [
    ("openai", "openai-chat/tool-call-single-strict-gpt-4o.sse"),
    ("openai", "openai-chat/tool-calls-parallel-2-gpt-4o.sse"),
    ("xai", "xai/grok-3-mini-reasoning-tool-call.sse"),
    ("xai", "xai/grok-2-forced-tool-call-one-chunk.sse"),
    ("anthropic", "anthropic/tool-use-parallel-noargs-haiku-4-5.sse"),
    ("anthropic", "anthropic/thinking-then-tool-use-haiku-4-5.sse"),
    ("anthropic", "anthropic/tool-use-parallel-opus-3-2024.sse"),
]


@pytest.mark.parametrize(("provider", "name"), TOOL_RECORDINGS)
async def test_tool_calls_stream_identically(
    fake_provider: FakeProvider, provider: str, name: str
) -> None:
    events: list[StreamToolCallEvent] = []
    fake_provider.enqueue(Replay(FIXTURES / name, chunking="random", seed=3))
    model = {"openai": "gpt-4o", "xai": "grok-3-mini", "anthropic": "claude-haiku-4-5"}[provider]
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage("tools", model=model, on_tool_call=events.append)
    assert response.tool_calls
    for call in response.tool_calls:
        mine = [e for e in events if e.tool_call_index == call.index]
        phases = [e.phase for e in mine]
        # The same shape from every provider: start, any argument pieces, done.
        assert phases[0] == "start" and phases[-1] == "done"
        assert set(phases[1:-1]) <= {"arguments"}
        assert mine[0].tool_call_id == call.id and mine[0].name == call.name
        assert "".join(e.arguments_delta for e in mine) == call.arguments
        assert mine[-1].arguments == call.parsed_arguments()
        assert mine[-1].error is None
        for event in mine[1:-1]:
            assert isinstance(event.partial_arguments, dict | list | str | int | float | type(None))


async def test_truncated_tool_call_reports_error(fake_provider: FakeProvider) -> None:
    events: list[StreamToolCallEvent] = []
    path = FIXTURES / "anthropic/tool-use-max-tokens-truncated-sonnet-3-7.sse"
    fake_provider.enqueue(Replay(path))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage(
            "tools", model="claude-3-7-sonnet", on_tool_call=events.append
        )
    assert response.finish_reason == "length"
    done = [e for e in events if e.phase == "done"]
    assert done and done[-1].error is not None and done[-1].arguments is None


# -- event processor -----------------------------------------------------------------------


class Upper(EventTransformer):
    async def transform(self, event: Any) -> Any:
        if isinstance(event, StreamDeltaEvent):
            event.delta.value = event.delta.value.upper()
        return event


class DropB:
    def transform(self, event: Any) -> Any:  # sync transformers work too
        if isinstance(event, StreamDeltaEvent) and event.delta.value == "b":
            return None
        return event


@pytest.mark.parametrize("background", [False, True])
async def test_transformers_reach_callbacks_iterators_and_response(
    fake_provider: FakeProvider, background: bool
) -> None:
    processor = create_event_processor(background=background)
    processor.add_transformer(DropB()).add_transformer(Upper())
    options = StreamingOptions(event_processor=processor)
    seen: list[str] = []
    async with steer(fake_provider) as client:
        fake_provider.enqueue(Scenario(text=["a", "b", "c"]))
        response = await client.stream_with_usage(
            "x",
            model="gpt-4o",
            streaming_options=options,
            on_delta=lambda e: seen.append(e.delta.value),
        )
        fake_provider.enqueue(Scenario(text=["a", "b", "c"]))
        chunks = [c async for c in client.stream("x", model="gpt-4o", streaming_options=options)]
    assert seen == ["A", "C"]
    assert response.get_text() == "AC"
    assert chunks == ["A", "C"]


async def test_correlation_and_metrics_are_per_request(fake_provider: FakeProvider) -> None:
    processor = create_event_processor(add_correlation=True, add_timestamp=True, add_metrics=True)
    options = StreamingOptions(event_processor=processor)
    starts: list[Any] = []
    async with steer(fake_provider) as client:
        responses = []
        for n in (3, 5):
            fake_provider.enqueue(Scenario(text=["x"] * n, completion_tokens=n))
            responses.append(
                await client.stream_with_usage(
                    "x", model="gpt-4o", streaming_options=options, on_start=starts.append
                )
            )
    a, b = responses
    assert a.correlation_id and b.correlation_id and a.correlation_id != b.correlation_id
    assert [s.correlation_id for s in starts] == [a.correlation_id, b.correlation_id]
    assert all(s.timestamp is not None for s in starts)
    assert a.metrics["chunk_count"] == 3 and b.metrics["chunk_count"] == 5
    for r in (a, b):
        for key in ("tokens_per_second", "inter_chunk_gap_p50_ms", "inter_chunk_gap_p95_ms"):
            assert key in r.metrics
        assert "time_to_first_token_ms" in r.metrics


async def test_event_type_filter(fake_provider: FakeProvider) -> None:
    processor = create_event_processor(event_types=["usage"])
    deltas: list[Any] = []
    usages: list[Any] = []
    fake_provider.enqueue(Scenario(text=["a", "b"]))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage(
            "x",
            model="gpt-4o",
            streaming_options=StreamingOptions(event_processor=processor),
            on_delta=deltas.append,
            on_usage=usages.append,
        )
    assert deltas == [] and len(usages) == 1
    assert response.get_text() == ""  # filtered events are not part of the response
    with pytest.raises(ValueError, match="unknown event type"):
        create_event_processor(event_types=["deltas"])


# -- JSON mode -------------------------------------------------------------------------------


@attrs.define
class Person:
    name: str
    age: int


@pytest.mark.parametrize("model", ["gpt-4o", "grok-3-mini", "claude-haiku-4-5"])
async def test_json_mode_each_provider(fake_provider: FakeProvider, model: str) -> None:
    partials: list[Any] = []
    fake_provider.enqueue(Scenario(text=['{"name": "Ada', '", "age": ', "36}"]))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage(
            "json please",
            model=model,
            response_model=Person,
            on_json=lambda e: partials.append(json.dumps(e.partial)),
        )
    assert response.parsed == Person("Ada", 36)
    assert response.get_json() == {"name": "Ada", "age": 36}
    # The name shows while it is still being written, before the answer is complete.
    assert any(p.startswith('{"name": "A') and "age" not in p for p in partials)
    body = fake_provider.requests[-1].json
    if model.startswith("claude"):
        assert body["tool_choice"] == {"type": "tool", "name": "json_output"}
    else:
        assert body["response_format"] == {"type": "json_object"}


async def test_response_model_mismatch_names_the_field(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=['{"name": "Ada", "age": "old"}']))
    async with steer(fake_provider) as client:
        with pytest.raises(ResponseValidationError, match="age") as info:
            await client.stream_with_usage("x", model="gpt-4o", response_model=Person)
    assert info.value.raw_json == '{"name": "Ada", "age": "old"}'


# -- every StreamingOptions field has its effect -----------------------------------------------


async def test_option_aggregator_type_and_prefer_tiktoken(fake_provider: FakeProvider) -> None:
    async with steer(fake_provider) as client:
        sources = []
        for options in (
            StreamingOptions(aggregator_type="tiktoken"),
            StreamingOptions(aggregator_type="character"),
            StreamingOptions(aggregator_type="auto", prefer_tiktoken=False),
            StreamingOptions(aggregator_type="auto"),
        ):
            fake_provider.enqueue(Scenario(text=["hello world"], send_usage=False))
            r = await client.stream_with_usage(
                "x", model="gpt-3.5-turbo", streaming_options=options
            )
            sources.append(r.usage["source"])
    assert sources == ["tiktoken", "character", "character", "tiktoken"]


async def test_option_enable_json_stream_handler(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=['{"a": ', "1}"]))
    events: list[Any] = []
    async with steer(fake_provider) as client:
        await client.stream_with_usage(
            "x",
            model="gpt-4o",
            streaming_options=StreamingOptions(enable_json_stream_handler=True),
            on_json=events.append,
        )
        # Without the option, nothing parses the text...
        fake_provider.enqueue(Scenario(text=['{"a": ', "1}"]))
        plain = await client.stream_with_usage("x", model="gpt-4o")
        # ...but an on_json callback (or a JSON response_format) is asking for JSON.
        fake_provider.enqueue(Scenario(text=['{"a": ', "1}"]))
        implied: list[Any] = []
        await client.stream_with_usage("x", model="gpt-4o", on_json=implied.append)
        fake_provider.enqueue(Scenario(text=['{"a": ', "1}"]))
        by_format = await client.stream_with_usage(
            "x", model="gpt-4o", response_format={"type": "json_object"}
        )
    assert events and events[-1].partial == {"a": 1}
    assert plain.json_value is None
    assert implied and implied[-1].partial == {"a": 1}
    assert by_format.json_value == {"a": 1}


async def test_option_connection_timeout_reaches_transport() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.update(request.extensions["timeout"])
        raise httpx2.ConnectTimeout("slow", request=request)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = SteerClient(api_keys={"openai": "k"}, http_client=http)
    options = StreamingOptions(connection_timeout=1.25, read_timeout=7.0, max_retries=0)
    with pytest.raises(ConnectTimeout, match="1.25"):
        await client.stream_with_usage("x", model="gpt-4o", streaming_options=options)
    assert seen["connect"] == 1.25 and seen["read"] == 7.0
    await http.aclose()


@pytest.mark.parametrize(("retry", "requests"), [(True, 2), (False, 1)])
async def test_option_retry_on_connection_error(
    fake_provider: FakeProvider, retry: bool, requests: int, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(fault=Fault("reset_before_headers")), Scenario(text=["ok"]))
    options = StreamingOptions(retry_on_connection_error=retry)
    async with steer(fake_provider, streaming_options=options) as client:
        with trio.fail_after(30):
            if retry:
                response = await client.stream_with_usage("x", model="gpt-4o")
                assert response.get_text() == "ok"  # the retried request's answer
                assert not response.is_partial
            else:
                with pytest.raises(APIConnectionError) as info:
                    await client.stream_with_usage("x", model="gpt-4o")
                assert info.value.content_delivered is False
    assert len(fake_provider.requests) == requests


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_option_max_retries(
    fake_provider: FakeProvider, max_retries: int, autojump_clock: Any
) -> None:
    fake_provider.route("gpt-4o", Scenario(fault=Fault("http_error", status=503)))
    options = StreamingOptions(max_retries=max_retries)
    async with steer(fake_provider, streaming_options=options) as client:
        with trio.fail_after(60), pytest.raises(ServerError) as info:
            await client.stream_with_usage("x", model="gpt-4o")
    assert info.value.status_code == 503
    assert len(fake_provider.requests) == max_retries + 1


def test_option_validation_messages() -> None:
    with pytest.raises(ValueError, match="read_timeout"):
        StreamingOptions(read_timeout=-1)
    with pytest.raises(ValueError, match="max_retries"):
        StreamingOptions(max_retries=-1)
    with pytest.raises(ValueError, match="aggregator_type"):
        StreamingOptions(aggregator_type="bytes")  # type: ignore[arg-type]


def test_options_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "options.md").read_text()
    for field in attrs.fields(StreamingOptions):
        assert f"`{field.name}`" in doc, field.name


async def test_tiktoken_asked_for_a_model_without_encoding_warns(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Scenario(text=["hello"], send_usage=False))
    async with SteerClient(base_url=fake_provider.openai_base_url) as client:
        with pytest.warns(RuntimeWarning, match="no tiktoken encoding"):
            r = await client.stream_with_usage(
                "x",
                model="llama3",
                streaming_options=StreamingOptions(aggregator_type="tiktoken"),
            )
    assert r.usage["source"] == "character"


@pytest.mark.parametrize(
    ("options_buffer", "processor_buffer", "bound"), [(4, None, 4), (16, 2, 2)]
)
async def test_background_reading_stays_within_the_buffer(
    fake_provider: FakeProvider,
    autojump_clock: Any,
    options_buffer: int,
    processor_buffer: int | None,
    bound: int,
) -> None:
    """A slow callback behind a background processor: the background task reads at most
    the channel's batches ahead (``StreamingOptions.buffer_size``, or the processor's
    own ``buffer_size`` when it sets one), instead of buffering the whole stream."""
    from steer_trio import EventProcessor
    from steer_trio._pipeline import Pipeline
    from steer_trio._transport import Exchange

    reads = handled = 0
    read_batch, handle = Exchange.read_batch, Pipeline.handle

    async def counting_reads(self: Exchange) -> Any:
        nonlocal reads
        reads += 1
        return await read_batch(self)

    async def counting_handles(self: Pipeline, *args: Any) -> Any:
        nonlocal handled
        handled += 1
        return await handle(self, *args)

    async def slow(event: Any) -> None:
        await trio.sleep(1)

    processor = EventProcessor(background=True, buffer_size=processor_buffer)
    options = StreamingOptions(event_processor=processor, buffer_size=options_buffer)
    fake_provider.enqueue(Scenario(text=["x"] * 2000))
    Exchange.read_batch = counting_reads  # type: ignore[method-assign]
    Pipeline.handle = counting_handles  # type: ignore[method-assign]
    try:
        async with steer(fake_provider) as client:
            with trio.move_on_after(20.5):
                await client.stream_with_usage(
                    "x", model="gpt-4o", on_delta=slow, streaming_options=options
                )
    finally:
        Exchange.read_batch, Pipeline.handle = read_batch, handle  # type: ignore[method-assign]
    assert handled >= 2  # the callback's slowness, not the stream's end, is what stopped it
    # The channel's batches, the one in the reader's hand and the one being handled.
    assert handled < reads <= handled + bound + 2
