"""Batch-job benchmarks against the fake provider (in its own process).

    python benchmarks/bench_batch.py [--requests 10000] [--concurrency 500] [--quick]

1. 10,000 requests at concurrency 500 through ``client.batch``: wall time against the
   ideal (waves of 500 one stream long), peak RSS and RSS per running item, client
   CPU per request as a ratio to the same request streamed alone, and no leaked
   connections (file descriptors) or tasks afterwards.
2. A 1,000,000-line input: the runner over a million-request generator (no network:
   a client that answers at once) and ``steer-trio batch --dry-run`` over a
   million-line file, each against a tenth as many: peak memory should not grow.
3. Worker processes: 1,000 paced streams with ``--workers 1`` and ``--workers 2``.

Each measure runs in a fresh process (peak RSS is per process). Figures are printed
with the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The paced answer: 20 words, 50 ms apart (24 events with the framing: ~1.2 s).
PACED_WORDS = 20
PACED_DELAY = 0.05


# -- the server ---------------------------------------------------------------------------


async def serve() -> None:
    from steer_trio.testing import Scenario, open_fake_provider

    async with open_fake_provider() as server:
        server.route(
            "gpt-4o-mini",
            Scenario(
                text=[f"w{i} " for i in range(PACED_WORDS)],
                delay=PACED_DELAY,
                prompt_tokens=12,
                completion_tokens=PACED_WORDS,
            ),
        )
        server.route("local/steer-story", server._routes["gpt-4o-mini"])
        print(f"listening on {server.base_url}", flush=True)
        await trio.sleep_forever()


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    match = re.search(r"http://[\d.]+:\d+", proc.stdout.readline())
    if not match:
        proc.kill()
        raise SystemExit("benchmark server did not start")
    return proc, match.group(0)


def child(*args: str) -> dict[str, Any]:
    """Run one measure in a fresh process; it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU of another process (Linux)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kb() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def client_for(base: str) -> Any:
    from steer_trio import SteerClient

    return SteerClient(api_keys={"openai": "sk-bench"}, base_urls={"openai": f"{base}/v1"})


# -- 1. 10,000 requests at concurrency 500 -------------------------------------------------


async def measure_single(base: str, count: int) -> dict[str, Any]:
    """One stream at a time: its duration and client CPU."""
    async with client_for(base) as client:
        await client.stream_with_usage("warm up", model="gpt-4o-mini")
        cpu = time.process_time()
        wall = time.perf_counter()
        for i in range(count):
            await client.stream_with_usage(f"prompt {i}", model="gpt-4o-mini")
        return {
            "stream_seconds": (time.perf_counter() - wall) / count,
            "cpu_per_request": (time.process_time() - cpu) / count,
        }


async def measure_batch(base: str, requests: int, concurrency: int) -> dict[str, Any]:
    async with client_for(base) as client:
        await client.stream_with_usage("warm up", model="gpt-4o-mini")
        fds = open_fds()
        tasks = trio.lowlevel.current_statistics().tasks_living
        before = current_rss_kb()
        cpu = time.process_time()
        wall = time.perf_counter()
        statuses: dict[str, int] = {}
        items = ({"id": str(i), "prompt": f"prompt {i}"} for i in range(requests))
        async with client.batch(items, model="gpt-4o-mini", max_concurrency=concurrency) as results:
            async for result in results:
                statuses[result.status] = statuses.get(result.status, 0) + 1
        elapsed = time.perf_counter() - wall
        cpu_used = time.process_time() - cpu
        peak = rss_kb()
        tasks_after = trio.lowlevel.current_statistics().tasks_living
    fds_after = open_fds()
    return {
        "seconds": elapsed,
        "cpu_per_request": cpu_used / requests,
        "statuses": statuses,
        "rss_before_kb": before,
        "peak_rss_kb": peak,
        "tasks_before": tasks,
        "tasks_after": tasks_after,
        "fds_before": fds,
        "fds_after_close": fds_after,
    }


# -- 2. a million requests, constant memory ---------------------------------------------------


class _InstantClient:
    """Answers every request at once: the runner alone, no network."""

    def __init__(self) -> None:
        from steer_trio import StreamingOptions

        self._options = StreamingOptions()

    async def stream_with_usage(self, prompt: Any, model: str, **kwargs: Any) -> Any:
        from steer_trio import StreamingResponse, Usage

        await trio.lowlevel.checkpoint()
        return StreamingResponse(text="ok", model=model, usage_info=Usage.build(5, 1), cost_usd=0.0)


async def measure_runner(count: int) -> dict[str, Any]:
    client = _InstantClient()
    pulled = 0

    def items() -> Any:
        nonlocal pulled
        for i in range(count):
            pulled += 1
            yield {"id": str(i), "prompt": "p"}

    from steer_trio import Batch

    before = current_rss_kb()
    cpu = time.process_time()
    completed = 0
    async with Batch(client, items(), model="gpt-4o-mini", max_concurrency=64) as results:
        async for result in results:
            completed += result.ok
    return {
        "count": count,
        "completed": completed,
        "pulled": pulled,
        "rss_before_kb": before,
        "peak_rss_kb": rss_kb(),
        "cpu_us_per_item": (time.process_time() - cpu) / count * 1e6,
    }


def measure_dry_run(lines: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prompts.jsonl"
        with path.open("w", encoding="utf-8") as file:
            for i in range(lines):
                file.write(f'{{"id": "row-{i}", "prompt": "Summarise document number {i}"}}\n')
        before = rss_kb()
        wall = time.perf_counter()
        from steer_trio import cli

        with open(os.devnull, "w") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            try:
                code = cli.main(
                    [
                        "batch",
                        str(path),
                        "-o",
                        str(Path(tmp) / "o.jsonl"),
                        "-m",
                        "gpt-4o-mini",
                        "--dry-run",
                    ]
                )
            finally:
                sys.stdout = stdout
        return {
            "lines": lines,
            "code": code,
            "seconds": time.perf_counter() - wall,
            "rss_before_kb": before,
            "peak_rss_kb": rss_kb(),
            "file_mb": path.stat().st_size / 1e6,
        }


# -- 3. worker processes -------------------------------------------------------------------


def measure_workers(base: str, requests: int, workers: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prompts.jsonl"
        path.write_text(
            "".join(f'{{"id": "{i}", "prompt": "prompt {i}"}}\n' for i in range(requests)),
            encoding="utf-8",
        )
        out = Path(tmp) / "out.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=f"{base}/v1")
        wall = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "steer_trio.cli",
                "batch",
                str(path),
                "-o",
                str(out),
                "-m",
                "gpt-4o-mini",
                "--workers",
                str(workers),
                "--concurrency",
                str(concurrency),
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - wall
        completed = sum('"status":"completed"' in line for line in out.read_text().splitlines())
        return {
            "seconds": elapsed,
            "completed": completed,
            "code": done.returncode,
            "stderr": done.stderr[-400:],
        }


# -- the report ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--worker-streams", type=int, default=1_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            trio.run(serve)
        except KeyboardInterrupt:
            pass
        return
    if args.measure:
        name, *rest = args.measure
        if name == "single":
            result = trio.run(measure_single, rest[0], int(rest[1]))
        elif name == "batch":
            result = trio.run(measure_batch, rest[0], int(rest[1]), int(rest[2]))
        elif name == "runner":
            result = trio.run(measure_runner, int(rest[0]))
        elif name == "dry-run":
            result = measure_dry_run(int(rest[0]))
        else:
            result = measure_workers(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        return
    scale = 10 if args.quick else 1
    requests, concurrency = args.requests // scale, args.concurrency
    million = args.million // scale
    proc, base = start_server()
    try:
        print(f"batch benchmarks (server {base}; {os.cpu_count()} cores)")
        single = child("--measure", "single", base, "20")
        server_cpu = cpu_seconds_of(proc.pid)
        batch = child("--measure", "batch", base, str(requests), str(concurrency))
        server_cpu = cpu_seconds_of(proc.pid) - server_cpu
        load = os.getloadavg()[0]
        waves = -(-requests // concurrency)
        ideal = waves * single["stream_seconds"]
        running_kb = (batch["peak_rss_kb"] - batch["rss_before_kb"]) / concurrency
        print(
            f"\n1. {requests:,} requests at concurrency {concurrency} (one stream alone: "
            f"{single['stream_seconds'] * 1000:.0f} ms)"
        )
        print(f"   statuses: {batch['statuses']}")
        print(
            f"   wall {batch['seconds']:.1f} s; ideal {ideal:.1f} s ({waves} waves): "
            f"{batch['seconds'] / ideal:.2f}x the ideal"
        )
        client_cpu = batch["cpu_per_request"] * requests
        cores = os.cpu_count() or 1
        floor = (client_cpu + server_cpu) / cores
        print(
            f"   CPU: client {client_cpu:.0f} s + server {server_cpu:.0f} s = at best "
            f"{floor:.0f} s on {cores} cores ({batch['seconds'] / floor:.2f}x that); load "
            f"average at the end {load:.1f}"
        )
        print(
            f"   peak RSS {batch['peak_rss_kb'] / 1024:.0f} MB (from "
            f"{batch['rss_before_kb'] / 1024:.0f} MB): {running_kb:.0f} KB per running item"
        )
        print(
            f"   client CPU per request {batch['cpu_per_request'] * 1000:.2f} ms; alone "
            f"{single['cpu_per_request'] * 1000:.2f} ms: "
            f"{batch['cpu_per_request'] / single['cpu_per_request']:.2f}x"
        )
        print(
            f"   after: tasks {batch['tasks_after']} (before {batch['tasks_before']}), open "
            f"fds after closing the client {batch['fds_after_close']} (before the batch "
            f"{batch['fds_before']})"
        )

        small = child("--measure", "runner", str(million // 10))
        large = child("--measure", "runner", str(million))
        growth = (large["peak_rss_kb"] - large["rss_before_kb"]) / 1024
        growth_small = (small["peak_rss_kb"] - small["rss_before_kb"]) / 1024
        print(
            f"\n2. the runner over a generator (no network), {large['count']:,} vs "
            f"{small['count']:,} requests"
        )
        print(
            f"   pulled {large['pulled']:,}, completed {large['completed']:,}; RSS grew "
            f"{growth:.1f} MB (peak {large['peak_rss_kb'] / 1024:.0f} MB) vs {growth_small:.1f} MB "
            f"for a tenth as many"
        )
        print(f"   {large['cpu_us_per_item']:.0f} µs of CPU per request for the runner itself")
        dry_small = child("--measure", "dry-run", str(million // 10))
        dry_large = child("--measure", "dry-run", str(million))
        grow = (dry_large["peak_rss_kb"] - dry_large["rss_before_kb"]) / 1024
        grow_small = (dry_small["peak_rss_kb"] - dry_small["rss_before_kb"]) / 1024
        print(
            f"   steer-trio batch --dry-run over {dry_large['lines']:,} lines "
            f"({dry_large['file_mb']:.0f} MB): {dry_large['seconds']:.1f} s, RSS grew "
            f"{grow:.0f} MB (over {dry_small['lines']:,} lines: {grow_small:.0f} MB)"
        )

        streams = args.worker_streams // (1 if not args.quick else 2)
        one = child("--measure", "workers", base, str(streams), "1", "500")
        two = child("--measure", "workers", base, str(streams), "2", "500")
        print(f"\n3. {streams:,} paced streams, concurrency 500, through the CLI")
        print(
            f"   one process {one['seconds']:.1f} s ({one['completed']} completed); "
            f"two workers {two['seconds']:.1f} s ({two['completed']} completed): "
            f"{one['seconds'] / two['seconds']:.2f}x"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
