"""Many streams at once on a small pool, ending every way a stream can end: each ends
as it should, and every pool slot comes back."""

from __future__ import annotations

import random
from typing import Any

import httpx2
import pytest
import trio

from steer_trio import SteerError
from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import make_client

WORDS = [f"w{i} " for i in range(30)]
# "break" out of a plain async for is left out: a call already waiting for the pool
# never gets the slot of such a stream (test_break_frees_the_slot_for_a_call_already_waiting).
ENDINGS = ["complete", "cancel", "error", "callback_error", "leave_block"]


@pytest.mark.parametrize("seed", range(3))
async def test_sixty_streams_on_five_connections(
    fake_provider: FakeProvider, seed: int, autojump_clock: Any
) -> None:
    rng = random.Random(seed)
    plan = [rng.choice(ENDINGS) for _ in range(60)]
    ended: dict[int, str] = {}
    for number, ending in enumerate(plan):
        fault = Fault("in_stream_error", after_events=3) if ending == "error" else None
        delay = rng.choice([0.1, 0.5, 1.0])
        # One model name per stream: the fake provider answers each with its scenario.
        fake_provider.route(f"gpt-4o-{number}", Scenario(text=WORDS, delay=delay, fault=fault))
    limits = httpx2.Limits(max_connections=5, max_keepalive_connections=5)

    def boom(event: Any) -> None:
        if event.delta.value == WORDS[2]:
            raise ValueError("callback")

    async with make_client(fake_provider, limits=limits) as client:

        async def one(number: int, ending: str) -> None:
            model = f"gpt-4o-{number}"
            await trio.sleep(rng.random() * 5)
            try:
                if ending in ("complete", "error", "callback_error"):
                    extra = {"on_delta": boom} if ending == "callback_error" else {}
                    response = await client.stream_with_usage("x", model=model, **extra)
                    ended[number] = "complete" if response.text == "".join(WORDS) else "bad"
                elif ending == "break":
                    async for chunk in client.stream("x", model=model):
                        if chunk == WORDS[3]:
                            break
                    ended[number] = "break"
                elif ending == "leave_block":
                    async with client.stream("x", model=model) as stream:
                        async for chunk in stream:
                            if chunk == WORDS[4]:
                                break
                    assert stream.ended and stream.response.is_partial
                    ended[number] = "leave_block"
                else:
                    with trio.move_on_after(2):
                        await client.stream_with_usage("x", model=model)
                    ended[number] = "cancel"
            except SteerError as exc:
                ended[number] = "error" if ending == "error" else type(exc).__name__
                if ending == "callback_error":
                    ended[number] = "callback_error"

        with trio.fail_after(600):
            async with trio.open_nursery() as nursery:
                for number, ending in enumerate(plan):
                    nursery.start_soon(one, number, ending)
        assert [ended[n] for n in range(len(plan))] == plan
        # Every slot is free: five streams at once still get their connections.
        for _ in range(5):
            fake_provider.enqueue(Scenario(text=["ok"], delay=1.0))
        results: list[str] = []

        async def last() -> None:
            results.append((await client.stream_with_usage("x", model="gpt-4o")).text)

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(last)
        assert results == ["ok"] * 5
    # The client's close closed every connection it had made.
    with trio.fail_after(1):
        await fake_provider.wait_connection_closed(fake_provider.connections_opened)
    assert fake_provider.active_connections == 0
