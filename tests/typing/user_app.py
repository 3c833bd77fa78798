"""A user's application, written against the public API only. The suite type-checks it
with ``mypy --strict``: every public call must be usable without a cast or an ignore."""

from __future__ import annotations

import attrs
import trio

from steer_trio import (
    JSON_MODE_OPTIONS,
    Batch,
    BatchEvent,
    BatchProgress,
    BatchRequest,
    BatchResult,
    CallbackError,
    EventTransformer,
    ProviderBatchJob,
    ProviderBatchStatus,
    ProviderError,
    SteerClient,
    SteerError,
    SteerLLMClient,
    StreamCompleteEvent,
    StreamDeltaEvent,
    StreamErrorEvent,
    StreamEvent,
    StreamingOptions,
    StreamingResponse,
    StreamJSONEvent,
    StreamStartEvent,
    StreamToolCallEvent,
    StreamUsageEvent,
    TextStream,
    ToolCall,
    UsageDict,
    create_event_processor,
)


@attrs.define
class Person:
    name: str
    age: int


class Shout(EventTransformer):
    async def transform(self, event: StreamEvent) -> StreamEvent | None:
        if isinstance(event, StreamDeltaEvent):
            event.delta.value = event.delta.value.upper()
        return event


def on_start(event: StreamStartEvent) -> None:
    print(event.provider, event.model, event.request_id)


def on_delta(event: StreamDeltaEvent) -> None:
    print(event.delta.get_text(), end="")


async def on_usage(event: StreamUsageEvent) -> None:
    total: int = event.usage.total_tokens
    print(total, event.is_estimated)


def on_complete(event: StreamCompleteEvent) -> None:
    print(event.finish_reason)


def on_error(event: StreamErrorEvent) -> None:
    partial: object = event.partial
    print(event.error_type, partial)


def on_json(event: StreamJSONEvent) -> None:
    print(event.partial, event.completed)


def on_tool_call(event: StreamToolCallEvent) -> None:
    print(event.phase, event.name, event.arguments)


def on_batch_event(event: BatchEvent) -> None:
    print(event.kind, event.item_id, event.progress.running, event.progress.eta_seconds())


async def run_batches(client: SteerClient) -> None:
    requests: list[dict[str, object]] = [
        {"id": "a", "prompt": "Summarise this", "max_tokens": 100},
        {"id": "b", "messages": [{"role": "user", "content": "Hi"}], "metadata": {"row": 2}},
    ]
    batch: Batch = client.batch(
        requests,
        model="gpt-4o-mini",
        max_concurrency=8,
        requests_per_minute=500,
        item_deadline=30.0,
        max_cost_usd=2.5,
        on_budget="cancel",
        ordered=True,
        on_progress=on_batch_event,
        temperature=0.2,
        on_delta=on_delta,
    )
    async with batch as results:
        async for result in results:
            done: BatchResult = result
            ok: bool = done.ok
            text: str = done.text
            cost: float | None = done.cost_usd
            print(done.id, done.status, done.partial, ok, text, cost, done.error_message)
            if done.usage is not None:
                tokens: int = done.usage.total_tokens
                print(tokens, done.latency_ms, done.finish_reason, done.metadata)
            if done.status == "cancelled":
                results.cancel()
    progress: BatchProgress = batch.progress.snapshot()
    print(progress.completed, progress.cost_usd, batch.stop_reason, len(batch.undelivered))

    strings = client.batch(["one", "two"], model="claude-haiku-4-5", fail_fast=True)
    async with strings as more:
        print([r.status async for r in more])

    job: ProviderBatchJob = await client.submit_batch(
        [BatchRequest(id="q1", prompt="Question one"), "Question two"],
        model="gpt-4o-mini",
        state_file="jobs.batch-state.json",
        poll_interval=60.0,
        max_per_job=1000,
    )
    status: ProviderBatchStatus = await job.wait()
    print(status.ended, status.counts, job.job_ids, job.engine)
    async for fetched in job.iter_results():
        print(fetched.id, fetched.status, fetched.text)
    every: list[BatchResult] = await job.results()
    print(len(every))


async def main() -> None:
    async with SteerClient() as client:
        async for chunk in client.stream("Tell me a story", model="gpt-4o-mini", max_tokens=50):
            text: str = chunk
            print(text, end="")

        stream: TextStream = client.stream("Again", model="claude-haiku-4-5", temperature=0.2)
        async with stream as s:
            async for chunk in s:
                print(chunk, end="")
        tokens: int = stream.response.usage["total_tokens"]
        print(tokens, stream.response.cost_usd)

        response: StreamingResponse[None] = await client.stream_with_usage(
            "Write a haiku",
            model="gpt-4o-mini",
            system="Be brief.",
            stop=["\n\n"],
            on_start=on_start,
            on_delta=on_delta,
            on_usage=on_usage,
            on_complete=on_complete,
            on_error=on_error,
            on_json=on_json,
            on_tool_call=on_tool_call,
            streaming_options=StreamingOptions(deadline=30.0, read_timeout=20.0),
            extra_body={"seed": 7},
            extra_headers={"x-trace": "1"},
        )
        usage: UsageDict = response.usage
        print(usage["prompt_tokens"], usage["source"], response.get_text())
        calls: list[ToolCall] = response.tool_calls
        print([c.parsed_arguments() for c in calls], response.to_message())

        person = await client.stream_with_usage(
            "A person as JSON", model="gpt-4o-mini", response_model=Person
        )
        if person.parsed is not None:
            name: str = person.parsed.name
            print(name, person.parsed.age)

        data = await client.stream_with_usage(
            "JSON please",
            model="gpt-4o",
            response_format={"type": "json_object"},
            streaming_options=JSON_MODE_OPTIONS,
        )
        print(data.get_json())

        once = await client.generate("One shot", model="gemini-2.5-flash", max_tokens=10)
        print(once.text, once.finish_reason)

        processor = create_event_processor(add_metrics=True, event_types=["delta", "usage"])
        processor.add_transformer(Shout())
        await client.stream_with_usage(
            "Loud", model="gpt-4o", streaming_options=StreamingOptions(event_processor=processor)
        )

        try:
            await client.stream_with_usage("x", model="gpt-4o", api="responses")
        except ProviderError as exc:
            print(exc.status_code, exc.is_retryable, exc.retry_after, exc.headers)
            if exc.partial is not None:
                print(exc.partial.text, exc.partial.usage["total_tokens"])
        except CallbackError as exc:
            print(exc.callback, exc.__cause__)
        except SteerError as exc:
            print(exc.partial)

        await run_batches(client)

    alias: type[SteerClient] = SteerLLMClient
    print(alias)


trio.run(main)
