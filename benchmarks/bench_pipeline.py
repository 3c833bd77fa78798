"""Usage counting, the event processor, cancellation and backpressure, measured.

    python benchmarks/bench_pipeline.py [--quick] [--rounds 7]

Ratios are against baselines measured in the same run (shared, noisy machines):
* stream_with_usage() with the provider's usage, and with local tiktoken counting (a
  server that sends no usage), against raw httpx2 + aiter_lines + json.loads;
* the event processor with correlation, timestamps and metrics, against the plain
  stream_with_usage();
* time from a cancellation to the server seeing the connection closed;
* a slow callback with a fast server: how far reading runs ahead, and peak memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import Clients, run_path

from steer_trio import SteerClient, StreamingOptions, create_event_processor
from steer_trio.testing import Scenario, open_fake_provider


async def cpu_per_event(fn: Any, n: int) -> float:
    start = time.process_time()
    got = await fn()
    assert got == n, got
    return (time.process_time() - start) / n * 1e6


async def throughput(base: str, rounds: int, events: int) -> dict[str, float]:
    clients = Clients(base)
    client = clients.steer
    processor = create_event_processor(add_correlation=True, add_timestamp=True, add_metrics=True)
    with_processor = StreamingOptions(event_processor=processor)
    tiktoken_options = StreamingOptions(aggregator_type="tiktoken")
    with_usage = spec_header(n=events, k=1)
    without_usage = spec_header(n=events, k=1, usage="0")

    async def usage_plain() -> int:
        r = await client.stream_with_usage(
            "go", model="gpt-4", provider="openai", extra_headers=with_usage
        )
        assert not r.usage["is_estimated"]
        return len(r.choices[0].text.split())

    async def usage_processor() -> int:
        r = await client.stream_with_usage(
            "go",
            model="gpt-4",
            provider="openai",
            streaming_options=with_processor,
            extra_headers=with_usage,
        )
        assert r.correlation_id and "inter_chunk_gap_p95_ms" in r.metrics
        return len(r.choices[0].text.split())

    async def usage_tiktoken() -> int:
        # A server that sends no usage: counted locally with cl100k.
        r = await client.stream_with_usage(
            "go",
            model="gpt-4",
            provider="openai",
            streaming_options=tiktoken_options,
            extra_headers=without_usage,
        )
        assert r.usage["source"] == "tiktoken", r.usage
        return len(r.get_text().split())

    results: dict[str, list[float]] = {"raw": [], "plain": [], "processor": [], "tiktoken": []}
    cases = {
        "raw": lambda: run_path(clients, "raw", with_usage),
        "plain": usage_plain,
        "processor": usage_processor,
        "tiktoken": usage_tiktoken,
    }
    try:
        for fn in cases.values():
            await fn()
        for _ in range(rounds):
            for key, fn in cases.items():
                results[key].append(await cpu_per_event(fn, events))
    finally:
        await clients.aclose()
    # Each case against the right reference of the same round (drift cancels out).
    reference = {"plain": "raw", "tiktoken": "raw", "processor": "plain"}
    summary = {k: statistics.median(v) for k, v in results.items()}
    for key, ref in reference.items():
        ratios = [v / r for v, r in zip(results[key], results[ref], strict=True)]
        summary[f"{key}_ratio"] = statistics.median(ratios)
        summary[f"{key}_low"], summary[f"{key}_high"] = min(ratios), max(ratios)
    return summary


async def cancel_to_close(trials: int) -> list[float]:
    """Real clock: cancel a stream mid-flight; when does the server see the close?"""
    gaps = []
    async with open_fake_provider() as server:
        client = SteerClient(api_keys={"openai": "k"}, base_urls={"openai": server.openai_base_url})
        async with client:
            for _ in range(trials):
                server.enqueue(Scenario(text=["w "] * 10_000, delay=0.001))
                closed_before = len(server.closed_events)
                with trio.move_on_after(0.05):
                    await client.stream_with_usage("go", model="gpt-4o")
                cancelled = trio.current_time()
                await server.wait_connection_closed(closed_before + 1)
                gaps.append((server.closed_events[closed_before] - cancelled) * 1e3)
    return gaps


async def slow_callback(deltas: int, delay: float) -> dict[str, float]:
    from steer_trio._transport import Exchange

    reads = 0
    processed = 0
    lag = 0
    original = Exchange.read_batch

    async def counting(self: Exchange) -> Any:
        nonlocal reads
        reads += 1
        return await original(self)

    async def slow(event: Any) -> None:
        nonlocal processed, lag
        processed += 1
        lag = max(lag, reads - processed)
        await trio.sleep(delay)

    piece = "x" * 1000
    Exchange.read_batch = counting  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        async with open_fake_provider() as server:
            server.enqueue(Scenario(text=[piece] * deltas))
            client = SteerClient(
                api_keys={"openai": "k"}, base_urls={"openai": server.openai_base_url}
            )
            async with client:
                await client.stream_with_usage("go", model="gpt-4o", on_delta=slow)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        Exchange.read_batch = original  # type: ignore[method-assign]
    return {
        "lag": lag,
        "peak_mb": peak / 1e6,
        "stream_mb": deltas * len(piece) / 1e6,
        "deltas": deltas,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--events", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    events = args.events or (4000 if args.quick else 20_000)
    with running_server() as base:
        t = trio.run(throughput, base, rounds, events)
    raw = t["raw"]
    print(
        f"Client CPU per event, {events} deltas, {rounds} interleaved rounds: median"
        " us/event, and the median (min-max) of each round's ratio within that round"
    )
    print(f"  raw httpx2 + aiter_lines + json.loads        {raw:7.2f} us  1.00x")

    def ratio(key: str) -> str:
        return f"{t[key + '_ratio']:.2f}x ({t[key + '_low']:.2f}-{t[key + '_high']:.2f})"

    for key, label in (("plain", "provider usage"), ("tiktoken", "local tiktoken count")):
        print(f"  stream_with_usage(), {label:<24}{t[key]:7.2f} us  {ratio(key)} of raw")
    print(
        f"  + processor (correlation, timestamps, metrics) {t['processor']:5.2f} us  "
        f"{ratio('processor')} of the plain stream_with_usage()"
    )
    gaps = trio.run(cancel_to_close, 5 if args.quick else 20)
    print(
        f"Cancel -> server sees the connection closed, {len(gaps)} trials: "
        f"median {statistics.median(gaps):.2f} ms, max {max(gaps):.2f} ms"
    )
    s = trio.run(slow_callback, 1000 if args.quick else 3000, 0.0005)
    print(
        f"Slow callback (0.5 ms per delta), fast server, {s['deltas']:.0f} x 1 KB deltas "
        f"({s['stream_mb']:.1f} MB): network reads ran at most {s['lag']:.0f} ahead of the "
        f"callback; peak traced memory {s['peak_mb']:.1f} MB (the response keeps the text: "
        f"{s['stream_mb']:.1f} MB of it)"
    )


if __name__ == "__main__":
    main()
