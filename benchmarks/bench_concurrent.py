"""Many concurrent paced streams, and many cancels at once, per path against raw.

    python benchmarks/bench_concurrent.py [--quick] [--streams 1000] [--rounds 3]

* Wall time and peak RSS of 1,000 concurrent streams whose events arrive 2-5 ms apart
  (one event per HTTP chunk), each path in a fresh process, paths interleaved over
  rounds; ratios against raw httpx2 on the same wire format in the same round. At
  this rate (about 285,000 events a second in all) no Python client keeps up: the
  wall time measures how fast a client drains many slow sockets at once.
* Cancel to close: 200 streams are running (events 100-200 ms apart, a rate the client
  keeps up with); all are cancelled at once; the
  server (its own process) notes when it sees each connection closed. Per path, the
  time from the cancel until the server has seen the last of the 200 closes, and the
  median, against raw's in the same round.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import LABELS, Clients, baseline_of, run_path

CONCURRENT_PATHS = (
    "raw",
    "for",
    "with",
    "swu",
    "swu_delta",
    "swu_bg",
    "raw_responses",
    "responses",
    "raw_gemini",
    "gemini",
    "for+per-chunk",
)
CANCEL_PATHS = ("raw", "for", "with", "swu", "swu_delta", "swu_bg", "responses", "gemini")
TARGET = 1.10
CANCEL_TARGET = 1.20
CANCEL_PACE = (100, 200)


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


# -- concurrent paced streams (one child process per path and round) --------------------


def _use_per_chunk_body() -> None:
    """The body read one h11 chunk per call, as before the bulk reader, for comparison."""
    from _fastbody import use_reader

    use_reader("per-chunk")


def child_concurrent(base: str, path: str, streams: int, events: int) -> None:
    if path.endswith("+per-chunk"):
        _use_per_chunk_body()
        path = path.removesuffix("+per-chunk")

    async def main() -> dict[str, Any]:
        clients = Clients(base, connections=max(streams, 100))
        warm = spec_header(n=20, k=1)
        await run_path(clients, path, warm)
        before = _rss_kb()
        headers = spec_header(n=events, k=1, pace=(2, 5))
        counts: list[int] = []

        async def one() -> None:
            counts.append(await run_path(clients, path, headers))

        start = time.perf_counter()
        cpu = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(streams):
                nursery.start_soon(one)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        assert counts == [events] * streams, (path, set(counts))
        await clients.aclose()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"wall": wall, "cpu": cpu, "peak_rss_kb": peak, "rss_before_kb": before}

    print(json.dumps(trio.run(main)))


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def concurrent(base: str, streams: int, events: int, rounds: int) -> None:
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in CONCURRENT_PATHS}
    for round_no in range(rounds):
        shift = round_no % len(CONCURRENT_PATHS)
        for path in CONCURRENT_PATHS[shift:] + CONCURRENT_PATHS[:shift]:
            runs[path].append(run_child("concurrent", base, path, str(streams), str(events)))
    ideal = events * 3.5e-3
    print(
        f"{streams} concurrent streams x {events} events 2-5 ms apart (ideal wall "
        f"{ideal:.2f} s), fresh process per path, {rounds} interleaved rounds: median (min-max)"
        " of each round's ratio to raw on the same wire format"
    )
    print(
        f"  {'path':<52} {'wall s':>7} {'wall vs raw':>11} {'spread':>11} {'CPU vs raw':>10}"
        f" {'peak RSS':>9} {'vs raw':>6}  target"
    )
    for path in CONCURRENT_PATHS:
        base_runs = runs[baseline_of(path.removesuffix("+per-chunk"))]
        wall_r = [r["wall"] / b["wall"] for r, b in zip(runs[path], base_runs, strict=True)]
        cpu_r = [r["cpu"] / b["cpu"] for r, b in zip(runs[path], base_runs, strict=True)]
        rss_r = [
            r["peak_rss_kb"] / b["peak_rss_kb"] for r, b in zip(runs[path], base_runs, strict=True)
        ]
        wall = statistics.median(r["wall"] for r in runs[path])
        rss = statistics.median(r["peak_rss_kb"] for r in runs[path]) / 1024
        tgt = "" if path.startswith("raw") or "+" in path else f"<= {TARGET:.2f}x"
        label = LABELS.get(path) or (
            LABELS[path.removesuffix("+per-chunk")] + " [h11 body, a chunk per call]"
        )
        print(
            f"  {label:<52} {wall:7.2f} {statistics.median(wall_r):10.2f}x "
            f"({min(wall_r):.2f}-{max(wall_r):.2f}) {statistics.median(cpu_r):9.2f}x "
            f"{rss:6.0f} MB {statistics.median(rss_r):5.2f}x  {tgt}"
        )
    print()


# -- cancel to close -----------------------------------------------------------------------


async def closes_seen(base: str, tag: str, expected: int, within: float = 10.0) -> list[float]:
    async with httpx2.AsyncClient(timeout=None) as http:
        deadline = time.monotonic() + within
        while True:
            got = (await http.get(f"{base}/bench/closed", params={"tag": tag})).json()
            if len(got) >= expected or time.monotonic() > deadline:
                return sorted(got)
            await trio.sleep(0.05)


async def cancel_trial(base: str, path: str, streams: int, tag: str) -> dict[str, float]:
    clients = Clients(base, connections=max(streams, 100))
    await run_path(clients, path, spec_header(n=5, k=1))  # warm: imports, price table, pool
    await clients.aclose()
    clients = Clients(base, connections=max(streams, 100))
    # Paced so that the client keeps up (about 1,300 events a second in all): the
    # figure is then the cost of cancelling, not of draining a backlog first.
    headers = spec_header(n=100_000, k=1, pace=CANCEL_PACE, tag=tag)
    started = 0
    all_started = trio.Event()

    def ready() -> None:
        nonlocal started
        started += 1
        if started == streams:
            all_started.set()

    cancelled_at = 0.0
    async with trio.open_nursery() as nursery:
        for _ in range(streams):
            nursery.start_soon(run_path, clients, path, headers, ready)
        with trio.fail_after(60):
            await all_started.wait()
        await trio.sleep(0.2)  # every stream is now reading paced events
        cancelled_at = time.monotonic()
        nursery.cancel_scope.cancel()
    released_at = time.monotonic()
    closes = await closes_seen(base, tag, streams)
    await clients.aclose()
    assert len(closes) >= streams, (path, len(closes))
    gaps = [(c - cancelled_at) * 1e3 for c in closes[:streams]]
    return {
        "last_ms": max(gaps),
        "median_ms": statistics.median(gaps),
        "released_ms": (released_at - cancelled_at) * 1e3,
    }


def cancels(base: str, streams: int, trials: int) -> None:
    async def main() -> dict[str, list[dict[str, float]]]:
        results: dict[str, list[dict[str, float]]] = {p: [] for p in CANCEL_PATHS}
        for trial in range(trials):
            shift = trial % len(CANCEL_PATHS)
            for path in CANCEL_PATHS[shift:] + CANCEL_PATHS[:shift]:
                tag = f"cancel-{path}-{trial}-{time.monotonic_ns()}"
                results[path].append(await cancel_trial(base, path, streams, tag))
        return results

    results = trio.run(main)
    print(
        f"Cancel {streams} running streams at once: until the server saw the last close /"
        f" the median close, and until the cancelled nursery returned (ms); {trials} trials,"
        " ratios per trial against raw's"
    )
    print(
        f"  {'path':<52} {'last ms':>8} {'vs raw':>7} {'spread':>11} {'median ms':>9}"
        f" {'vs raw':>7} {'released':>8}  target"
    )
    for path in CANCEL_PATHS:
        rows = results[path]
        base_rows = results["raw"]
        last_r = [r["last_ms"] / b["last_ms"] for r, b in zip(rows, base_rows, strict=True)]
        med_r = [r["median_ms"] / b["median_ms"] for r, b in zip(rows, base_rows, strict=True)]
        tgt = "" if path == "raw" else f"<= {CANCEL_TARGET:.2f}x"
        print(
            f"  {LABELS[path]:<52} {statistics.median(r['last_ms'] for r in rows):8.1f} "
            f"{statistics.median(last_r):6.2f}x ({min(last_r):.2f}-{max(last_r):.2f}) "
            f"{statistics.median(r['median_ms'] for r in rows):9.1f} "
            f"{statistics.median(med_r):6.2f}x "
            f"{statistics.median(r['released_ms'] for r in rows):8.1f}  {tgt}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--streams", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--cancel-streams", type=int, default=200)
    parser.add_argument("--cancel-trials", type=int)
    parser.add_argument("--only", choices=("concurrent", "cancel"))
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, base, path, streams, events = args.child
        assert kind == "concurrent"
        child_concurrent(base, path, int(streams), int(events))
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    streams = args.streams or (200 if args.quick else 1000)
    events = args.events or (50 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 3)
    trials = args.cancel_trials or (2 if args.quick else 5)
    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}\n")
        if args.only in (None, "concurrent"):
            concurrent(base, streams, events, rounds)
        if args.only in (None, "cancel"):
            cancels(base, args.cancel_streams, trials)


if __name__ == "__main__":
    main()
