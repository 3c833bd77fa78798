"""Profile one streaming path against the benchmark server (cProfile, client side).

    python benchmarks/profile_path.py --path swu_bg [--k 20] [--events 20000] [--top 25]
    python benchmarks/profile_path.py --path for --callers read_batch

Prints the functions with the most time of their own, and per event: where the
client's time goes on that path. cProfile adds a fixed cost to every Python call,
so compare the shares, not the absolute times (the benchmarks give those).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import ALL_PATHS, Clients, run_path


async def profile(
    base: str, path: str, events: int, per_chunk: int, pace: str | None
) -> pstats.Stats:
    clients = Clients(base, sdks=path.endswith("_sdk"))
    fields: dict[str, object] = {"n": events, "k": per_chunk}
    if pace:
        fields["pace"] = pace
    headers = spec_header(**fields)
    await run_path(clients, path, headers)  # warm
    profiler = cProfile.Profile()
    profiler.enable()
    got = await run_path(clients, path, headers)
    profiler.disable()
    assert got == events, got
    await clients.aclose()
    return pstats.Stats(profiler, stream=io.StringIO())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", choices=ALL_PATHS, required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=1, help="events per HTTP chunk")
    parser.add_argument("--pace", help="ms between chunks, e.g. 2:5 (default: none)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--callers", help="also print the callers of functions matching this")
    args = parser.parse_args()
    with running_server() as base:
        stats = trio.run(profile, base, args.path, args.events, args.k, args.pace)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(
        f"{args.path}, {args.events} events, {args.k} per chunk: {total:.2f} s profiled, "
        f"{total / args.events * 1e6:.1f} us/event under cProfile"
    )
    rows = []
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in entries:
        short = filename.split("site-packages/")[-1].split("/wt/bench/")[-1]
        rows.append((tt, ct, nc, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    print(f"  {'own us/ev':>9} {'cum us/ev':>9} {'calls/ev':>8}  function")
    for tt, ct, nc, where in rows[: args.top]:
        print(
            f"  {tt / args.events * 1e6:9.2f} {ct / args.events * 1e6:9.2f} "
            f"{nc / args.events:8.3f}  {where}"
        )
    if args.callers:
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_callers(args.callers)
        print(out.getvalue())


if __name__ == "__main__":
    main()
