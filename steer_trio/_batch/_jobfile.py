"""JSONL job files: reading requests, reading results back for resume, sharding (sans-IO).

* Input: one JSON object a line (``id``, ``prompt`` or ``messages``, optional ``model``
  and options). A bad line becomes a :class:`BatchInputError` with its line number;
  blank lines are ignored.
* Output: one result a line, appended. A run that was killed mid-write may leave a
  last line without its newline: :func:`complete_length` finds where the whole lines
  end, and the next run cuts the rest off before appending.
* Resume: :func:`scan_output` reads the results so far; ids that completed are not
  run again (nor, with ``keep_failed``, those that failed).
* Shards: ``--shard I/N`` keeps the ids whose stable hash falls in shard I, the same
  on every machine and every run.

Memory: ids are kept as 64-bit hashes in sorted arrays (8 bytes an id), never as
strings, so a file of a million lines costs about 8 MB to check, not its size.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ._types import BatchInputError, BatchRequest

__all__ = [
    "HashedIdSet",
    "OutputState",
    "complete_length",
    "id_hash",
    "parse_request_line",
    "parse_shard",
    "scan_output",
    "shard_of",
]

_BUCKET_BITS = 8


def id_hash(item_id: str) -> int:
    """A stable 64-bit hash of an id (the same in every process and on every machine)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest(), "big")


def shard_of(item_id: str, count: int) -> int:
    """Which of ``count`` shards (1-based) the id belongs to."""
    return id_hash(item_id) % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (1 <= I <= N) to ``(I, N)``; raises ``BatchInputError`` otherwise."""
    head, sep, tail = text.partition("/")
    try:
        index, count = int(head), int(tail)
    except ValueError:
        index = count = 0
    if not sep or count < 1 or not 1 <= index <= count:
        raise BatchInputError(
            f"--shard takes I/N with 1 <= I <= N (this machine's part of N), got {text!r}"
        )
    return index, count


def parse_request_line(raw: bytes | str, line: int) -> BatchRequest | BatchInputError | None:
    """One input line: the request, the reason it cannot be sent, or None (blank)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return BatchInputError(f"line {line} is not JSON ({exc.msg})", line=line)
    if not isinstance(data, dict):
        return BatchInputError(
            f"line {line} must be a JSON object with 'id' and 'prompt' or 'messages', "
            f"got {type(data).__name__}",
            line=line,
        )
    try:
        return BatchRequest.from_mapping(data, line=line)
    except BatchInputError as exc:
        return exc


def complete_length(data: bytes) -> int:
    """How many leading bytes of ``data`` are whole lines (up to the last newline)."""
    return data.rfind(b"\n") + 1


class HashedIdSet:
    """A set of ids kept as 64-bit hashes: 8 bytes an id.

    ``add`` while filling, then ``freeze`` once (sorts), then ``in``. Membership is
    by hash: two different ids share a hash with odds of about n^2 / 2^65
    (1 in 40 million for a million ids)."""

    __slots__ = ("_buckets", "_frozen", "count")

    def __init__(self, hashes: Iterable[int] = ()) -> None:
        self._buckets: list[array[int]] = [array("Q") for _ in range(1 << _BUCKET_BITS)]
        self._frozen = False
        self.count = 0
        for value in hashes:
            self.add_hash(value)

    def add(self, item_id: str) -> None:
        self.add_hash(id_hash(item_id))

    def add_hash(self, value: int) -> None:
        bucket = self._buckets[value >> (64 - _BUCKET_BITS)]
        if self._frozen:
            bisect.insort(bucket, value)
        else:
            bucket.append(value)
        self.count += 1

    def freeze(self) -> HashedIdSet:
        if not self._frozen:
            # One bucket at a time, each old one freed as its sorted copy replaces
            # it: the extra memory is a 256th of the whole, not a second copy.
            for index, bucket in enumerate(self._buckets):
                self._buckets[index] = array("Q", sorted(bucket))
            self._frozen = True
        return self

    def contains_hash(self, value: int) -> bool:
        self.freeze()
        bucket = self._buckets[value >> (64 - _BUCKET_BITS)]
        at = bisect.bisect_left(bucket, value)
        return at < len(bucket) and bucket[at] == value

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.contains_hash(id_hash(item_id))

    def duplicates(self) -> set[int]:
        """The hashes added more than once."""
        self.freeze()
        out: set[int] = set()
        for bucket in self._buckets:
            for i in range(1, len(bucket)):
                if bucket[i] == bucket[i - 1]:
                    out.add(bucket[i])
        return out

    def __len__(self) -> int:
        return self.count

    def nbytes(self) -> int:
        return sum(b.buffer_info()[1] * b.itemsize for b in self._buckets)


@attrs.define(slots=True, kw_only=True)
class OutputState:
    """What an output file already holds."""

    #: Ids with a ``completed`` record (never run again).
    completed: HashedIdSet = attrs.field(factory=HashedIdSet)
    #: Ids with any record (run again unless ``keep_failed``).
    recorded: HashedIdSet = attrs.field(factory=HashedIdSet)
    #: Input lines already reported as bad (not reported twice).
    bad_lines: set[int] = attrs.field(factory=set)
    records: int = 0
    completed_count: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    #: Lines that were not results (damaged in the middle of the file): ignored.
    unreadable: int = 0

    def skip(self, item_id: str, *, keep_failed: bool) -> bool:
        return item_id in (self.recorded if keep_failed else self.completed)


def scan_output(lines: Iterable[bytes]) -> OutputState:
    """Read the results written so far (whole lines only) for resume."""
    state = OutputState()
    for raw in lines:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            state.unreadable += 1
            continue
        if not isinstance(record, dict) or "status" not in record:
            state.unreadable += 1
            continue
        state.records += 1
        error = record.get("error")
        if isinstance(error, dict) and error.get("type") == "BatchInputError":
            # A bad line is reported once; if it was fixed since, it runs.
            if isinstance(record.get("line"), int):
                state.bad_lines.add(record["line"])
            continue
        item_id = str(record.get("id"))
        value = id_hash(item_id)
        state.recorded.add_hash(value)
        cost = record.get("cost_usd")
        if isinstance(cost, int | float):
            state.cost_usd += float(cost)
        usage = record.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            state.tokens += usage["total_tokens"]
        if record.get("status") == "completed":
            state.completed.add_hash(value)
            state.completed_count += 1
    state.completed.freeze()
    state.recorded.freeze()
    return state


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines from byte chunks (a last line without a newline is dropped)."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        end = complete_length(data)
        if end:
            yield from data[: end - 1].split(b"\n")
        rest = data[end:]


def record_for_bad_line(error: BatchInputError) -> dict[str, Any]:
    return {
        "id": error.item_id,
        "status": "failed",
        "partial": False,
        "text": "",
        "error": {"type": "BatchInputError", "message": error.message, "retryable": False},
        "line": error.line,
    }
