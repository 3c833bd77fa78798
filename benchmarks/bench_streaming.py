"""Streaming benchmarks against the fake provider (in its own process).

Every figure is printed next to a baseline measured in the same run, as a ratio:
these machines are shared and noisy, so absolute times mean little.

    python benchmarks/bench_streaming.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import trio

HERE = Path(__file__).resolve().parent
N_EVENTS = 20_000


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_bench_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"benchmark server did not start: {line!r}")
    return proc, match.group(0)


# -- consumers ------------------------------------------------------------------------


async def baseline_raw(http: httpx2.AsyncClient, base: str, model: str) -> int:
    """(a) raw httpx2 + aiter_lines + json.loads: the floor any SDK adds to."""
    count = 0
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            payload = json.loads(data)
            choices = payload.get("choices")
            if choices and choices[0]["delta"].get("content"):
                count += 1
    return count


def make_steer(base: str) -> Any:
    from steer_trio import SteerClient

    return SteerClient(api_keys={"openai": "sk-bench"}, base_urls={"openai": f"{base}/v1"})


async def steer_stream(client: Any, model: str) -> int:
    """(b) steer_trio stream(): plain async for."""
    count = 0
    async for _chunk in client.stream("go", model=model, provider="openai"):
        count += 1
    return count


async def steer_with_usage(client: Any, model: str) -> int:
    """(c) stream_with_usage() with an on_delta callback."""
    seen = [0]

    def on_delta(event: Any) -> None:
        seen[0] += 1

    response = await client.stream_with_usage(
        "go", model=model, provider="openai", on_delta=on_delta
    )
    assert response.usage is not None
    return seen[0]


def make_openai(base: str) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key="sk-bench", base_url=f"{base}/v1", max_retries=0)


async def openai_sdk(client: Any, model: str) -> int:
    """(d) the official openai SDK under trio."""
    count = 0
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    return count


# -- measurements ---------------------------------------------------------------------


async def timed(fn: Callable[[], Awaitable[int]]) -> tuple[float, float, int]:
    """Wall time and this process's CPU time (the server runs in another process, so
    CPU time is the client's own cost even when the server is the slower side)."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = await fn()
    return time.perf_counter() - wall, time.process_time() - cpu, n


async def per_event(base: str, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[float]] = {k: [] for k in "abcd"}
    walls: dict[str, list[float]] = {k: [] for k in "abcd"}
    async with httpx2.AsyncClient(timeout=None) as http:
        steer = make_steer(base)
        oai = make_openai(base)
        cases: dict[str, Callable[[], Awaitable[int]]] = {
            "a": lambda: baseline_raw(http, base, "bench-20k"),
            "b": lambda: steer_stream(steer, "bench-20k"),
            "c": lambda: steer_with_usage(steer, "bench-20k"),
            "d": lambda: openai_sdk(oai, "bench-20k"),
        }
        for fn in cases.values():  # warm-up: connections, imports, caches
            await fn()
        for _ in range(rounds):
            for key, fn in cases.items():  # interleaved, so drift hits all alike
                wall, cpu, n = await timed(fn)
                assert n == N_EVENTS, (key, n)
                results[key].append(cpu / n * 1e6)
                walls[key].append(wall / n * 1e6)
        await steer.aclose()
        await oai.close()
    # Each round's ratio to the baseline of the same round: drift between rounds
    # (a shared, noisy machine) cancels out of these.
    ratios = {
        k: [v / b for v, b in zip(vs, results["a"], strict=True)] for k, vs in results.items()
    }
    return {
        "cpu": {k: statistics.median(v) for k, v in results.items()},
        "wall": {k: statistics.median(v) for k, v in walls.items()},
        "ratio": {k: statistics.median(r) for k, r in ratios.items()},
        "spread": {k: (min(r), max(r)) for k, r in ratios.items()},
    }


async def concurrent_wall(base: str, which: str, streams: int) -> float:
    start = time.perf_counter()
    if which == "a":
        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
        async with (
            httpx2.AsyncClient(timeout=None, limits=limits) as http,
            trio.open_nursery() as n,
        ):
            for _ in range(streams):
                n.start_soon(baseline_raw, http, base, "bench-500")
    else:
        client = make_steer(base)
        async with client, trio.open_nursery() as n:
            for _ in range(streams):
                n.start_soon(steer_stream, client, "bench-500")
    return time.perf_counter() - start


def run_child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_concurrent(base: str, which: str, streams: int) -> None:
    import resource
    import tracemalloc

    wall = trio.run(concurrent_wall, base, which, streams)
    tracemalloc.start()
    trio.run(concurrent_wall, base, which, streams)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "peak_alloc": peak, "max_rss_kb": rss}))


def child_ttft(base: str, which: str, warm_runs: int) -> None:
    """Time from the call to the first delta in hand; and, apart, to the end of the
    block that released the connection (teardown included)."""

    async def measure(fn: Callable[[], Awaitable[float]]) -> tuple[float, float]:
        start = time.perf_counter()
        first = await fn()
        return first - start, time.perf_counter() - start

    async def main() -> dict[str, float]:
        holder: dict[str, Any] = {}
        body = {"model": "bench-ttft", "messages": [{"role": "user", "content": "go"}]}

        async def raw() -> float:
            url = f"{base}/v1/chat/completions"
            async with holder["http"].stream("POST", url, json={**body, "stream": True}) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and "content" in line:
                        return time.perf_counter()
            raise AssertionError("no delta")

        async def steer_with() -> float:
            client = holder["client"]
            async with client.stream("go", model="bench-ttft", provider="openai") as chunks:
                async for _ in chunks:
                    return time.perf_counter()
            raise AssertionError("no delta")

        async def steer_for() -> float:
            async for _ in holder["client"].stream("go", model="bench-ttft", provider="openai"):
                return time.perf_counter()
            raise AssertionError("no delta")

        one = {"a": raw, "b": steer_with, "b2": steer_for}[which]
        # Cold: the first request on a new pool (a new TCP connection), for both sides;
        # building the pools (the TLS context) is done before the clock starts.
        if which == "a":
            holder["http"] = httpx2.AsyncClient(timeout=None)
        else:
            holder["client"] = await make_steer(base).__aenter__()
        cold, _ = await measure(one)
        warm = [await measure(one) for _ in range(warm_runs)]
        return {
            "cold": cold,
            "warm": statistics.median(w[0] for w in warm),
            "warm_total": statistics.median(w[1] for w in warm),
        }

    print(json.dumps(trio.run(main)))


def import_time(stmt: str, runs: int = 7) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, base, which, n = args.child
        if kind == "concurrent":
            child_concurrent(base, which, int(n))
        else:
            child_ttft(base, which, int(n))
        return

    proc, base = start_server()
    try:
        print(f"fake provider at {base} (own process); python {sys.version.split()[0]}\n")
        measured = trio.run(per_event, base, args.rounds)
        per, wall = measured["cpu"], measured["wall"]
        ratio, spread = measured["ratio"], measured["spread"]
        print(
            f"Per-event client CPU cost, {N_EVENTS} deltas, {args.rounds} interleaved rounds:"
            " median us/event, and the median (min-max) of each round's ratio to that"
            " round's baseline"
        )
        labels = {
            "a": "(a) raw httpx2 + aiter_lines + json.loads",
            "b": "(b) steer_trio stream()",
            "c": "(c) steer_trio stream_with_usage() + on_delta",
            "d": "(d) official openai SDK under trio",
        }
        for key, label in labels.items():
            low, high = spread[key]
            print(
                f"  {label:<48} {per[key]:7.2f} us/event  {ratio[key]:5.2f}x baseline"
                f" ({low:.2f}-{high:.2f})  [wall {wall[key]:6.2f} us]"
            )
        print(
            f"  (d)/(b) = {ratio['d'] / ratio['b']:.2f}x   "
            f"(d)/(c) = {ratio['d'] / ratio['c']:.2f}x\n"
        )

        print(f"{args.streams} concurrent streams x 500 deltas, 2 ms apart (separate processes)")
        conc = {w: run_child(["--child", "concurrent", base, w, str(args.streams)]) for w in "ab"}
        for w, label in (("a", "raw httpx2"), ("b", "steer_trio stream()")):
            c = conc[w]
            print(
                f"  {label:<22} wall {c['wall']:.3f}s ({c['wall'] / conc['a']['wall']:.2f}x)  "
                f"peak alloc {c['peak_alloc'] / 1e6:.1f} MB "
                f"({c['peak_alloc'] / conc['a']['peak_alloc']:.2f}x)  "
                f"max RSS {c['max_rss_kb'] / 1024:.0f} MB"
            )
        print()
        print("Time to first delta (fresh processes; cold = first request incl. connect)")
        # Alternate fresh processes (a, b, b2, a, ...) so drift on a shared machine hits
        # every side alike; report the median of each side's per-process medians.
        sides = {
            "a": "raw httpx2",
            "b": "steer_trio async with stream()",
            "b2": "steer_trio async for stream()",
        }
        runs: dict[str, list[dict[str, float]]] = {w: [] for w in sides}
        for _ in range(3):
            for w in sides:
                runs[w].append(run_child(["--child", "ttft", base, w, "200"]))
        keys = ("cold", "warm", "warm_total")
        tt = {w: {k: statistics.median(r[k] for r in runs[w]) for k in keys} for w in sides}
        for w, label in sides.items():
            t = tt[w]
            diff = "" if w == "a" else f"  ({(t['warm'] - tt['a']['warm']) * 1e3:+.3f} ms)"
            print(
                f"  {label:<31} cold {t['cold'] * 1e3:6.2f} ms   warm {t['warm'] * 1e3:6.3f} ms"
                f"{diff}   call to released {t['warm_total'] * 1e3:6.3f} ms"
            )
        print()

        deps = import_time("import trio, httpx2, attrs")
        ours = import_time("import steer_trio")
        print(
            f"import: trio+httpx2+attrs {deps * 1e3:.1f} ms, steer_trio {ours * 1e3:.1f} ms "
            f"({ours / deps:.2f}x)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
