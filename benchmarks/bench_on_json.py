"""A 1 MB JSON answer in 8-byte deltas with an ``on_json`` callback: linear, and the
event loop never held long.

    python benchmarks/bench_on_json.py [--quick] [--rounds 3] [--size 1000000]

The same bytes three ways, interleaved rounds, client CPU time:

* ``text``: ``stream_with_usage()`` in text mode (the floor for these bytes);
* ``on_json``: JSON mode with an ``on_json`` callback that reads each partial value
  (``event.partial``), so every delta is parsed incrementally and every partial built;
* ``json.loads`` of the text so far after every delta would be quadratic: at this size
  it is not run (its cost per KB grows with the size; bench_jsonstream.py shows it).

Printed: CPU seconds, the ratio to text mode per round, the number of ``on_json``
calls, and the longest single task step (CPU) during the ``on_json`` run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import Clients


class LongestStep(trio.abc.Instrument):
    """The longest CPU time of one task step (this thread's time)."""

    def __init__(self) -> None:
        self.started: dict[Any, float] = {}
        self.longest = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.started[task] = time.thread_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        began = self.started.pop(task, None)
        if began is not None:
            self.longest = max(self.longest, time.thread_time() - began)


async def one(clients: Clients, headers: dict[str, str], mode: str) -> tuple[float, int, int]:
    calls = 0

    def on_json(event: Any) -> None:
        nonlocal calls
        calls += 1
        event.partial  # noqa: B018 - the partial value is what a caller reads

    kwargs: dict[str, Any] = {}
    if mode == "on_json":
        kwargs = {"response_format": {"type": "json_object"}, "on_json": on_json}
    start = time.process_time()
    response = await clients.steer.stream_with_usage(
        "go", model="gpt-4o", extra_headers=headers, **kwargs
    )
    took = time.process_time() - start
    if mode == "on_json":
        assert response.json_value is not None and response.json_error is None
    return took, calls, len(response.text)


async def measure(base: str, size: int, shape: str, rounds: int) -> None:
    clients = Clients(base)
    headers = spec_header(kind="json", shape=shape, bytes=size, dsize=8)
    warm = spec_header(kind="json", shape=shape, bytes=20_000, dsize=8)
    cpu: dict[str, list[float]] = {"text": [], "on_json": []}
    steps: list[float] = []
    calls = chars = 0
    try:
        for mode in cpu:
            await one(clients, warm, mode)
        for round_no in range(rounds):
            order = ["text", "on_json"] if round_no % 2 == 0 else ["on_json", "text"]
            for mode in order:
                instrument = LongestStep()
                trio.lowlevel.add_instrument(instrument)
                try:
                    took, got_calls, chars = await one(clients, headers, mode)
                finally:
                    trio.lowlevel.remove_instrument(instrument)
                cpu[mode].append(took)
                if mode == "on_json":
                    calls = got_calls
                    steps.append(instrument.longest)
    finally:
        await clients.aclose()
    ratios = [j / t for j, t in zip(cpu["on_json"], cpu["text"], strict=True)]
    print(
        f"  {shape:<8} {chars / 1e6:.2f} MB in 8-byte deltas: text mode "
        f"{statistics.median(cpu['text']):.2f} s, on_json {statistics.median(cpu['on_json']):.2f} s"
        f" = {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) of text mode;"
        f" {calls} on_json calls; longest step {statistics.median(steps) * 1000:.1f} ms"
        f" (max {max(steps) * 1000:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--size", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    size = args.size or (200_000 if args.quick else 1_000_000)
    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}")
        print(f"JSON answer with on_json, {rounds} interleaved rounds, client CPU (medians)")
        for shape in ("records", "string"):
            trio.run(measure, base, size, shape, rounds)


if __name__ == "__main__":
    main()
