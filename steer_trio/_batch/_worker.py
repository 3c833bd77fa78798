"""A worker process of a batch: ``python -m steer_trio._batch._worker``.

It speaks JSON lines. On stdin: first ``{"config": {...}}`` (model, batch options,
this worker's share of the limits, base URLs), then one request a line; the end of
stdin ends the input. On stdout: ``{"result": {...}}`` for every result as it comes,
``{"progress": {...}}`` a few times a second, and ``{"done": {...}}`` last.

SIGINT or SIGTERM stops it the way Ctrl-C stops ``steer-trio batch``: nothing more
starts, running items are cancelled, their partials are written, then it exits.
Each worker is its own ``trio.run``: N workers use N cores.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from ._types import BatchProgress, BatchRequest

__all__ = ["LineReader", "main", "progress_record"]

PROGRESS_EVERY = 0.25
#: Requests asked of the parent at a time.
CREDIT = 32


class LineReader:
    """Whole lines from a byte stream, read as the caller asks (lazily)."""

    def __init__(self, stream: trio.abc.ReceiveStream, max_line: int = 64 * 1024 * 1024) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._max_line = max_line
        self._eof = False

    async def readline(self) -> bytes | None:
        """The next line (without its newline), or None at the end of the stream."""
        if self._lines or self._eof:
            await trio.lowlevel.checkpoint()
        else:
            await self._fill()
        if self._lines:
            return self._lines.pop()
        rest, self._buffer = bytes(self._buffer), bytearray()
        return rest or None

    async def _fill(self) -> None:
        """Read until a whole line is in, or the stream ends."""
        while True:
            data = await self._stream.receive_some(1 << 16)
            if not data:
                self._eof = True
                return
            self._buffer += data
            if b"\n" in data:
                *whole, rest = bytes(self._buffer).split(b"\n")
                whole.reverse()
                self._lines = whole
                self._buffer = bytearray(rest)
                return
            if len(self._buffer) > self._max_line:
                raise ValueError("a line longer than the largest allowed")


def progress_record(progress: BatchProgress) -> dict[str, Any]:
    return {
        name: getattr(progress, name)
        for name in (
            "started",
            "running",
            "completed",
            "failed",
            "cancelled",
            "timed_out",
            "skipped",
            "requeued",
            "retries",
            "rate_limited",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "cooldown",
            "budget_tripped",
        )
    } | {"limits": progress.limits}


class _Requests:
    """Requests as the runner pulls them; asks the parent for more when out of credit."""

    def __init__(
        self, reader: LineReader, send: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        self._reader = reader
        self._send = send
        self._credit = 0

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> BatchRequest:
        while True:
            if self._credit == 0:
                await self._send({"want": CREDIT})
                self._credit = CREDIT
            line = await self._reader.readline()
            self._credit -= 1
            if line is None:
                raise StopAsyncIteration
            if line.strip():
                data = json.loads(line)
                return BatchRequest.from_mapping(
                    {k: v for k, v in data.items() if k != "line"}, line=data.get("line")
                )


async def _serve() -> int:
    from .. import SteerClient

    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    stdout = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    reader = LineReader(stdin)
    write_lock = trio.Lock()

    async def send(message: dict[str, Any]) -> None:
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with trio.CancelScope(shield=True):
            async with write_lock:
                await stdout.send_all(data)

    first = await reader.readline()
    if first is None:
        return 2
    config = json.loads(first)["config"]
    client = SteerClient(
        base_url=config.get("base_url"),
        provider=config.get("provider"),
        base_urls=config.get("base_urls") or None,
    )
    async with stdin, stdout, client:
        batch = client.batch(
            _Requests(reader, send),
            model=config["model"],
            report_skipped=False,
            limit_share=config.get("share", 1.0),
            **config.get("options", {}),
        )
        async with batch as results, trio.open_nursery() as nursery:

            async def report() -> None:
                while True:
                    await trio.sleep(PROGRESS_EVERY)
                    await send({"progress": progress_record(batch.progress)})

            async def watch() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        batch.cancel()

            nursery.start_soon(report)
            nursery.start_soon(watch)
            async for result in results:
                await send({"result": result.to_record()})
            nursery.cancel_scope.cancel()
        await send(
            {
                "done": {
                    "progress": progress_record(batch.progress),
                    "stop_reason": batch.stop_reason,
                    "elapsed": batch.progress.elapsed,
                }
            }
        )
    return 0


def main() -> int:
    # Signals are handled inside trio (a graceful stop), never as KeyboardInterrupt.
    return trio.run(_serve)


def merge_progress(parts: list[dict[str, Any]], total: int | None) -> BatchProgress:
    """The progress of all workers together."""
    merged = BatchProgress(total=total)
    for part in parts:
        for name, value in part.items():
            if name == "limits":
                continue
            if name == "budget_tripped":
                merged.budget_tripped = merged.budget_tripped or bool(value)
            elif name == "cooldown":
                merged.cooldown = max(merged.cooldown, float(value))
            else:
                setattr(merged, name, getattr(merged, name) + value)
    merged.limits = _sum_limits([part.get("limits") or {} for part in parts])
    return attrs.evolve(merged)


def _sum_limits(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Each worker has its share of every limit: the batch's are their sums."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                total[key] = _sum_limits([total.get(key, {}), value])
            elif isinstance(value, int | float):
                total[key] = total.get(key, 0) + value
    return total


if __name__ == "__main__":
    raise SystemExit(main())
