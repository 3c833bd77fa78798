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
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ._batch._estimate import DEFAULT_EXPECTED_OUTPUT, Estimator
from ._batch._files import InputScan, OutputFile, PendingRequests, scan_input
from ._batch._jobfile import iter_lines, parse_shard, record_for_bad_line, scan_output
from ._batch._report import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
    Display,
    ResultWriter,
    alongside,
    duration,
    say,
)
from ._batch._types import BatchInputError, BatchRequest

if TYPE_CHECKING:
    from . import Batch, SteerClient
    from ._batch._options import BatchOptions

__all__ = ["Job", "add_batch_parser", "main", "write_bad_lines"]

ENGINES = ("live", "openai-batch", "anthropic-batch")
#: Below this many requests to run, worker processes cost more than they save.
WORKERS_FROM = 1000


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
        job = Job(args)
    except BatchInputError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = job.model()
    except SystemExit as exc:
        print(str(exc.code), file=sys.stderr)
        return EXIT_USAGE
    if args.engine != "live":
        from ._cli_batch_engine import run_engine

        return int(trio.run(run_engine, job, model))
    if job.dry_run:
        return int(trio.run(_dry_run, job, model))
    return int(trio.run(_live, job, model))


class Job:
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

    def batch_options(self) -> BatchOptions:
        """The batch's options, as the command line sets them."""
        args = self.args
        options: BatchOptions = {
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

    async def scan(self, out: OutputFile, model: str) -> InputScan:
        """The first pass over the input (off the event loop): what it holds, what is
        done already (in ``out``), what is left to run."""
        return await trio.to_thread.run_sync(
            lambda: scan_input(
                self.input,
                shard=self.shard,
                done=out.state,
                keep_failed=self.keep_failed,
                default_model=model,
            )
        )

    def pending(
        self,
        scan: InputScan,
        out: OutputFile,
        on_bad: Callable[[BatchInputError], object],
        *,
        max_tokens: int | None = None,
    ) -> PendingRequests:
        """The requests still to run, read as they are pulled (see ``PendingRequests``)."""
        return PendingRequests(
            self.input,
            shard=self.shard,
            duplicate_hashes=scan.duplicate_hashes,
            done=out.state,
            keep_failed=self.keep_failed,
            on_bad=on_bad,
            system=self.args.system,
            max_tokens=max_tokens,
        )


def default_workers() -> int:
    return os.cpu_count() or 1


async def write_bad_lines(out: OutputFile, scan: InputScan) -> None:
    """Bad lines are reported before anything is sent (once: not again on resume)."""
    scan.bad.sort(key=lambda error: error.line or 0)
    records = [
        record_for_bad_line(error) for error in scan.bad if error.line not in out.state.bad_lines
    ]
    await out.write(records)
    if records:
        say(f"{scan.bad_count} bad input line(s) written as errors, e.g. {scan.bad[0].message}")
    for error in scan.bad:
        if error.line is not None:
            out.state.bad_lines.add(error.line)


# -- the live run ----------------------------------------------------------------------


async def _live(job: Job, model: str | None) -> int:
    """One process: read, run, write, show progress; Ctrl-C stops gracefully."""
    from . import ConfigurationError, SteerClient
    from .cli import LOCAL_MODEL

    out = await OutputFile.open(job.output)
    try:
        if out.dropped_bytes:
            say(f"dropped a cut last line ({out.dropped_bytes} bytes) from {job.output}")
        scan = await job.scan(out, model or LOCAL_MODEL)
        if out.state.records:
            say(
                f"resuming: {scan.already_done} of {scan.requests} already in {job.output} "
                f"({'kept' if job.keep_failed else 'completed'}); {scan.to_run} to run"
            )
        await write_bad_lines(out, scan)
        workers = job.workers_for(scan.to_run)
        if model is not None:
            if workers > 1:
                return await _pool(job, model, scan, out, workers, {})
            async with SteerClient(
                base_url=job.args.base_url, provider=job.args.provider
            ) as client:
                return await _run(job, client, model, scan, out)
        say(
            "no provider API key found (OPENAI_API_KEY, ANTHROPIC_API_KEY, XAI_API_KEY): "
            "using the built-in local provider, a fake that writes demo stories (its answers "
            "cost nothing)."
        )
        from .testing import open_fake_provider

        async with open_fake_provider(story_delay=0.02) as server:
            if workers > 1:
                local = {"base_urls": {"local": server.openai_base_url}}
                return await _pool(job, LOCAL_MODEL, scan, out, workers, local)
            async with SteerClient(base_urls={"local": server.openai_base_url}) as client:
                return await _run(job, client, LOCAL_MODEL, scan, out)
    except ConfigurationError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        await out.aclose()  # noqa: ASYNC102 - shielded and bounded inside


async def _pool(
    job: Job,
    model: str,
    scan: InputScan,
    out: OutputFile,
    workers: int,
    client_config: dict[str, Any],
) -> int:
    from ._batch._pool import run_pool

    writer = ResultWriter(out, bad_lines=scan.bad_count)
    requests = job.pending(scan, out, writer.bad_line)
    config = {"base_url": job.args.base_url, "provider": job.args.provider, **client_config}
    try:
        return await run_pool(
            requests,
            writer,
            model=model,
            options=job.batch_options(),
            to_run=scan.to_run,
            workers=workers,
            client_config=config,
            show_progress=not job.args.no_progress,
        )
    finally:
        await requests.aclose()  # noqa: ASYNC102 - shielded and bounded inside


async def _run(job: Job, client: SteerClient, model: str, scan: InputScan, out: OutputFile) -> int:
    writer = ResultWriter(out, bad_lines=scan.bad_count)
    requests = job.pending(scan, out, writer.bad_line)
    options = job.batch_options()
    options["total"] = scan.to_run
    options["report_skipped"] = False
    batch = client.batch(requests, model=model, **options)
    display = Display(batch.progress, scan.to_run, enabled=not job.args.no_progress)
    try:
        async with (
            batch as results,
            alongside(display.run, writer.run, functools.partial(_watch_sigint, batch)),
        ):
            async for result in results:
                writer.add(result)
    finally:
        # Everything handed over is written, even on the way out of an error.
        await writer.flush()  # noqa: ASYNC102 - shielded inside; a disk write
        await requests.aclose()  # noqa: ASYNC102 - shielded and bounded inside
    interrupted = batch.stop_reason == "cancel"
    return writer.finish(batch.progress, to_run=scan.to_run, interrupted=interrupted)


async def _watch_sigint(batch: Batch) -> None:
    """First Ctrl-C: stop gracefully (partials written). Second: stop at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        count = 0
        async for _ in signals:
            count += 1
            if count > 1:
                raise KeyboardInterrupt
            say("interrupt: cancelling running items and writing their partials ...")
            batch.cancel()


# -- dry run ------------------------------------------------------------------------------

#: What a dry run assumes for the time estimate (said in its report).
ASSUMED_TTFT_SECONDS = 0.6
ASSUMED_TOKENS_PER_SECOND = 60.0


async def _dry_run(job: Job, chosen: str | None) -> int:
    from ._processing._accounting import get_price_table
    from .cli import LOCAL_MODEL

    model = chosen or LOCAL_MODEL
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


def dry_run_report(scan: InputScan, job: Job, model: str, *, seconds: float) -> str:
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
        shown = ", ".join(f"{k} {duration(v)}" for k, v in bounds.items())
        lines.append(
            f"  time: about {duration(bounds[binding])}, bound by {binding} ({shown}; assuming "
            f"{ASSUMED_TTFT_SECONDS:g}s to first token and {ASSUMED_TOKENS_PER_SECOND:g} tokens/s)"
        )
    return "\n".join(lines)
