"""Worker processes for ``steer-trio batch --workers N``.

The parent reads the input (and does resume, bad lines, sharding) and hands requests
to N worker processes (``_worker``), each its own ``trio.run``, as each asks for more
(credit: a worker asks for the next few once it has taken what it got), so a fast
worker is never left idle while another holds a queue. Results come back as JSON
lines and go to the one output file through the same writer as a single process.

Limits are split: each worker gets 1/N of the concurrency, of ``--rpm``/``--tpm``, of
the budget, and of every limit it learns from the provider's headers.

Ctrl-C reaches the parent only (the workers run in their own session): it stops
handing out requests and sends each worker SIGINT; every worker cancels its running
items and writes their partials before it exits, and the parent writes them all.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from .._checkpoints import caller_checkpoints
from .._groups import collapse_group
from ._files import PendingRequests
from ._report import Display, ResultWriter, alongside, say
from ._types import BatchProgress
from ._worker import LineReader, merge_progress

__all__ = ["run_pool", "split_options"]


#: Stopping a worker process (or closing its input) is shielded, and bounded by this.
_KILL_SECONDS = 5.0


def split_options(options: Mapping[str, Any], workers: int) -> dict[str, Any]:
    """One worker's share of the batch's limits."""
    out = dict(options)
    out["max_concurrency"] = max(1, math.ceil(options["max_concurrency"] / workers))
    for name in ("requests_per_minute", "tokens_per_minute", "max_cost_usd"):
        if out.get(name) is not None:
            out[name] = out[name] / workers
    return out


class _Worker:
    def __init__(self, process: trio.Process, index: int) -> None:
        self.process = process
        self.index = index
        self.credit = 0
        self.more = trio.Event()
        self.progress: dict[str, Any] = {}
        self.done = False


async def run_pool(
    requests: PendingRequests,
    writer: ResultWriter,
    *,
    model: str,
    options: Mapping[str, Any],
    to_run: int,
    workers: int,
    client_config: dict[str, Any],
    show_progress: bool,
) -> int:
    """Run ``requests`` on ``workers`` processes; the command's exit code."""
    pool = _Pool(requests, writer, to_run=to_run, show_progress=show_progress)
    config = {
        "config": {
            "model": model,
            "options": split_options(options, workers),
            "share": 1.0 / workers,
            **client_config,
        }
    }
    say(f"{workers} worker processes")
    return await pool.run(workers, config)


class _Pool:
    """The parent's side: hands out requests, takes back results and progress."""

    def __init__(
        self, requests: PendingRequests, writer: ResultWriter, *, to_run: int, show_progress: bool
    ) -> None:
        self.requests = requests
        self.writer = writer
        self.to_run = to_run
        self.progress = BatchProgress(total=to_run)
        self.display = Display(self.progress, to_run, enabled=show_progress)
        self.workers: list[_Worker] = []
        self.interrupted = False
        self.feed_scope = trio.CancelScope()
        self.started_at = trio.current_time()

    async def run(self, count: int, config: dict[str, Any]) -> int:
        try:
            async with alongside(self.display.run, self.writer.run, self._watch_sigint):
                await self._run_workers(count, config)
                for worker in self.workers:
                    await worker.process.wait()
        finally:
            for worker in self.workers:
                if worker.process.returncode is None:
                    with trio.CancelScope(shield=True), trio.move_on_after(_KILL_SECONDS):
                        worker.process.kill()
                        await worker.process.wait()
            await self.writer.flush()  # noqa: ASYNC102 - shielded inside; a disk write
        self._refresh()
        failed = [w.index for w in self.workers if w.process.returncode not in (0, None)]
        return self.writer.finish(
            self.progress, to_run=self.to_run, interrupted=self.interrupted, failed_workers=failed
        )

    @caller_checkpoints  # run() waits for every worker process right after
    async def _run_workers(self, count: int, config: dict[str, Any]) -> None:
        """Start the workers, feed them until the input ends, take back everything they
        send until each one is done. One exception out, never a group."""
        error: BaseException | None = None
        env = dict(os.environ)
        command = [sys.executable, "-m", "steer_trio._batch._worker"]
        send, receive = trio.open_memory_channel[bytes](0)
        try:
            async with trio.open_nursery() as nursery:
                for index in range(count):
                    process = await trio.lowlevel.open_process(
                        command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        env=env,
                        start_new_session=True,
                    )
                    worker = _Worker(process, index)
                    self.workers.append(worker)
                    assert process.stdin is not None
                    await process.stdin.send_all(json.dumps(config).encode() + b"\n")
                    nursery.start_soon(self._hand_out, worker, receive.clone())
                    nursery.start_soon(self._take_back, worker)
                receive.close()
                nursery.start_soon(self._feed, send)
        except BaseExceptionGroup as group:
            error = collapse_group(group)
        if error is not None:
            raise error  # outside the handler: its own cause and context stay its own

    def _refresh(self) -> None:
        progress = self.progress
        merged = merge_progress([w.progress for w in self.workers if w.progress], self.to_run)
        for field in attrs.fields(BatchProgress):
            if field.name not in ("total", "elapsed"):
                setattr(progress, field.name, getattr(merged, field.name))
        progress.elapsed = trio.current_time() - self.started_at

    async def _feed(self, send: trio.MemorySendChannel[bytes]) -> None:
        """Requests, as JSON lines, to whichever worker asks first (until Ctrl-C)."""
        with send, self.feed_scope:
            async for request in self.requests:
                record = request.to_record()
                record["line"] = request.line
                await send.send(json.dumps(record, ensure_ascii=False).encode() + b"\n")

    async def _hand_out(self, worker: _Worker, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        """One worker's requests, as many as it asked for."""
        stdin = worker.process.stdin
        assert stdin is not None
        await trio.lowlevel.checkpoint()
        try:
            with receive:
                while True:
                    while worker.credit == 0 and not worker.done:
                        await worker.more.wait()
                    if worker.done:
                        break
                    try:
                        line = await receive.receive()
                    except trio.EndOfChannel:
                        break
                    worker.credit -= 1
                    await stdin.send_all(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            # The end of its input: the worker finishes what it has, then exits.
            with (
                contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
                trio.CancelScope(shield=True),
                trio.move_on_after(_KILL_SECONDS),
            ):
                await stdin.aclose()

    async def _take_back(self, worker: _Worker) -> None:
        """One worker's messages: results, requests for more, progress."""
        stdout = worker.process.stdout
        assert stdout is not None
        reader = LineReader(stdout)
        while True:
            line = await reader.readline()
            if line is None:
                # The worker is gone: nothing more to hand it.
                worker.done = True
                worker.more.set()
                break
            message = json.loads(line)
            if "result" in message:
                self.writer.add_record(message["result"])
            elif "want" in message:
                worker.credit += int(message["want"])
                worker.more.set()
                worker.more = trio.Event()
            elif "progress" in message:
                worker.progress = message["progress"]
                self._refresh()
            elif "done" in message:
                worker.progress = message["done"]["progress"]
                self._refresh()

    async def _watch_sigint(self) -> None:
        """First Ctrl-C: stop handing out requests, and have every worker stop the way
        the single process does. Second: stop at once."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            count = 0
            async for _ in signals:
                count += 1
                if count > 1:
                    raise KeyboardInterrupt
                self.interrupted = True
                say("interrupt: cancelling running items and writing their partials ...")
                self.feed_scope.cancel()
                for worker in self.workers:
                    if worker.process.returncode is None:
                        worker.process.send_signal(signal.SIGINT)
