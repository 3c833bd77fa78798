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
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

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

__all__ = ["InputScan", "OutputFile", "PendingRequests", "scan_input"]

_LINES_PER_HOP = 2000
_READ_CHUNK = 1 << 20
#: Bad lines kept from the first pass (to report before anything is sent); beyond
#: this, the rest are reported when the run reaches them.
_MAX_BAD_KEPT = 10_000
#: Closing a file is shielded, and bounded by this.
_CLOSE_SECONDS = 5.0


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
    repeated = _RepeatedIds(scan.duplicate_hashes)
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            parsed = parse_request_line(raw, number)
            if not isinstance(parsed, BatchRequest) or not _in_shard(parsed.id, shard):
                continue
            first = repeated.first_line(parsed.id, number)
            if first is None:
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


class _RepeatedIds:
    """Finds the later lines of an id already seen. Only ids whose hash the first pass
    saw twice are remembered, so memory does not grow with the file."""

    def __init__(self, duplicate_hashes: set[int]) -> None:
        self._hashes = duplicate_hashes
        self._first_line: dict[str, int] = {}

    def first_line(self, item_id: str, line: int) -> int | None:
        """The line the id was first seen on, if not ``line`` (None: this is the first)."""
        if not self._hashes or id_hash(item_id) not in self._hashes:
            return None
        first = self._first_line.setdefault(item_id, line)
        return None if first == line else first


class PendingRequests:
    """What a run still has to send, in input order: an async iterator of the input
    file's requests, read a few thousand lines per thread hop (lazily: a million-line
    file never sits in memory). ``aclose()`` closes the file; an iterator read to the
    end closes it itself.

    Left out: other shards' ids, ids ``done`` already (see ``OutputState.skip``), and
    bad lines, which go to ``on_bad`` instead (once: a line ``done.bad_lines`` holds
    was reported before). A later line with an id already seen is such a bad line
    (the first one runs). ``system`` and ``max_tokens`` fill in requests that have
    none of their own."""

    def __init__(
        self,
        path: Path,
        *,
        shard: tuple[int, int] | None,
        duplicate_hashes: set[int],
        done: OutputState,
        keep_failed: bool,
        on_bad: Callable[[BatchInputError], object],
        system: str | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self._path = path
        self._shard = shard
        self._repeated = _RepeatedIds(duplicate_hashes)
        self._done = done
        self._keep_failed = keep_failed
        self._on_bad = on_bad
        self._system = system
        self._max_tokens = max_tokens
        self._file: BinaryIO | None = None
        self._ended = False
        self._lines: list[bytes] = []
        self._next = 0
        self._number = 0

    def __aiter__(self) -> PendingRequests:
        return self

    async def __anext__(self) -> BatchRequest:
        request = self._take()
        if request is not None or self._ended:
            await trio.lowlevel.checkpoint()
            if request is None:
                raise StopAsyncIteration
            return request
        while True:
            if self._file is None:
                self._file = await trio.to_thread.run_sync(self._path.open, "rb")
            self._lines = await trio.to_thread.run_sync(_read_lines, self._file, _LINES_PER_HOP)
            self._next = 0
            if not self._lines:
                await self.aclose()
                raise StopAsyncIteration
            request = self._take()
            if request is not None:
                return request

    async def aclose(self) -> None:
        """Close the file (shielded); the iterator ends."""
        self._ended = True
        file, self._file = self._file, None
        if file is None:
            await trio.lowlevel.checkpoint()
            return
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
            await trio.to_thread.run_sync(file.close)

    def _take(self) -> BatchRequest | None:
        """The next request among the lines read (None: they are used up)."""
        while self._next < len(self._lines):
            raw = self._lines[self._next]
            self._next += 1
            self._number += 1
            parsed = parse_request_line(raw, self._number)
            if parsed is None:
                continue
            if isinstance(parsed, BatchInputError):
                if parsed.item_id is None or _in_shard(parsed.item_id, self._shard):
                    self._bad(parsed)
                continue
            if not _in_shard(parsed.id, self._shard):
                continue
            first = self._repeated.first_line(parsed.id, self._number)
            if first is not None:
                self._bad(duplicate_error(parsed.id, self._number, first))
                continue
            if self._done.skip(parsed.id, keep_failed=self._keep_failed):
                continue
            if self._system and parsed.system is None and parsed.messages is None:
                parsed.system = self._system
            if self._max_tokens and parsed.max_tokens is None:
                parsed.params["max_tokens"] = self._max_tokens
            return parsed
        return None

    def _bad(self, error: BatchInputError) -> None:
        if error.line not in self._done.bad_lines:
            self._done.bad_lines.add(error.line or 0)
            self._on_bad(error)


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
            await trio.lowlevel.checkpoint()
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
        if fd < 0:
            await trio.lowlevel.checkpoint()
            return
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
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
