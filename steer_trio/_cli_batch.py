"""``steer-trio batch prompts.jsonl -o results.jsonl``: a batch job from the terminal.

One JSON object a line in (``id``, ``prompt`` or ``messages``, optional ``model`` and
options), one result a line out, appended. Rerunning the same command resumes: ids
already completed are skipped; failed and partial ones are run again
(``--no-retry-failed`` keeps them). Ctrl-C stops starting items, cancels the running
ones, writes their partials (marked ``"partial": true``) and exits 130.

Exit codes: 0 every request completed; 1 some failed, timed out or were skipped;
2 bad command line; 3 configuration (unknown model, missing key, bad input file);
130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from array import array
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import trio

from ._batch._estimate import DEFAULT_EXPECTED_OUTPUT, Estimator
from ._batch._files import InputScan, OutputFile, read_input, scan_input
from ._batch._jobfile import iter_lines, parse_shard, record_for_bad_line, scan_output
from ._batch._types import BatchInputError, BatchProgress, BatchRequest, BatchResult

__all__ = ["add_batch_parser", "main"]

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130

ENGINES = ("live", "openai-batch", "anthropic-batch")
#: Below this many requests to run, worker processes cost more than they save.
WORKERS_FROM = 1000
#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY = 10.0


def add_batch_parser(sub: Any) -> None:
    """Register ``batch`` on the ``steer-trio`` subcommands."""
    batch = sub.add_parser(
        "batch",
        help="run a JSONL file of prompts; resumable, with limits, budget and progress",
        description=(
            "Run every request of a JSONL file (one {'id', 'prompt' or 'messages', "
            "optional 'model', 'max_tokens', ...} per line) and append one result per line "
            "to the output. Rerun the same command to resume. With no -m and no provider key, "
            "the built-in local provider answers (it says so)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  steer-trio batch prompts.jsonl -o results.jsonl   # the local provider if no key\n"
            "  steer-trio batch prompts.jsonl -o out.jsonl -m gpt-4o-mini --rpm 500 --max-cost 5\n"
            "  steer-trio batch prompts.jsonl -o out.jsonl --dry-run      # tokens, cost, time\n"
            "  steer-trio batch prompts.jsonl -o out.jsonl --engine openai-batch  # 50% off, <24h\n"
            "  steer-trio batch prompts.jsonl -o out.jsonl --shard 2/4  # this machine's part\n\n"
            "exit codes: 0 all completed, 1 some failed/skipped, 2 bad usage, 3 configuration, "
            "130 interrupted (rerun to resume)"
        ),
    )
    batch.add_argument("input", type=Path, help="JSONL file of requests")
    batch.add_argument("-o", "--output", type=Path, required=True, help="JSONL file of results")
    batch.add_argument("-m", "--model", help="model for lines that name none")
    batch.add_argument("--provider", help="force a provider (openai, anthropic, xai, ...)")
    batch.add_argument("--base-url", help="base URL for the provider (e.g. a vLLM server)")
    batch.add_argument("--local", action="store_true", help="use the built-in local provider")
    batch.add_argument("--concurrency", type=int, default=32, help="streams at once (32)")
    batch.add_argument("--rpm", type=float, help="requests per minute, at most")
    batch.add_argument("--tpm", type=float, help="tokens per minute, at most (estimated ahead)")
    batch.add_argument("--max-cost", type=float, help="budget in USD: start nothing beyond it")
    batch.add_argument(
        "--on-budget",
        choices=("stop", "cancel"),
        default="stop",
        help="at the budget: let running items finish (stop) or cancel them",
    )
    batch.add_argument("--deadline", type=float, help="seconds for the whole batch")
    batch.add_argument("--item-deadline", type=float, help="seconds for each request")
    batch.add_argument("--max-tokens", type=int, help="max_tokens for lines that set none")
    batch.add_argument("--system", help="a system prompt for lines that have none")
    retry = batch.add_mutually_exclusive_group()
    retry.add_argument(
        "--retry-failed",
        type=int,
        default=1,
        metavar="N",
        help="send items that failed with a retryable error back to the queue N times (1)",
    )
    retry.add_argument(
        "--no-retry-failed",
        action="store_true",
        help="no requeue; and on resume, keep failed and partial results instead of redoing them",
    )
    batch.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="count tokens and estimate cost and time; send nothing",
    )
    batch.add_argument(
        "--engine",
        choices=ENGINES,
        default="live",
        help="live streaming here (default), or a provider's batch engine (50%% off, <24h)",
    )
    batch.add_argument(
        "--cancel-remote",
        action="store_true",
        help="with --engine: cancel the provider job recorded beside the output",
    )
    batch.add_argument(
        "--poll-interval",
        type=float,
        help="with --engine: seconds between polls (30; half a second for the local provider)",
    )
    batch.add_argument("--shard", help="I/N: run only this machine's part of the ids")
    batch.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: the number of cores, when there are at least "
        f"{WORKERS_FROM} requests to run)",
    )
    batch.add_argument(
        "--expected-output",
        type=int,
        default=DEFAULT_EXPECTED_OUTPUT,
        help="output tokens assumed for lines without max_tokens (estimates, TPM reservations)",
    )
    batch.add_argument(
        "--no-progress", action="store_true", help="no live display; log lines only at the end"
    )


def main(args: argparse.Namespace) -> int:
    """Run the ``batch`` subcommand (called by ``steer_trio.cli.main``)."""
    try:
        job = _Job.from_args(args)
    except BatchInputError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.engine != "live":
        return int(trio.run(_engine, job))
    if job.dry_run:
        return int(trio.run(_dry_run, job))
    return int(trio.run(_live, job))


class _Job:
    """The command line, checked."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.input: Path = args.input
        self.output: Path = args.output
        self.shard = parse_shard(args.shard) if args.shard else None
        self.keep_failed: bool = args.no_retry_failed
        self.retry_failed = 0 if args.no_retry_failed else args.retry_failed
        self.dry_run: bool = args.dry_run
        self.workers: int | None = args.workers
        for name in ("concurrency", "workers", "max_tokens", "expected_output"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise BatchInputError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("rpm", "tpm", "deadline", "item_deadline", "poll_interval"):
            value = getattr(args, name)
            if value is not None and not value > 0:
                raise BatchInputError(f"--{name.replace('_', '-')} must be a positive number")
        if args.max_cost is not None and not args.max_cost >= 0:
            raise BatchInputError("--max-cost must be a number >= 0")
        if args.retry_failed is not None and args.retry_failed < 0:
            raise BatchInputError("--retry-failed must be >= 0")
        if not self.input.is_file():
            raise BatchInputError(f"no input file {str(self.input)!r}")
        if self.output.resolve() == self.input.resolve():
            raise BatchInputError("the output file must not be the input file")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Job:
        return cls(args)

    def model(self) -> str | None:
        """The model, or None for the built-in local provider."""
        from .cli import _pick_model

        return _pick_model(self.args)

    def workers_for(self, to_run: int) -> int:
        """Worker processes for ``to_run`` requests: as asked, else one per core when
        there is enough to do."""
        if self.workers is not None:
            return self.workers
        return default_workers() if to_run >= WORKERS_FROM else 1

    def batch_options(self) -> dict[str, Any]:
        args = self.args
        options: dict[str, Any] = {
            "max_concurrency": args.concurrency,
            "requests_per_minute": args.rpm,
            "tokens_per_minute": args.tpm,
            "item_deadline": args.item_deadline,
            "deadline": args.deadline,
            "max_cost_usd": args.max_cost,
            "on_budget": args.on_budget,
            "fail_fast": args.fail_fast,
            "retry_failed": self.retry_failed,
            "expected_output_tokens": args.expected_output,
        }
        if args.max_tokens is not None:
            options["max_tokens"] = args.max_tokens
        return options


# -- the live run ----------------------------------------------------------------------


async def _live(job: _Job) -> int:
    """One process: read, run, write, show progress; Ctrl-C stops gracefully."""
    from . import ConfigurationError, SteerClient
    from .cli import LOCAL_MODEL

    try:
        model = job.model()
    except SystemExit as exc:
        print(str(exc.code), file=sys.stderr)
        return EXIT_USAGE
    out = await OutputFile.open(job.output)
    try:
        if out.dropped_bytes:
            _say(f"dropped a cut last line ({out.dropped_bytes} bytes) from {job.output}")
        scan = await trio.to_thread.run_sync(
            lambda: scan_input(
                job.input,
                shard=job.shard,
                done=out.state,
                keep_failed=job.keep_failed,
                default_model=model or LOCAL_MODEL,
            )
        )
        if out.state.records:
            _say(
                f"resuming: {scan.already_done} of {scan.requests} already in {job.output} "
                f"({'kept' if job.keep_failed else 'completed'}); {scan.to_run} to run"
            )
        await _write_bad_lines(out, scan)
        summary_bad = scan.bad_count
        workers = job.workers_for(scan.to_run)
        if model is not None:
            if workers > 1:
                return await _pool(job, model, scan, out, summary_bad, workers, {})
            async with SteerClient(
                base_url=job.args.base_url, provider=job.args.provider
            ) as client:
                return await _run(job, client, model, scan, out, summary_bad)
        _say(
            "no provider API key found (OPENAI_API_KEY, ANTHROPIC_API_KEY, XAI_API_KEY): "
            "using the built-in local provider, a fake that writes demo stories (its answers "
            "cost nothing)."
        )
        from .testing import open_fake_provider

        async with open_fake_provider(story_delay=0.02) as server:
            if workers > 1:
                local = {"base_urls": {"local": server.openai_base_url}}
                return await _pool(job, LOCAL_MODEL, scan, out, summary_bad, workers, local)
            async with SteerClient(base_urls={"local": server.openai_base_url}) as client:
                return await _run(job, client, LOCAL_MODEL, scan, out, summary_bad)
    except ConfigurationError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        await out.aclose()


async def _pool(
    job: _Job,
    model: str,
    scan: InputScan,
    out: OutputFile,
    bad: int,
    workers: int,
    client_config: dict[str, Any],
) -> int:
    from ._batch._pool import run_pool

    config = {"base_url": job.args.base_url, "provider": job.args.provider, **client_config}
    return await run_pool(
        job, model=model, scan=scan, out=out, bad=bad, workers=workers, client_config=config
    )


async def _write_bad_lines(out: OutputFile, scan: InputScan) -> None:
    """Bad lines are reported before anything is sent (once: not again on resume)."""
    scan.bad.sort(key=lambda error: error.line or 0)
    records = [
        record_for_bad_line(error) for error in scan.bad if error.line not in out.state.bad_lines
    ]
    if records:
        await out.write(records)
        _say(f"{scan.bad_count} bad input line(s) written as errors, e.g. {scan.bad[0].message}")
    for error in scan.bad:
        if error.line is not None:
            out.state.bad_lines.add(error.line)


async def requests_to_run(
    job: _Job, scan: InputScan, out: OutputFile
) -> AsyncGenerator[BatchRequest | BatchInputError, None]:
    """The input lines still to run: bad and duplicate lines (not yet reported) as
    errors, ids already done skipped."""
    async for item in read_input(
        job.input, shard=job.shard, duplicate_hashes=scan.duplicate_hashes
    ):
        if isinstance(item, BatchInputError):
            if item.line not in out.state.bad_lines:
                out.state.bad_lines.add(item.line or 0)
                yield item
            continue
        if out.state.skip(item.id, keep_failed=job.keep_failed):
            continue
        if job.args.system and item.system is None and item.messages is None:
            item.system = job.args.system
        yield item


async def _run(
    job: _Job, client: Any, model: str, scan: InputScan, out: OutputFile, bad: int
) -> int:
    summary = Summary()
    summary.bad_lines = bad
    writer = _LineWriter(out)

    async def only_requests(source: AsyncIterator[Any]) -> AsyncGenerator[BatchRequest, None]:
        async for item in source:
            if isinstance(item, BatchInputError):
                summary.bad_lines += 1
                writer.add(record_for_bad_line(item))
                continue
            yield item

    source = requests_to_run(job, scan, out)
    requests = only_requests(source)
    batch = client.batch(
        requests, model=model, total=scan.to_run, report_skipped=False, **job.batch_options()
    )
    display = Display(batch.progress, scan.to_run, enabled=not job.args.no_progress)
    try:
        async with batch as results, trio.open_nursery() as nursery:
            nursery.start_soon(display.run)
            nursery.start_soon(_watch_sigint, batch)
            nursery.start_soon(writer.run)
            async for result in results:
                summary.add(result)
                if result.status != "skipped":
                    # Never started: nothing to keep (a resume runs it).
                    writer.add(result.to_record())
            nursery.cancel_scope.cancel()
    finally:
        # Everything handed over is written, even on the way out of an error (the
        # write is shielded inside: a disk write, bounded by the disk).
        await writer.flush()  # noqa: ASYNC102
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await requests.aclose()
            await source.aclose()
        display.stop()
    interrupted = batch.stop_reason == "cancel"
    summary.not_started = max(0, scan.to_run - summary.total)
    summary.print(batch.progress, job, interrupted=interrupted)
    if interrupted:
        _say(f"interrupted: rerun the same command to resume ({job.output})")
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.all_completed else EXIT_SOME_FAILED


class _LineWriter:
    """Results go to the file as soon as they come, several lines per thread hop."""

    def __init__(self, out: OutputFile) -> None:
        self.out = out
        self.pending: list[dict[str, Any]] = []
        self._wake = trio.Event()
        self._lock = trio.Lock()

    def add(self, record: dict[str, Any]) -> None:
        self.pending.append(record)
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        with trio.CancelScope(shield=True):
            async with self._lock:
                lines, self.pending = self.pending, []
                await self.out.write(lines)


async def _watch_sigint(batch: Any) -> None:
    """First Ctrl-C: stop gracefully (partials written). Second: stop at once."""
    if not hasattr(signal, "SIGINT"):  # pragma: no cover
        await trio.sleep_forever()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        count = 0
        async for _ in signals:
            count += 1
            if count == 1:
                _say("interrupt: cancelling running items and writing their partials ...")
                batch.cancel()
            else:
                raise KeyboardInterrupt


# -- summary and progress ------------------------------------------------------------------


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

    def print(self, progress: BatchProgress, job: _Job, *, interrupted: bool) -> None:
        order = ("completed", "failed", "cancelled", "timed_out", "skipped")
        parts = [f"{self.counts[s]} {s}" for s in order if self.counts.get(s)]
        if self.partial:
            parts.append(f"{self.partial} partial")
        if self.not_started:
            parts.append(f"{self.not_started} not started")
        if self.bad_lines:
            parts.append(f"{self.bad_lines} bad input lines")
        lines = [
            f"done: {', '.join(parts) or 'nothing to run'} -> {job.output}",
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
        if not self.enabled or self.total == 0:
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

    def stop(self) -> None:
        """Nothing to do: the live panel ends with its task (kept for symmetry)."""

    def line(self) -> str:
        p = self.progress
        eta = p.eta_seconds()
        return (
            f"[batch] {p.finished}/{self.total} done ({p.completed} ok, {p.failed} failed, "
            f"{p.cancelled + p.timed_out} cut), {p.running} running, {p.tokens:,} tokens, "
            f"${p.cost_usd:.4f}, {p.per_second():.1f}/s, ETA {_duration(eta)}; "
            f"limits {_limits(p.limits)}"
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
        table.add_row("pace", f"{p.per_second():.1f}/s  ETA {_duration(p.eta_seconds())}")
        cooldown = f"  [red]429 cooldown {p.cooldown:.0f}s[/]" if p.cooldown > 0 else ""
        table.add_row("limits", _limits(p.limits) + cooldown)
        return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _limits(limits: dict[str, Any]) -> str:
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


def _say(message: str) -> None:
    print(f"steer-trio batch: {message}", file=sys.stderr, flush=True)


# -- dry run ------------------------------------------------------------------------------

#: What a dry run assumes for the time estimate (said in its report).
ASSUMED_TTFT_SECONDS = 0.6
ASSUMED_TOKENS_PER_SECOND = 60.0


async def _dry_run(job: _Job) -> int:
    from ._processing._accounting import get_price_table
    from .cli import LOCAL_MODEL

    try:
        model = job.model() or LOCAL_MODEL
    except SystemExit as exc:
        print(str(exc.code), file=sys.stderr)
        return EXIT_USAGE
    estimator = Estimator(await get_price_table(), expected_output_tokens=job.args.expected_output)
    max_tokens = job.args.max_tokens

    def estimate(request: BatchRequest, request_model: str) -> tuple[int, int, float | None]:
        estimator.prepare_blocking(request_model)
        if max_tokens is not None and request.max_tokens is None:
            request.params["max_tokens"] = max_tokens
        prompt = estimator.prompt_tokens(request, request_model)
        output = estimator.output_tokens(request)
        return prompt, output, estimator.cost(request_model, prompt, output)

    def scan_both() -> InputScan:
        state = None
        if job.output.exists():
            # Read only: a dry run changes no file.
            with job.output.open("rb") as file:
                state = scan_output(iter_lines(iter(lambda: file.read(1 << 20), b"")))
        return scan_input(
            job.input,
            shard=job.shard,
            done=state,
            keep_failed=job.keep_failed,
            default_model=model,
            estimate=estimate,
        )

    started = time.perf_counter()
    scan = await trio.to_thread.run_sync(scan_both)
    print(dry_run_report(scan, job, model, seconds=time.perf_counter() - started))
    return EXIT_OK


def dry_run_report(scan: InputScan, job: _Job, model: str, *, seconds: float) -> str:
    args = job.args
    n = scan.to_run
    lines = [
        f"dry run of {job.input} (nothing sent; read in {seconds:.1f}s)",
        f"  lines: {scan.lines:,}; requests: {scan.requests:,}"
        + (f" in shard {job.shard[0]}/{job.shard[1]}" if job.shard else "")
        + (f"; bad lines: {scan.bad_count:,}" if scan.bad_count else "")
        + (f"; duplicate ids: {len(scan.duplicate_hashes):,}" if scan.duplicate_hashes else ""),
    ]
    if scan.already_done:
        lines.append(f"  already done in {job.output}: {scan.already_done:,} (skipped)")
    lines.append(
        f"  to run: {n:,}  models: "
        + ", ".join(f"{m} ({c:,})" for m, c in sorted(scan.models.items()))
    )
    lines.append(
        f"  tokens: {scan.prompt_tokens:,} prompt (counted) + {scan.output_tokens:,} output "
        f"(max_tokens, or {args.expected_output} assumed) = "
        f"{scan.prompt_tokens + scan.output_tokens:,}"
    )
    cost = f"${scan.cost_usd:.4f}"
    if scan.unpriced_models:
        cost += f" (no price for {', '.join(sorted(scan.unpriced_models))}: not counted)"
    lines.append(f"  cost at most: {cost}; with a batch engine (50% off): ${scan.cost_usd / 2:.4f}")
    if args.max_cost is not None and scan.cost_usd > args.max_cost:
        lines.append(f"  over the budget of ${args.max_cost:g}: the run would stop there")
    if n:
        per_item = ASSUMED_TTFT_SECONDS + (scan.output_tokens / n) / ASSUMED_TOKENS_PER_SECOND
        bounds = {"concurrency": n * per_item / args.concurrency}
        if args.rpm:
            bounds["rpm"] = n / args.rpm * 60
        if args.tpm:
            bounds["tpm"] = (scan.prompt_tokens + scan.output_tokens) / args.tpm * 60
        binding = max(bounds, key=lambda k: bounds[k])
        shown = ", ".join(f"{k} {_duration(v)}" for k, v in bounds.items())
        lines.append(
            f"  time: about {_duration(bounds[binding])}, bound by {binding} ({shown}; assuming "
            f"{ASSUMED_TTFT_SECONDS:g}s to first token and {ASSUMED_TOKENS_PER_SECOND:g} tokens/s)"
        )
    return "\n".join(lines)


def default_workers() -> int:
    return os.cpu_count() or 1


# -- the providers' batch engines ---------------------------------------------------------

#: Seconds between polls of the local provider's batch engine (a demo: it ends fast).
LOCAL_POLL_SECONDS = 0.5


def state_path(output: Path) -> Path:
    """The engine's state file, beside the output: the job ids, for a rerun."""
    return output.with_name(output.name + ".batch-state.json")


async def _engine(job: _Job) -> int:
    """``--engine openai-batch|anthropic-batch``: submit once, poll, fetch, write."""
    from . import ConfigurationError, SteerClient
    from .cli import LOCAL_MODEL

    try:
        model = job.model()
    except SystemExit as exc:
        print(str(exc.code), file=sys.stderr)
        return EXIT_USAGE
    try:
        if model is not None:
            async with SteerClient(
                base_url=job.args.base_url, provider=job.args.provider
            ) as client:
                return await _engine_run(job, client, model, job.args.poll_interval or 30.0)
        _say(
            "no provider API key found: using the built-in local provider and its fake "
            f"{'OpenAI' if job.args.engine == 'openai-batch' else 'Anthropic'} batch engine "
            "(it ends after two polls)."
        )
        from .testing import FakeBatchAPI, open_fake_provider

        async with open_fake_provider() as server:
            FakeBatchAPI.install(server, polls_to_finish=2)
            urls = {"local": server.openai_base_url, "anthropic": server.anthropic_base_url}
            keys = {"anthropic": "local"}
            local_model = LOCAL_MODEL
            if job.args.engine == "anthropic-batch":
                local_model = "anthropic/claude-haiku-4-5"
            async with SteerClient(base_urls=urls, api_keys=keys) as client:
                interval = job.args.poll_interval or LOCAL_POLL_SECONDS
                return await _engine_run(job, client, local_model, interval)
    except ConfigurationError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_CONFIG


async def _engine_run(job: _Job, client: Any, model: str, poll_interval: float) -> int:
    from ._batch._engines import (
        EngineState,
        ProviderBatchJob,
        _Api,
        engine_for,
        load_state,
        resolve_for,
        submit_parts,
    )
    from ._transport import make_http_client

    target = resolve_for(client, model, job.args.provider)
    engine = engine_for(target)
    wanted = "anthropic" if job.args.engine == "anthropic-batch" else "openai"
    if engine != wanted:
        raise BatchInputError(
            f"--engine {job.args.engine} needs a model of that provider; {model!r} is served by "
            f"{target.provider.name}"
        )
    path = state_path(job.output)
    state = await trio.to_thread.run_sync(load_state, path)
    if state is not None and not state.pending:
        state = None
    if job.args.cancel_remote:
        if state is None:
            _say(f"no provider job recorded in {path}: nothing to cancel")
            return EXIT_OK
        remote = ProviderBatchJob(client, state, target, state_file=path)
        await remote.cancel()
        _say(
            f"asked {target.provider.name} to cancel {', '.join(remote.job_ids)}; rerun without "
            "--cancel-remote to fetch what finished"
        )
        return EXIT_OK
    out = await OutputFile.open(job.output)
    summary = Summary()
    try:
        if state is None:
            scan = await trio.to_thread.run_sync(
                lambda: scan_input(
                    job.input,
                    shard=job.shard,
                    done=out.state,
                    keep_failed=job.keep_failed,
                    default_model=model,
                )
            )
            await _write_bad_lines(out, scan)
            summary.bad_lines = scan.bad_count
            if scan.to_run == 0:
                summary.print(BatchProgress(), job, interrupted=False)
                return EXIT_OK if summary.all_completed else EXIT_SOME_FAILED
            state = EngineState(engine=engine, model=model)
            remote = ProviderBatchJob(client, state, target, state_file=path)
            http = await make_http_client()
            try:

                async def requests() -> AsyncIterator[BatchRequest]:
                    async for item in requests_to_run(job, scan, out):
                        if isinstance(item, BatchRequest):
                            if job.args.max_tokens and item.max_tokens is None:
                                item.params["max_tokens"] = job.args.max_tokens
                            yield item

                async def saved(_: Any) -> None:
                    await remote.save()

                await submit_parts(
                    _Api(http, target, engine), state, requests(), on_submitted=saved
                )
            finally:
                with trio.CancelScope(shield=True):
                    await http.aclose()
            _say(
                f"submitted {scan.to_run} requests to {target.provider.name}'s batch engine as "
                f"{', '.join(remote.job_ids)} (50% off; results within 24h); their ids are "
                f"kept in {path}"
            )
        else:
            remote = ProviderBatchJob(client, state, target, state_file=path)
            _say(
                f"polling {', '.join(remote.job_ids)} recorded in {path} (nothing submitted again)"
            )
        started = trio.current_time()
        interrupted = False
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    nonlocal interrupted
                    async for _ in signals:
                        interrupted = True
                        nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                while True:
                    status = await remote.poll()
                    counts = ", ".join(f"{v} {k}" for k, v in sorted(status.counts.items()))
                    _say(f"{', '.join(sorted(set(status.statuses.values())))}: {counts}")
                    if status.ended:
                        break
                    await trio.sleep(poll_interval)
                nursery.cancel_scope.cancel()
        if interrupted:
            _say(
                f"interrupted: the job(s) {', '.join(remote.job_ids)} keep running at "
                f"{target.provider.name}. Rerun the same command to fetch the results, or add "
                "--cancel-remote to cancel them."
            )
            return EXIT_INTERRUPTED
        writer = _LineWriter(out)
        async for result in remote.iter_results():
            summary.add(result)
            writer.add(result.to_record())
            if len(writer.pending) >= 1000:
                await writer.flush()
        await writer.flush()
        if not state.pending:
            await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
        progress = BatchProgress(elapsed=trio.current_time() - started)
        summary.print(progress, job, interrupted=False)
        return EXIT_OK if summary.all_completed else EXIT_SOME_FAILED
    finally:
        await out.aclose()
