"""The longest time the event loop is held by one task step while a 1 MB answer streams
with local token counting (the provider sends no usage), completed and cancelled.

    python benchmarks/bench_loop_blocking.py

A ``trio.abc.Instrument`` times every task step. Printed per case: the longest step,
the steps over 5 ms, and, as the baseline from the same run, the longest step of the
same stream with usage aggregation off (nothing counted). Counting should add no long
step: a long text is encoded in a worker thread, never on the loop.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from steer_trio import SteerClient, StreamingOptions
from steer_trio.testing import Scenario, open_fake_provider

BUDGET = 0.005  # seconds: a step longer than this delays every other task noticeably
ANSWER_CHARS = 1_000_000
PIECE = 500  # characters per delta: 2,000 deltas


class StepTimer(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps: list[float] = []
        self._started: dict[Any, float] = {}

    def before_task_step(self, task: Any) -> None:
        self._started[task] = time.perf_counter()

    def after_task_step(self, task: Any) -> None:
        start = self._started.pop(task, None)
        if start is not None:
            self.steps.append(time.perf_counter() - start)


def answer() -> list[str]:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "streams"]
    text = " ".join(words[i % len(words)] for i in range(ANSWER_CHARS // 4))[:ANSWER_CHARS]
    return [text[i : i + PIECE] for i in range(0, len(text), PIECE)]


async def one_stream(*, aggregation: bool, cancel: bool) -> list[float]:
    timer = StepTimer()
    options = StreamingOptions(enable_usage_aggregation=aggregation, aggregator_type="tiktoken")
    async with open_fake_provider() as server:
        server.enqueue(Scenario(text=answer(), send_usage=False))
        async with SteerClient(
            api_keys={"openai": "sk-bench"}, base_urls={"openai": server.openai_base_url}
        ) as client:
            # Warm: the tokenizer and the price table are loaded before measuring.
            server.enqueue(Scenario(text=["warm"], send_usage=False))
            await client.stream_with_usage("warm", model="gpt-4", streaming_options=options)
            trio.lowlevel.add_instrument(timer)
            try:
                seen = 0

                async def on_delta(event: Any) -> None:
                    nonlocal seen
                    seen += 1

                with trio.move_on_after(60) as scope:
                    if cancel:
                        # Cancel once most of the answer is in: the estimate is kept.
                        async def cancel_late(event: Any) -> None:
                            await on_delta(event)
                            if seen == len(answer()) * 9 // 10:
                                scope.cancel()

                        await client.stream_with_usage(
                            "x", model="gpt-4", streaming_options=options, on_delta=cancel_late
                        )
                    else:
                        response = await client.stream_with_usage(
                            "x", model="gpt-4", streaming_options=options, on_delta=on_delta
                        )
                        if aggregation:
                            assert response.usage_info is not None
                            assert response.usage_info.source == "tiktoken"
            finally:
                trio.lowlevel.remove_instrument(timer)
    return timer.steps


def report(label: str, steps: list[float], baseline: float) -> None:
    longest = max(steps)
    over = sum(1 for s in steps if s > BUDGET)
    print(
        f"  {label:34} longest step {longest * 1e3:6.2f} ms ({longest / baseline:4.1f}x the "
        f"baseline)  steps > {BUDGET * 1e3:.0f} ms: {over} of {len(steps)}"
    )


def main() -> None:
    print(f"{ANSWER_CHARS // 1000} KB answer in {PIECE}-char deltas, gpt-4 (cl100k), no usage")
    rounds = 3
    results: dict[str, list[float]] = {"baseline": [], "completed": [], "cancelled": []}
    for _ in range(rounds):  # interleaved: the machine's noise hits every case alike
        results["baseline"] += [max(trio.run(_run, False, False))]
        results["completed"] += [max(trio.run(_run, True, False))]
        results["cancelled"] += [max(trio.run(_run, True, True))]
    baseline = min(results["baseline"])
    print(f"  baseline (aggregation off): longest step {baseline * 1e3:6.2f} ms (best of {rounds})")
    for label in ("completed", "cancelled"):
        steps = trio.run(_run, True, label == "cancelled")
        report(f"{label}, counted locally", steps, baseline)
        print(
            f"    longest step per round: {', '.join(f'{s * 1e3:.2f}' for s in results[label])} ms"
        )


async def _run(aggregation: bool, cancel: bool) -> list[float]:
    return await one_stream(aggregation=aggregation, cancel=cancel)


if __name__ == "__main__":
    main()
