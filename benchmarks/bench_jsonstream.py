"""Incremental JSON parsing cost per KB, streamed in 4-character chunks.

    python benchmarks/bench_jsonstream.py

Prints microseconds per KB for documents of about 10 KB, 100 KB and 1 MB (the cost per
KB should stay flat: linear parsing), and the naive alternative of re-parsing the whole
buffer with json.loads after every chunk (10 KB and 100 KB only: at 1 MB it would take
hours, which is the point).
"""

from __future__ import annotations

import json
import random
import time

from steer_trio import IncrementalJSONParser

CHUNK = 4


def document(target_bytes: int) -> str:
    rng = random.Random(42)
    records = []
    text = ""
    while len(text) < target_bytes:
        records.append(
            {
                "id": len(records),
                "name": f"user-{rng.randint(0, 10**6)}",
                "email": f"u{rng.randint(0, 10**6)}@example.com",
                "score": round(rng.random() * 100, 3),
                "tags": [rng.choice(["a", "b", "c", "dé", "😀"]) for _ in range(3)],
                "address": {"city": "Paris", "zip": f"{rng.randint(10000, 99999)}"},
                "active": rng.random() > 0.5,
                "note": None,
            }
        )
        if len(records) % 5 == 0:
            text = json.dumps({"records": records})
    return json.dumps({"records": records})


def incremental(text: str) -> float:
    best = float("inf")
    pieces = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    for _ in range(3):
        parser = IncrementalJSONParser()
        start = time.perf_counter()
        for n, piece in enumerate(pieces):
            parser.feed(piece)
            if n % 64 == 0:
                _ = parser.partial
        value = parser.close()
        best = min(best, time.perf_counter() - start)
    assert value == json.loads(text)
    return best


def naive(text: str) -> float:
    start = time.perf_counter()
    buffer = ""
    for i in range(0, len(text), CHUNK):
        buffer += text[i : i + CHUNK]
        try:
            json.loads(buffer)
        except ValueError:
            pass
    return time.perf_counter() - start


def main() -> None:
    print(f"incremental JSON, {CHUNK}-character chunks (best of 3)")
    per_kb = {}
    docs = {
        label: document(size)
        for label, size in (("10 KB", 10_000), ("100 KB", 100_000), ("1 MB", 1_000_000))
    }
    for label, text in docs.items():
        seconds = incremental(text)
        per_kb[label] = seconds / (len(text) / 1024) * 1e6
        print(
            f"  {label:>6}: {len(text):>9} chars  {seconds * 1e3:8.1f} ms  "
            f"{per_kb[label]:8.1f} us/KB"
        )
    print(f"  cost per KB, 1 MB vs 10 KB: {per_kb['1 MB'] / per_kb['10 KB']:.2f}x (target <= 2x)")
    print("naive: json.loads of the whole buffer after every chunk")
    for label in ("10 KB", "100 KB"):
        text = docs[label]
        seconds = naive(text)
        ours = incremental(text)
        print(
            f"  {label:>6}: naive {seconds * 1e3:9.1f} ms  incremental {ours * 1e3:7.1f} ms  "
            f"-> incremental is {seconds / ours:6.1f}x faster"
        )
    print("  1 MB: naive not run (quadratic: about 100x the 100 KB time)")


if __name__ == "__main__":
    main()
