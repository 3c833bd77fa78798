"""Toward the limit: where a raw event's time goes, and what a bulk body path buys.

    python benchmarks/bench_floor.py [--quick] [--rounds 7] [--events 20000]

Per event, client CPU, interleaved rounds, Chat Completions stream written at once:

* ``floor``: httpx2 sends the request and reads the head; then the socket is read
  directly (trio ``receive_some``), each read de-chunked in one pass
  (``_fastbody.BulkChunkedBody``), split into events with one ``bytes.split``, and
  each event's JSON decoded with ``json.loads``: what any client must do;
* ``h11``: the same, but the body read the way steer_trio reads it today: one h11
  ``Data`` event per HTTP chunk through httpcore2's ``_receive_event``
  (``steer_trio._transport._DirectBody``), then split and ``json.loads``;
* ``raw``: httpx2 ``aiter_lines`` + ``json.loads`` (the benchmarks' baseline);
* ``for`` / ``swu``: ``async for client.stream()`` and ``stream_with_usage()`` as they
  are; ``+drain``: with every h11 ``Data`` event of one network read handed over at
  once (``_fastbody.DrainedH11Body``, the small change); ``+bulk``: with the bulk
  de-chunking body (``_fastbody.BulkChunkedBody``); both swapped in by patching
  ``steer_trio._transport.open_body`` in this process only.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_server import running_server, spec_header
from _fastbody import BulkChunkedBody, DrainedH11Body
from _paths import Clients, raw_request, run_path

import steer_trio._transport as transport

_original_open_body = transport.open_body
_bulk: Any = None


def _open_body(response: Any) -> Any:
    if _bulk is not None and response.headers.get("content-encoding", "identity") in (
        "identity",
        "",
    ):
        body = _bulk.attach(response)
        if body is not None:
            return body
    return _original_open_body(response)


transport.open_body = _open_body


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


async def floor(clients: Clients, headers: dict[str, str], *, bulk: bool) -> int:
    url, body, all_headers = raw_request("openai", clients.base, headers)
    request = clients.http.build_request("POST", url, json=body, headers=all_headers)
    response = await clients.http.send(request, stream=True)
    try:
        reader: Any = (
            BulkChunkedBody.attach(response) if bulk else transport._DirectBody.attach(response)
        )
        assert reader is not None
        return await _split_and_decode(reader)
    finally:
        await response.aclose()


async def steer(clients: Clients, headers: dict[str, str], *, path: str, body: Any) -> int:
    global _bulk
    _bulk = body
    try:
        return await run_path(clients, path, headers)
    finally:
        _bulk = None


CASES = {
    "floor": lambda c, h: floor(c, h, bulk=True),
    "h11": lambda c, h: floor(c, h, bulk=False),
    "raw": lambda c, h: run_path(c, "raw", h),
    "for": lambda c, h: steer(c, h, path="for", body=None),
    "for+drain": lambda c, h: steer(c, h, path="for", body=DrainedH11Body),
    "for+bulk": lambda c, h: steer(c, h, path="for", body=BulkChunkedBody),
    "swu": lambda c, h: steer(c, h, path="swu", body=None),
    "swu+drain": lambda c, h: steer(c, h, path="swu", body=DrainedH11Body),
    "swu+bulk": lambda c, h: steer(c, h, path="swu", body=BulkChunkedBody),
    "bg": lambda c, h: steer(c, h, path="swu_bg", body=None),
    "bg+drain": lambda c, h: steer(c, h, path="swu_bg", body=DrainedH11Body),
    "bg+bulk": lambda c, h: steer(c, h, path="swu_bg", body=BulkChunkedBody),
}
LABELS = {
    "floor": "floor: recv + bulk de-chunk + split + json.loads",
    "h11": "h11 per chunk (_DirectBody) + split + json.loads",
    "raw": "raw httpx2 aiter_lines + json.loads",
    "for": "async for client.stream()",
    "for+drain": "async for client.stream(), h11 drained per read",
    "for+bulk": "async for client.stream(), bulk body",
    "swu": "stream_with_usage()",
    "swu+drain": "stream_with_usage(), h11 drained per read",
    "swu+bulk": "stream_with_usage(), bulk body",
    "bg": "stream_with_usage() + background processor",
    "bg+drain": "  the same, h11 drained per read",
    "bg+bulk": "  the same, bulk body",
}


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
    h11_cost = statistics.median(a - b for a, b in zip(cpu["h11"], cpu["floor"], strict=True))
    print(f"  h11 + httpcore2 per-chunk machinery over the floor: {h11_cost:.2f} us/event")
    for path in ("for", "swu", "bg"):
        for variant in ("drain", "bulk"):
            med, low, high = ratio(path, f"{path}+{variant}")
            print(f"  {path}: today / with the {variant} body = {med:.2f}x ({low:.2f}-{high:.2f})")
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
