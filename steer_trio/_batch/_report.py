"""What ``steer-trio batch`` shows and returns: the live display, the results written
as they come, the summary at the end, and the exit codes."""

from __future__ import annotations

import contextlib
import math
import sys
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import trio

from .._tasks import open_task_nursery
from ._files import OutputFile
from ._jobfile import record_for_bad_line
from ._types import BatchInputError, BatchProgress, BatchResult

__all__ = [
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "Display",
    "ResultWriter",
    "Summary",
    "alongside",
    "duration",
    "say",
]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY = 10.0


def say(message: str) -> None:
    print(f"steer-trio batch: {message}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def alongside(*tasks: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run ``tasks`` while the block runs (the display, the writer, a signal watcher);
    they are cancelled when it ends. One exception comes out, never a group: a task's
    (a second Ctrl-C's ``KeyboardInterrupt``), or the block's own, as it was raised."""
    async with open_task_nursery() as nursery:
        for task in tasks:
            nursery.start_soon(task)
        await trio.lowlevel.checkpoint()  # entering the block is a checkpoint
        yield


class ResultWriter:
    """Results as the command receives them: counted for the summary, and appended to
    the output file as soon as they come, several lines per thread hop (``run()`` is
    the writing task; ``flush()`` writes what is left)."""

    def __init__(self, out: OutputFile, *, bad_lines: int = 0) -> None:
        self.summary = Summary()
        self.summary.bad_lines = bad_lines
        self._out = out
        self._pending: list[dict[str, Any]] = []
        self._wake = trio.Event()
        self._lock = trio.Lock()

    @property
    def waiting(self) -> int:
        """Lines handed over and not written yet."""
        return len(self._pending)

    def add(self, result: BatchResult) -> None:
        self.summary.add(result)
        if result.status != "skipped":
            # Never started: nothing to keep (a resume runs it).
            self._write(result.to_record())

    def add_record(self, record: dict[str, Any]) -> None:
        """A result as a worker process sent it."""
        self.summary.add_record(record)
        if record.get("status") != "skipped":
            self._write(record)

    def bad_line(self, error: BatchInputError) -> None:
        """A bad input line the run came to (not reported before)."""
        self.summary.bad_lines += 1
        self._write(record_for_bad_line(error))

    def _write(self, record: dict[str, Any]) -> None:
        self._pending.append(record)
        self._wake.set()

    async def run(self) -> None:
        """The writing task, until it is cancelled."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write every line handed over, even while cancelled (shielded: a disk write,
        bounded by the disk)."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                lines, self._pending = self._pending, []
                await self._out.write(lines)

    def finish(
        self,
        progress: BatchProgress,
        *,
        to_run: int,
        interrupted: bool,
        failed_workers: Collection[int] = (),
    ) -> int:
        """Print the summary; the command's exit code."""
        summary = self.summary
        summary.not_started = max(0, to_run - summary.total)
        summary.print(progress, self._out.path)
        if failed_workers:
            say(f"worker process(es) {sorted(failed_workers)} exited with an error")
        if interrupted:
            say(f"interrupted: rerun the same command to resume ({self._out.path})")
            return EXIT_INTERRUPTED
        return EXIT_OK if summary.all_completed and not failed_workers else EXIT_SOME_FAILED


class Summary:
    """Counts by status, tokens, cost and latency percentiles (8 bytes a result)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.partial = 0
        self.tokens = 0
        self.cost = 0.0
        self.latencies = array("d")
        self.ttfts = array("d")
        self.not_started = 0
        self.bad_lines = 0

    def add(self, result: BatchResult) -> None:
        if result.status == "skipped":
            return  # never started: counted as "not started" (a resume runs it)
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        self.partial += result.partial
        if result.usage is not None:
            self.tokens += result.usage.total_tokens
        self.cost += result.cost_usd or 0.0
        if result.status == "completed":
            if result.latency_ms is not None:
                self.latencies.append(result.latency_ms)
            if result.time_to_first_token_ms is not None:
                self.ttfts.append(result.time_to_first_token_ms)

    def add_record(self, record: dict[str, Any]) -> None:
        self.add(BatchResult.from_record(record))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def all_completed(self) -> bool:
        return (
            self.counts.get("completed", 0) == self.total
            and self.not_started == 0
            and self.bad_lines == 0
        )

    def print(self, progress: BatchProgress, output: Path) -> None:
        order = ("completed", "failed", "cancelled", "timed_out", "skipped")
        parts = [f"{self.counts[s]} {s}" for s in order if self.counts.get(s)]
        if self.partial:
            parts.append(f"{self.partial} partial")
        if self.not_started:
            parts.append(f"{self.not_started} not started")
        if self.bad_lines:
            parts.append(f"{self.bad_lines} bad input lines")
        lines = [
            f"done: {', '.join(parts) or 'nothing to run'} -> {output}",
            f"tokens: {self.tokens:,}  cost: ${self.cost:.4f}  time: {progress.elapsed:.1f}s",
        ]
        if self.latencies:
            lines.append(
                f"latency p50 {_percentile(self.latencies, 50):.0f} ms, "
                f"p95 {_percentile(self.latencies, 95):.0f} ms; time to first token "
                f"p50 {_percentile(self.ttfts, 50):.0f} ms, "
                f"p95 {_percentile(self.ttfts, 95):.0f} ms"
            )
        for line in lines:
            print(line, file=sys.stderr)


def _percentile(values: array[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


class Display:
    """Live progress: a rich panel on a terminal, plain log lines otherwise."""

    def __init__(self, progress: BatchProgress, total: int, *, enabled: bool) -> None:
        self.progress = progress
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    async def run(self) -> None:
        """The display's task, until it is cancelled (at the end of the batch)."""
        if not self.enabled or self.total == 0:
            await trio.lowlevel.checkpoint()
            return
        if not self.tty:
            while True:
                await trio.sleep(LOG_EVERY)
                print(self.line(), file=sys.stderr, flush=True)
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True)
        with Live(self.render(), console=console, refresh_per_second=4, transient=False) as live:
            try:
                while True:
                    await trio.sleep(0.25)
                    live.update(self.render())
            finally:
                # Cancelled at the end of the batch: show where it ended.
                live.update(self.render(), refresh=True)

    def line(self) -> str:
        p = self.progress
        eta = p.eta_seconds()
        return (
            f"[batch] {p.finished}/{self.total} done ({p.completed} ok, {p.failed} failed, "
            f"{p.cancelled + p.timed_out} cut), {p.running} running, {p.tokens:,} tokens, "
            f"${p.cost_usd:.4f}, {p.per_second():.1f}/s, ETA {duration(eta)}; "
            f"limits {limits_text(p.limits)}"
        )

    def render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        p = self.progress
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold")
        table.add_column()
        table.add_row(
            "progress",
            ProgressBar(total=max(1, self.total), completed=p.finished, width=40),
        )
        table.add_row(
            "done",
            f"{p.finished:,}/{self.total:,}  [green]{p.completed:,} ok[/]  "
            f"[red]{p.failed:,} failed[/]  [yellow]{p.cancelled + p.timed_out:,} cut[/]  "
            f"{p.skipped:,} skipped",
        )
        table.add_row("running", f"{p.running}  (retries {p.retries}, requeued {p.requeued})")
        table.add_row("tokens", f"{p.tokens:,}  cost ${p.cost_usd:.4f}")
        table.add_row("pace", f"{p.per_second():.1f}/s  ETA {duration(p.eta_seconds())}")
        cooldown = f"  [red]429 cooldown {p.cooldown:.0f}s[/]" if p.cooldown > 0 else ""
        table.add_row("limits", limits_text(p.limits) + cooldown)
        return table


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def limits_text(limits: dict[str, Any]) -> str:
    parts = [f"concurrency {limits.get('concurrency')}"]
    if "requests_per_minute" in limits:
        parts.append(f"{limits['requests_per_minute']:g} rpm")
    if "tokens_per_minute" in limits:
        parts.append(f"{limits['tokens_per_minute']:g} tpm")
    for group, learned in (limits.get("learned") or {}).items():
        shown = ", ".join(f"{v:g} {k.replace('_', ' ')}/min" for k, v in learned.items())
        parts.append(f"{group}: {shown}")
    if "max_cost_usd" in limits:
        parts.append(f"budget ${limits['max_cost_usd']:g}")
    return "; ".join(parts)
