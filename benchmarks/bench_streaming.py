"""Per-event cost of every way of streaming, against raw httpx2 on the same stream.

    python benchmarks/bench_streaming.py [--quick] [--rounds 7] [--events 20000]

The benchmark server (its own process) writes the whole answer at once, one event per
HTTP chunk (as providers send) and then twenty events per chunk. Each round runs
every path once, in a rotated order; each path's client CPU time per event is divided
by that of the raw consumer of the same wire format *in the same round*, and the
median and spread of those ratios are printed. The machines this runs on are shared
and noisy: the ratios mean more than the microseconds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import ALL_PATHS, LABELS, Clients, baseline_of, run_path

TARGET_PER_EVENT = 1.10
TARGET_BULK = 1.00


async def measure(
    base: str, paths: tuple[str, ...], events: int, per_chunk: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    clients = Clients(base, sdks=True)
    headers = spec_header(n=events, k=per_chunk)
    cpu: dict[str, list[float]] = {p: [] for p in paths}
    wall: dict[str, list[float]] = {p: [] for p in paths}
    try:
        for path in paths:  # warm-up: connections, imports, caches, the server's render
            await run_path(clients, path, headers)
        for round_no in range(rounds):
            shift = round_no % len(paths)
            for path in paths[shift:] + paths[:shift]:  # interleaved, order rotated
                gc.collect()
                w, c = time.perf_counter(), time.process_time()
                n = await run_path(clients, path, headers)
                c, w = time.process_time() - c, time.perf_counter() - w
                assert n == events, (path, n)
                cpu[path].append(c / n * 1e6)
                wall[path].append(w / n * 1e6)
    finally:
        await clients.aclose()
    return {"cpu": cpu, "wall": wall}


def ratios(series: dict[str, list[float]], path: str) -> list[float]:
    base = series[baseline_of(path)]
    return [v / b for v, b in zip(series[path], base, strict=True)]


def summarize(
    result: dict[str, dict[str, list[float]]], paths: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        cpu_r = ratios(result["cpu"], path)
        wall_r = ratios(result["wall"], path)
        rows.append(
            {
                "path": path,
                "us": statistics.median(result["cpu"][path]),
                "ratio": statistics.median(cpu_r),
                "low": min(cpu_r),
                "high": max(cpu_r),
                "wall": statistics.median(wall_r),
            }
        )
    return rows


def print_rows(rows: list[dict[str, Any]], target: float) -> None:
    print(f"  {'path':<52} {'us/ev':>7} {'CPU vs raw':>10} {'spread':>11} {'wall':>6}  target")
    for row in rows:
        is_raw = row["path"].startswith("raw")
        tgt = "" if is_raw or row["path"].endswith("_sdk") else f"<= {target:.2f}x"
        print(
            f"  {LABELS[row['path']]:<52} {row['us']:7.2f} {row['ratio']:9.2f}x "
            f"({row['low']:.2f}-{row['high']:.2f}) {row['wall']:5.2f}x  {tgt}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run (fewer events, rounds)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--paths", help="comma-separated subset of: " + ",".join(ALL_PATHS))
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    events = args.events or (4000 if args.quick else 20_000)
    paths = tuple(args.paths.split(",")) if args.paths else ALL_PATHS
    needed = {baseline_of(p) for p in paths}
    paths = tuple(p for p in ALL_PATHS if p in set(paths) | needed)

    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}")
        print(
            f"{events} deltas per stream, {rounds} interleaved rounds. Client CPU per event"
            " (median), and the median (min-max) of each round's ratio to the raw consumer of"
            " the same wire format in that round; wall: the same ratio on wall time.\n"
        )
        for per_chunk, target in ((1, TARGET_PER_EVENT), (20, TARGET_BULK)):
            result = trio.run(measure, base, paths, events, per_chunk, rounds)
            print(f"{per_chunk} event(s) per HTTP chunk")
            print_rows(summarize(result, paths), target)
            print()


if __name__ == "__main__":
    main()
