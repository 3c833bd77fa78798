"""Incremental JSON parsing cost per KB, streamed in 4-character chunks.

    python benchmarks/bench_jsonstream.py [--quick] [--only classic,partial,large,memory,shapes]

Prints microseconds per KB for documents of about 10 KB, 100 KB and 1 MB (the cost per
KB should stay flat: linear parsing), and the naive alternative of re-parsing the whole
buffer with json.loads after every chunk (10 KB and 100 KB only: at 1 MB it would take
hours, which is the point).

Then, each as a ratio to ``json.loads`` of the whole text once, measured in the same
run: a 1 MB string with ``partial`` read after every 8-character delta; 50 MB in 4 KiB
fragments (records, and one long string), fed alone and with ``partial`` read after
every fragment; and the memory the parser keeps for a 10 MB answer fed in 8-character
deltas, against the text's own size. ``--quick`` uses 5 MB instead of 50 MB;
``--no-classic`` skips the per-KB and naive figures.

``shapes``: the parser alone on the two 10 MB answers of ``bench_memory.py``'s JSON
section (many records, one long string) in 100-byte deltas: CPU seconds against
``json.loads`` of the whole text, and the parser's peak traced memory against the text.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

from steer_trio import IncrementalJSONParser

CHUNK = 4


def document(target_bytes: int) -> str:
    rng = random.Random(42)
    records: list[dict[str, object]] = []
    size = len('{"records": []}')
    while size < target_bytes:  # sized record by record: one dumps at the end
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
        size += len(json.dumps(records[-1])) + 2
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


def best_of(runs: int, fn: object) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def loads_once(text: str) -> float:
    """The baseline: json.loads of the whole text, once."""
    return best_of(3, lambda: json.loads(text))


def fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def feed_all(pieces: list[str], *, partial: bool) -> object:
    parser = IncrementalJSONParser()
    if partial:
        for piece in pieces:
            parser.feed(piece)
            _ = parser.partial
    else:
        for piece in pieces:
            parser.feed(piece)
    return parser.close()


def long_string(chars: int) -> str:
    rng = random.Random(7)
    words = ["stream", "token", "trio", "nursery", "cancel", "scope", "delta", "é", "😀"]
    body = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        body.append(word)
        size += len(word) + 1
    return json.dumps({"answer": " ".join(body)}, ensure_ascii=False)


def receive(pieces: list[str]) -> float:
    """A second baseline: just receiving the pieces (one call each, then one join)."""

    def run() -> str:
        got: list[str] = []
        for piece in pieces:
            got.append(piece)
        return "".join(got)

    return best_of(3, run)


def partial_every_delta() -> None:
    text = long_string(1_000_000)
    pieces = fragments(text, 8)
    base = loads_once(text)
    received = receive(pieces)
    fed = best_of(1, lambda: feed_all(pieces, partial=False))
    ours = best_of(1, lambda: feed_all(pieces, partial=True))
    print(f"1 MB string, partial after every 8-char delta ({len(pieces)} deltas)")
    print(
        f"  json.loads once {base * 1e3:7.1f} ms   receiving {received * 1e3:7.1f} ms   "
        f"fed {fed * 1e3:7.1f} ms   fed + partial each {ours * 1e3:7.1f} ms"
    )
    print(
        f"  fed + partial each: {ours / base:.0f}x json.loads, {ours / received:.1f}x "
        f"receiving, {ours / fed:.2f}x feeding alone"
    )


def fifty_megabytes(size: int) -> None:
    label = f"{size // 1_000_000} MB"
    for kind, text in (("records", document(size)), ("one string", long_string(size))):
        pieces = fragments(text, 4096)
        base = loads_once(text)
        received = receive(pieces)
        fed = best_of(1, lambda pieces=pieces: feed_all(pieces, partial=False))
        with_partial = best_of(1, lambda pieces=pieces: feed_all(pieces, partial=True))
        print(f"{label} {kind} in 4 KiB fragments ({len(pieces)} fragments)")
        print(
            f"  json.loads once {base * 1e3:8.1f} ms   receiving {received * 1e3:6.1f} ms   "
            f"fed {fed * 1e3:8.1f} ms ({fed / base:4.1f}x json.loads)   fed + partial each "
            f"{with_partial * 1e3:8.1f} ms ({with_partial / base:4.1f}x)"
        )


def memory_kept(size: int) -> None:
    for kind, text in (("one string", long_string(size)), ("records", document(size))):
        pieces = fragments(text, 8)
        gc.collect()
        tracemalloc.start()
        value = json.loads(text)
        value_bytes = tracemalloc.get_traced_memory()[0]
        del value
        gc.collect()
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        parser = IncrementalJSONParser()
        for piece in pieces:
            parser.feed(piece)
        before_close = tracemalloc.get_traced_memory()[0] - start
        value = parser.close()
        after_close = tracemalloc.get_traced_memory()[0] - start
        peak = tracemalloc.get_traced_memory()[1] - start
        tracemalloc.stop()
        text_bytes = sys.getsizeof(text)
        kept = after_close - value_bytes  # what the parser holds beyond the value
        print(f"{size // 1_000_000} MB {kind}, 8-char deltas: memory / size of the text")
        print(
            f"  kept beside the value {kept / text_bytes:5.2f}x   before close (value in "
            f"progress + buffers) {before_close / text_bytes:5.2f}x"
            f"   peak {peak / text_bytes:5.2f}x"
            f"   (json.loads' value alone {value_bytes / text_bytes:5.2f}x)"
        )
        del value, parser


def memory_bench_shapes(size: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _bench_server import json_document

    print(f"{size // 1_000_000} MB answers of bench_memory.py in 100-byte deltas, the parser alone")
    for shape in ("records", "string"):
        text = json_document(size, shape)
        pieces = fragments(text, 100)
        cpu = []
        for _ in range(3):
            gc.collect()
            start = time.process_time()
            value = feed_all(pieces, partial=False)
            cpu.append(time.process_time() - start)
            del value
        base = loads_once(text)
        gc.collect()
        tracemalloc.start()
        value = feed_all(pieces, partial=False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del value
        print(
            f"  {shape:<8} parser {min(cpu):6.2f} s CPU (best of 3)   json.loads once "
            f"{base:5.2f} s   peak traced {peak / len(text):4.2f}x the text"
        )


def main() -> None:
    quick = "--quick" in sys.argv
    only = {"classic", "partial", "large", "memory", "shapes"}
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    if "--no-classic" in sys.argv:
        only.discard("classic")
    if "classic" in only:
        old_main()
    if "partial" in only:
        partial_every_delta()
    if "large" in only:
        fifty_megabytes(5_000_000 if quick else 50_000_000)
    if "memory" in only:
        memory_kept(10_000_000)
    if "shapes" in only:
        memory_bench_shapes(2_000_000 if quick else 10_000_000)


def old_main() -> None:
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
