"""Mistakes a type checker must catch before anything runs. Each line marked ``# E``
must be reported by ``mypy --strict``, and no other line."""

from __future__ import annotations

from steer_trio import SteerClient, StreamDeltaEvent, StreamErrorEvent


def on_delta(event: StreamDeltaEvent) -> None:
    print(event.delta.value)


def on_error(event: StreamErrorEvent) -> None:
    print(event.error)


async def main(client: SteerClient) -> None:
    await client.stream_with_usage("x", model="gpt-4o", on_error=on_delta)  # E: arg-type
    await client.stream_with_usage("x", model="gpt-4o", on_delta=on_error)  # E: arg-type
    await client.stream_with_usage("x", model="gpt-4o", max_token=5)  # E: call-arg
    await client.stream_with_usage("x", model="gpt-4o", streaming_option=None)  # E: call-arg
    await client.generate("x", model="gpt-4o", on_delta=on_delta)  # E: call-arg
    client.stream("x", model=4)  # E: arg-type
    await client.stream_with_usage("x", model="gpt-4o", temperature="hot")  # E: arg-type
    response = await client.stream_with_usage("x", model="gpt-4o")
    label: str = response.usage["total_tokens"]  # E: assignment
    print(label, response.parsed.name)  # E: attr-defined
    stream = client.stream("x", model="gpt-4o")
    print(stream.response.usage["no_such_key"])  # E: typeddict-item
    client.batch(["x"], model="gpt-4o", max_concurency=4)  # E: call-arg
    await client.submit_batch(["x"], model="gpt-4o", poll_interval="soon")  # E: arg-type
