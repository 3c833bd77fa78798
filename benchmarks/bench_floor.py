"""Toward the limit: where a raw event's time goes, and what each body reader costs.

    python benchmarks/bench_floor.py [--quick] [--rounds 7] [--events 20000]

Per event, client CPU, interleaved rounds, Chat Completions stream written at once:

* ``floor``: httpx2 sends the request and reads the head; then the body is read with
  the shipped bulk reader (``steer_trio._body.BulkBody``: the socket read directly,
  each read de-chunked in one pass), split into events with one ``bytes.split``, and
  each event's JSON decoded with ``json.loads``: what any client must do;
* ``raw``: httpx2 ``aiter_lines`` + ``json.loads`` (the benchmarks' baseline);
* ``for`` / ``swu`` / ``bg``: ``async for client.stream()``, ``stream_with_usage()``
  and the same with a background processor, as shipped (the bulk reader); ``+drained``:
  with h11 parsing every chunk and each read's chunks handed over at once
  (``DirectBody``, what non-chunked bodies use); ``+per-chunk``: with one h11 chunk
  per call, as the body was read before the bulk reader (``_fastbody.PerChunkH11Body``).
  The readers are swapped by patching ``steer_trio._transport.open_body`` here only.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _fastbody import reader_for, use_reader
from _paths import Clients, raw_request, run_path


async def _split_and_decode(body: Any) -> int:
    count = 0
    pending = b""
    loads = json.loads
    async for data in body:
        events = (pending + data).split(b"\n\n") if pending else data.split(b"\n\n")
        pending = events.pop()
        for event in events:
            if event.startswith(b"data: {"):
                choices = loads(event[6:]).get("choices")
                if choices and choices[0]["delta"].get("content"):
                    count += 1
    return count


async def floor(clients: Clients, headers: dict[str, str]) -> int:
    url, body, all_headers = raw_request("openai", clients.base, headers)
    request = clients.http.build_request("POST", url, json=body, headers=all_headers)
    response = await clients.http.send(request, stream=True)
    try:
        return await _split_and_decode(reader_for(response, "bulk"))
    finally:
        await response.aclose()


async def steer(clients: Clients, headers: dict[str, str], *, path: str, body: str | None) -> int:
    use_reader(body)
    try:
        return await run_path(clients, path, headers)
    finally:
        use_reader(None)


PATHS = {"for": "for", "swu": "swu", "bg": "swu_bg"}
VARIANTS = ("drained", "per-chunk")
CASES: dict[str, Any] = {
    "floor": floor,
    "raw": lambda c, h: run_path(c, "raw", h),
}
for _key, _path in PATHS.items():
    CASES[_key] = partial(steer, path=_path, body=None)
    for _variant in VARIANTS:
        CASES[f"{_key}+{_variant}"] = partial(steer, path=_path, body=_variant)
LABELS = {
    "floor": "floor: bulk body + split + json.loads",
    "raw": "raw httpx2 aiter_lines + json.loads",
    "for": "async for client.stream()",
    "swu": "stream_with_usage()",
    "bg": "stream_with_usage() + background processor",
}
for _variant in VARIANTS:
    for _key in PATHS:
        LABELS[f"{_key}+{_variant}"] = f"  {_key}, {_variant} h11 body"


async def measure(base: str, events: int, per_chunk: int, rounds: int) -> dict[str, list[float]]:
    clients = Clients(base)
    headers = spec_header(n=events, k=per_chunk)
    cpu: dict[str, list[float]] = {k: [] for k in CASES}
    keys = list(CASES)
    try:
        for key in keys:
            assert await CASES[key](clients, headers) == events, key
        for round_no in range(rounds):
            shift = round_no % len(keys)
            for key in keys[shift:] + keys[:shift]:
                gc.collect()
                start = time.process_time()
                n = await CASES[key](clients, headers)
                cpu[key].append((time.process_time() - start) / n * 1e6)
                assert n == events, (key, n)
        # The connection went back to the pool after a bulk read: one connection served all.
        pool = clients.http._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1, pool.connections
    finally:
        await clients.aclose()
    return cpu


def report(cpu: dict[str, list[float]], per_chunk: int) -> None:
    def ratio(a: str, b: str) -> tuple[float, float, float]:
        r = [x / y for x, y in zip(cpu[a], cpu[b], strict=True)]
        return statistics.median(r), min(r), max(r)

    print(f"{per_chunk} event(s) per HTTP chunk: client CPU per event (median), ratios per round")
    print(f"  {'':<52} {'us/ev':>7} {'vs floor':>9} {'vs raw':>7}")
    for key in CASES:
        med = statistics.median(cpu[key])
        print(
            f"  {LABELS[key]:<52} {med:7.2f} {ratio(key, 'floor')[0]:8.2f}x"
            f" {ratio(key, 'raw')[0]:6.2f}x"
        )
    for path in PATHS:
        for variant in VARIANTS:
            med, low, high = ratio(f"{path}+{variant}", path)
            print(f"  {path}: {variant} h11 body / shipped = {med:.2f}x ({low:.2f}-{high:.2f})")
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--events", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    events = args.events or (4000 if args.quick else 20_000)
    with running_server() as base:
        print(f"benchmark server at {base} (own process); python {sys.version.split()[0]}")
        print(f"{events} deltas per stream, {rounds} interleaved rounds\n")
        for per_chunk in (1, 20):
            report(trio.run(measure, base, events, per_chunk, rounds), per_chunk)


if __name__ == "__main__":
    main()
