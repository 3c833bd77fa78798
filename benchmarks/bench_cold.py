"""Cold start: the first request in a fresh process, and ``import steer_trio``.

    python benchmarks/bench_cold.py [--quick] [--processes 7]

First request, each side in its own fresh process (sides alternated, so drift on a
shared machine hits all alike), a two-delta stream read to the end:

* ``build``: from constructing the client to the end of the first stream, as a script
  does it (``SteerClient()`` then a call; ``httpx2.AsyncClient()`` then a request):
  the TLS context, the pool, lazy imports and data files all count;
* ``ready``: the client built and entered first (``async with``), then the first
  stream alone.

Import: ``import steer_trio`` against ``import trio, httpx2, attrs`` (its
dependencies), fresh interpreters, alternated; the median of each. Both sides load
from bytecode, as installed packages do (pip compiles at install): steer_trio's is
compiled first, since a source checkout run with ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile every module in every fresh interpreter and measure the compiler.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server

SIDES = ("raw", "for", "with", "swu")
TARGET_FIRST = 1.2
TARGET_IMPORT = 1.2


def child(base: str, side: str, mode: str) -> None:
    """In a fresh process: everything is imported before the clock starts (imports
    are measured apart)."""
    import httpx2
    import trio

    import steer_trio

    headers = {"x-bench": "n=2;k=1"}

    async def raw_first(http: httpx2.AsyncClient) -> int:
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        count = 0
        url = f"{base}/v1/chat/completions"
        async with http.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    payload = json.loads(line[6:])
                    choices = payload.get("choices")
                    if choices and choices[0]["delta"].get("content"):
                        count += 1
        return count

    async def steer_first(client: steer_trio.SteerClient) -> int:
        kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "provider": "openai"}
        kwargs["extra_headers"] = headers
        if side == "for":
            return sum([1 async for _ in client.stream("go", **kwargs)])
        if side == "with":
            async with client.stream("go", **kwargs) as stream:
                count = sum([1 async for _ in stream])
            assert stream.response is not None
            return count
        response = await client.stream_with_usage("go", **kwargs)
        return len(response.text.split())

    def make_steer() -> steer_trio.SteerClient:
        return steer_trio.SteerClient(
            api_keys={"openai": "sk-bench"}, base_urls={"openai": f"{base}/v1"}
        )

    async def main() -> dict[str, float]:
        if mode == "ready":
            if side == "raw":
                async with httpx2.AsyncClient(timeout=None) as http:
                    start = time.perf_counter()
                    assert await raw_first(http) == 2
                    return {"first": time.perf_counter() - start}
            async with make_steer() as client:
                start = time.perf_counter()
                assert await steer_first(client) == 2
                return {"first": time.perf_counter() - start}
        start = time.perf_counter()
        if side == "raw":
            http = httpx2.AsyncClient(timeout=None)
            assert await raw_first(http) == 2
            first = time.perf_counter() - start
            await http.aclose()
            return {"first": first}
        client = make_steer()
        assert await steer_first(client) == 2
        first = time.perf_counter() - start
        await client.aclose()
        return {"first": first}

    print(json.dumps(trio.run(main)))


def run_child(base: str, side: str, mode: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", base, side, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["first"])


def import_time(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def compile_steer_trio() -> None:
    """Write steer_trio's bytecode (``__pycache__``, ignored by git), as installing does."""
    spec = importlib.util.find_spec("steer_trio")
    assert spec is not None and spec.submodule_search_locations
    for folder in spec.submodule_search_locations:
        compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--processes", type=int, help="fresh processes per side and mode")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    processes = args.processes or (3 if args.quick else 7)
    compile_steer_trio()
    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}\n")
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(processes):
            for mode in ("build", "ready"):
                for side in SIDES:
                    times.setdefault((side, mode), []).append(run_child(base, side, mode))
    print(
        f"First request in a fresh process (two-delta stream to its end), {processes} processes"
        " per side, alternated: median ms (min-max), and each process's time against the"
        " median of raw's"
    )
    labels = {
        "raw": "raw httpx2",
        "for": "async for client.stream()",
        "with": "async with client.stream()",
        "swu": "stream_with_usage()",
    }
    for mode, what in (
        ("build", "client construction + first stream"),
        ("ready", "first stream, client already entered"),
    ):
        print(f"  {what}")
        raw = statistics.median(times[("raw", mode)])
        for side in SIDES:
            t = times[(side, mode)]
            ratio = statistics.median(t) / raw
            tgt = "" if side == "raw" else f"  target <= {TARGET_FIRST:.1f}x"
            print(
                f"    {labels[side]:<30} {statistics.median(t) * 1e3:7.1f} ms "
                f"({min(t) * 1e3:.1f}-{max(t) * 1e3:.1f})  {ratio:5.2f}x raw{tgt}"
            )
    deps, ours = [], []
    for _ in range(processes * 2):
        deps.append(import_time("import trio, httpx2, attrs"))
        ours.append(import_time("import steer_trio"))
    ratios = sorted(o / d for o, d in zip(ours, deps, strict=True))
    print(
        f"\nimport, {len(deps)} fresh interpreters each, alternated: trio+httpx2+attrs "
        f"{statistics.median(deps) * 1e3:.1f} ms, steer_trio {statistics.median(ours) * 1e3:.1f}"
        f" ms: {statistics.median(ours) / statistics.median(deps):.2f}x (pairwise "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}); target <= {TARGET_IMPORT:.1f}x"
    )


if __name__ == "__main__":
    main()
