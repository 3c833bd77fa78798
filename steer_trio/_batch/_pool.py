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

import json
import math
import os
import signal
import subprocess
import sys
from typing import Any

import attrs
import trio

from ._types import BatchInputError, BatchProgress, BatchRequest
from ._worker import LineReader, merge_progress

__all__ = ["run_pool", "split_options"]


def split_options(options: dict[str, Any], workers: int) -> dict[str, Any]:
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
    job: Any,
    *,
    model: str,
    scan: Any,
    out: Any,
    bad: int,
    workers: int,
    client_config: dict[str, Any],
) -> int:
    from .._cli_batch import (
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_SOME_FAILED,
        Display,
        Summary,
        _LineWriter,
        _say,
        requests_to_run,
    )

    summary = Summary()
    summary.bad_lines = bad
    writer = _LineWriter(out)
    progress = BatchProgress(total=scan.to_run)
    display = Display(progress, scan.to_run, enabled=not job.args.no_progress)
    config = {
        "config": {
            "model": model,
            "options": split_options(job.batch_options(), workers),
            "share": 1.0 / workers,
            **client_config,
        }
    }
    interrupted = False
    started_at = trio.current_time()
    pool: list[_Worker] = []
    _say(f"{workers} worker processes")

    def refresh() -> None:
        merged = merge_progress([w.progress for w in pool if w.progress], scan.to_run)
        for field in attrs.fields(BatchProgress):
            if field.name not in ("total", "elapsed"):
                setattr(progress, field.name, getattr(merged, field.name))
        progress.elapsed = trio.current_time() - started_at

    async def feed(send: trio.MemorySendChannel[bytes]) -> None:
        async with send:
            source = requests_to_run(job, scan, out)
            try:
                async for item in source:
                    if isinstance(item, BatchInputError):
                        summary.bad_lines += 1
                        from ._jobfile import record_for_bad_line

                        writer.add(record_for_bad_line(item))
                        continue
                    assert isinstance(item, BatchRequest)
                    record = item.to_record()
                    record["line"] = item.line
                    await send.send(json.dumps(record, ensure_ascii=False).encode() + b"\n")
            finally:
                await source.aclose()

    async def hand_out(worker: _Worker, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        stdin = worker.process.stdin
        assert stdin is not None
        try:
            async with receive:
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
            with trio.CancelScope(shield=True):
                try:
                    await stdin.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass

    async def take_back(worker: _Worker) -> None:
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
                record = message["result"]
                summary.add_record(record)
                if record.get("status") != "skipped":
                    writer.add(record)
            elif "want" in message:
                worker.credit += int(message["want"])
                worker.more.set()
                worker.more = trio.Event()
            elif "progress" in message:
                worker.progress = message["progress"]
                refresh()
            elif "done" in message:
                worker.progress = message["done"]["progress"]
                refresh()

    async def watch_sigint(feed_scope: trio.CancelScope) -> None:
        nonlocal interrupted
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            count = 0
            async for _ in signals:
                count += 1
                if count > 1:
                    raise KeyboardInterrupt
                interrupted = True
                _say("interrupt: cancelling running items and writing their partials ...")
                feed_scope.cancel()
                for worker in pool:
                    if worker.process.returncode is None:
                        worker.process.send_signal(signal.SIGINT)

    env = dict(os.environ)
    command = [sys.executable, "-m", "steer_trio._batch._worker"]
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(display.run)
            nursery.start_soon(writer.run)
            feed_scope = trio.CancelScope()
            nursery.start_soon(watch_sigint, feed_scope)
            send, receive = trio.open_memory_channel[bytes](0)
            async with trio.open_nursery() as workers_nursery:
                for index in range(workers):
                    process = await trio.lowlevel.open_process(
                        command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        env=env,
                        start_new_session=True,
                    )
                    worker = _Worker(process, index)
                    pool.append(worker)
                    assert process.stdin is not None
                    await process.stdin.send_all(json.dumps(config).encode() + b"\n")
                    workers_nursery.start_soon(hand_out, worker, receive.clone())
                    workers_nursery.start_soon(take_back, worker)
                receive.close()

                async def run_feed() -> None:
                    with feed_scope:
                        await feed(send)
                    send.close()

                workers_nursery.start_soon(run_feed)
            for worker in pool:
                await worker.process.wait()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        from .._groups import collapse_group

        grouped: BaseException | None = collapse_group(group)
    else:
        grouped = None
    finally:
        with trio.CancelScope(shield=True):
            for worker in pool:
                if worker.process.returncode is None:
                    worker.process.kill()
                    await worker.process.wait()
        await writer.flush()  # noqa: ASYNC102 - shielded inside; a disk write
        display.stop()
    if grouped is not None:
        raise grouped  # outside the handler: its own cause and context stay its own
    refresh()
    summary.not_started = max(0, scan.to_run - summary.total)
    summary.print(progress, job, interrupted=interrupted)
    failed_workers = [w.index for w in pool if w.process.returncode not in (0, None)]
    if failed_workers:
        _say(f"worker process(es) {failed_workers} exited with an error")
    if interrupted:
        _say(f"interrupted: rerun the same command to resume ({job.output})")
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.all_completed and not failed_workers else EXIT_SOME_FAILED
