"""Job files on disk, without blocking the event loop.

Every read and write goes through ``trio.to_thread.run_sync`` in pieces: the input is
read a few thousand lines per thread hop (lazily: a million-line file never sits in
memory), and results are written as whole lines, several per hop, with one
``os.write`` on a descriptor opened with ``O_APPEND``: nothing is buffered in the
process, so a line the runner has handed over is in the file (the operating system's
cache) before the next hop, and a crash can cut at most the last line, which the next
run drops (``complete_length``).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from ._jobfile import (
    HashedIdSet,
    OutputState,
    complete_length,
    id_hash,
    iter_lines,
    parse_request_line,
    scan_output,
    shard_of,
)
from ._types import BatchInputError, BatchRequest

__all__ = ["InputScan", "OutputFile", "read_input", "scan_input"]

_LINES_PER_HOP = 2000
_READ_CHUNK = 1 << 20
#: Bad lines kept from the first pass (to report before anything is sent); beyond
#: this, the rest are reported when the run reaches them.
_MAX_BAD_KEPT = 10_000


@attrs.define(slots=True, kw_only=True)
class InputScan:
    """The first pass over an input file: what it holds, before anything is sent."""

    lines: int = 0
    requests: int = 0
    #: In this shard, and not done already (what the run will send).
    to_run: int = 0
    already_done: int = 0
    other_shards: int = 0
    bad: list[BatchInputError] = attrs.field(factory=list)
    bad_count: int = 0
    #: Hashes of ids that appear on more than one line.
    duplicate_hashes: set[int] = attrs.field(factory=set)
    prompt_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_models: set[str] = attrs.field(factory=set)
    models: dict[str, int] = attrs.field(factory=dict)


def scan_input(
    path: Path,
    *,
    shard: tuple[int, int] | None,
    done: OutputState | None,
    keep_failed: bool,
    default_model: str,
    estimate: Callable[[BatchRequest, str], tuple[int, int, float | None]] | None = None,
) -> InputScan:
    """Blocking (run it in a thread): count, validate, find duplicate ids, and with
    ``estimate`` sum tokens and cost of what would run."""
    scan = InputScan()
    ids = HashedIdSet()
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            scan.lines = number
            parsed = parse_request_line(raw, number)
            if parsed is None:
                continue
            if isinstance(parsed, BatchInputError):
                if parsed.item_id is not None and not _in_shard(parsed.item_id, shard):
                    continue
                scan.bad_count += 1
                if len(scan.bad) < _MAX_BAD_KEPT:
                    scan.bad.append(parsed)
                continue
            if not _in_shard(parsed.id, shard):
                scan.other_shards += 1
                continue
            scan.requests += 1
            ids.add(parsed.id)
            if done is not None and done.skip(parsed.id, keep_failed=keep_failed):
                scan.already_done += 1
                continue
            scan.to_run += 1
            model = parsed.model or default_model
            scan.models[model] = scan.models.get(model, 0) + 1
            if estimate is not None:
                prompt, output, cost = estimate(parsed, model)
                scan.prompt_tokens += prompt
                scan.output_tokens += output
                if cost is None:
                    scan.unpriced_models.add(model)
                else:
                    scan.cost_usd += cost
    scan.duplicate_hashes = ids.duplicates()
    if scan.duplicate_hashes:
        _report_duplicates(path, scan, shard, done, keep_failed, default_model, estimate)
    return scan


def _report_duplicates(
    path: Path,
    scan: InputScan,
    shard: tuple[int, int] | None,
    done: OutputState | None,
    keep_failed: bool,
    default_model: str,
    estimate: Callable[[BatchRequest, str], tuple[int, int, float | None]] | None,
) -> None:
    """A second pass, only when some id hash repeats: the later lines of a repeated id
    become bad lines (reported before anything is sent), and are not run."""
    first_line: dict[str, int] = {}
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            parsed = parse_request_line(raw, number)
            if not isinstance(parsed, BatchRequest) or not _in_shard(parsed.id, shard):
                continue
            if id_hash(parsed.id) not in scan.duplicate_hashes:
                continue
            first = first_line.setdefault(parsed.id, number)
            if first == number:
                continue
            scan.requests -= 1
            if done is not None and done.skip(parsed.id, keep_failed=keep_failed):
                scan.already_done -= 1
            else:
                scan.to_run -= 1
                model = parsed.model or default_model
                scan.models[model] -= 1
                if estimate is not None:
                    prompt, output, cost = estimate(parsed, model)
                    scan.prompt_tokens -= prompt
                    scan.output_tokens -= output
                    scan.cost_usd -= cost or 0.0
            scan.bad_count += 1
            if len(scan.bad) < _MAX_BAD_KEPT:
                scan.bad.append(duplicate_error(parsed.id, number, first))


def duplicate_error(item_id: str, line: int, first: int) -> BatchInputError:
    return BatchInputError(
        f"line {line}: duplicate id {item_id!r} (first on line {first}); ids must be unique",
        line=line,
        item_id=item_id,
    )


def _in_shard(item_id: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(item_id, shard[1]) == shard[0]


async def read_input(
    path: Path,
    *,
    shard: tuple[int, int] | None,
    duplicate_hashes: set[int],
) -> AsyncIterator[BatchRequest | BatchInputError]:
    """The input's requests and bad lines, in order, a few thousand lines per thread hop.

    A later line with an id already seen is a ``BatchInputError`` (the first one runs).
    Only ids whose hash was seen twice in the first pass are remembered, so memory
    does not grow with the file."""
    first_line: dict[str, int] = {}
    file = await trio.to_thread.run_sync(path.open, "rb")
    try:
        number = 0
        while True:
            lines = await trio.to_thread.run_sync(_read_lines, file, _LINES_PER_HOP)
            if not lines:
                return
            for raw in lines:
                number += 1
                parsed = parse_request_line(raw, number)
                if parsed is None:
                    continue
                if isinstance(parsed, BatchInputError):
                    if parsed.item_id is None or _in_shard(parsed.item_id, shard):
                        yield parsed
                    continue
                if not _in_shard(parsed.id, shard):
                    continue
                if duplicate_hashes and id_hash(parsed.id) in duplicate_hashes:
                    first = first_line.get(parsed.id)
                    if first is not None:
                        yield duplicate_error(parsed.id, number, first)
                        continue
                    first_line[parsed.id] = number
                yield parsed
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(file.close)


def _read_lines(file: Any, count: int) -> list[bytes]:
    lines = []
    for _ in range(count):
        line = file.readline()
        if not line:
            break
        lines.append(line)
    return lines


class OutputFile:
    """An append-only JSONL file of results: whole lines, written off the loop."""

    def __init__(self, path: Path, fd: int, state: OutputState, dropped: int) -> None:
        self.path = path
        self._fd = fd
        #: What the file held when opened (for resume).
        self.state = state
        #: Bytes of a cut last line that were dropped on opening.
        self.dropped_bytes = dropped
        self.lines_written = 0

    @classmethod
    async def open(cls, path: Path) -> OutputFile:
        return await trio.to_thread.run_sync(cls._open_blocking, path)

    @classmethod
    def _open_blocking(cls, path: Path) -> OutputFile:
        state, dropped = recover_output(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return cls(path, fd, state, dropped)

    async def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        data = b"".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
            for r in records
        )
        # Shielded: lines handed over are written even while the batch is cancelled.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_write_all, self._fd, data)
        self.lines_written += len(records)

    async def aclose(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(os.close, fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def recover_output(path: Path) -> tuple[OutputState, int]:
    """Blocking: drop a cut last line (a crash mid-write), then read what is there."""
    if not path.exists():
        return OutputState(), 0
    size = path.stat().st_size
    dropped = 0
    with path.open("rb+") as file:
        # Only the tail can be cut: look at the last block for the last newline.
        tail_start = max(0, size - _READ_CHUNK)
        file.seek(tail_start)
        tail = file.read()
        end = complete_length(tail)
        if end == 0 and tail_start > 0:
            # A last line longer than the block: search backwards for its start.
            end = _find_last_newline(file, tail_start) + 1 - tail_start
        keep = tail_start + end
        if keep < size:
            dropped = size - keep
            file.truncate(keep)
    with path.open("rb") as file:
        state = scan_output(iter_lines(iter(lambda: file.read(_READ_CHUNK), b"")))
    return state, dropped


def _find_last_newline(file: Any, before: int) -> int:
    position = before
    while position > 0:
        start = max(0, position - _READ_CHUNK)
        file.seek(start)
        block = file.read(position - start)
        found: int = block.rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1
