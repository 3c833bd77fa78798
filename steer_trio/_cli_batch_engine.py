"""``steer-trio batch --engine openai-batch|anthropic-batch``: a provider's batch engine
from the terminal.

Submit once (the job ids go to a state file beside the output), poll until the jobs
end, fetch the results into the output. A rerun polls the recorded jobs instead of
submitting, and paying, again; Ctrl-C while polling leaves the jobs running at the
provider; ``--cancel-remote`` cancels them.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ._batch._engine_wire import engine_for
from ._batch._engines import (
    EngineState,
    ProviderBatchJob,
    load_state,
    open_api,
    resolve_for,
    submit_parts,
)
from ._batch._files import OutputFile
from ._batch._report import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ResultWriter,
    alongside,
    say,
)
from ._batch._types import BatchInputError, BatchProgress
from ._cli_batch import Job, write_bad_lines

if TYPE_CHECKING:
    from . import SteerClient
    from ._providers._routing import ResolvedTarget

__all__ = ["run_engine", "state_path"]

#: Seconds between polls of the local provider's batch engine (a demo: it ends fast).
LOCAL_POLL_SECONDS = 0.5


def state_path(output: Path) -> Path:
    """The engine's state file, beside the output: the job ids, for a rerun."""
    return output.with_name(output.name + ".batch-state.json")


async def run_engine(job: Job, model: str | None) -> int:
    """Submit once, poll, fetch, write; with no model, on the local provider's fake
    batch engine."""
    from . import ConfigurationError, SteerClient
    from .cli import LOCAL_MODEL

    await trio.lowlevel.checkpoint()  # on every path, the configuration error's too
    try:
        if model is not None:
            async with SteerClient(
                base_url=job.args.base_url, provider=job.args.provider
            ) as client:
                return await _run(job, client, model, job.args.poll_interval or 30.0)
        say(
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
                return await _run(job, client, local_model, interval)
    except ConfigurationError as exc:
        print(f"steer-trio batch: {exc}", file=sys.stderr)
        return EXIT_CONFIG


async def _run(job: Job, client: SteerClient, model: str, poll_interval: float) -> int:
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
            say(f"no provider job recorded in {path}: nothing to cancel")
            return EXIT_OK
        remote = ProviderBatchJob(client, state, target, state_file=path)
        await remote.cancel()
        say(
            f"asked {target.provider.name} to cancel {', '.join(remote.job_ids)}; rerun without "
            "--cancel-remote to fetch what finished"
        )
        return EXIT_OK
    out = await OutputFile.open(job.output)
    try:
        writer = ResultWriter(out)
        if state is None:
            submitted = await _submit(job, client, target, model, out, writer)
            if submitted is None:
                return writer.finish(BatchProgress(), to_run=0, interrupted=False)
            remote = submitted
        else:
            remote = ProviderBatchJob(client, state, target, state_file=path)
            say(f"polling {', '.join(remote.job_ids)} recorded in {path} (nothing submitted again)")
        started = trio.current_time()
        if not await _poll_until_ended(remote, poll_interval):
            say(
                f"interrupted: the job(s) {', '.join(remote.job_ids)} keep running at "
                f"{target.provider.name}. Rerun the same command to fetch the results, or add "
                "--cancel-remote to cancel them."
            )
            return EXIT_INTERRUPTED
        async for result in remote.iter_results():
            writer.add(result)
            if writer.waiting >= 1000:
                await writer.flush()
        await writer.flush()
        if not remote.state.pending:
            await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
        progress = BatchProgress(elapsed=trio.current_time() - started)
        return writer.finish(progress, to_run=writer.summary.total, interrupted=False)
    finally:
        await out.aclose()  # noqa: ASYNC102 - shielded and bounded inside


async def _submit(
    job: Job,
    client: SteerClient,
    target: ResolvedTarget,
    model: str,
    out: OutputFile,
    writer: ResultWriter,
) -> ProviderBatchJob | None:
    """Submit what the input holds and is not done yet (None: nothing to submit)."""
    path = state_path(job.output)
    scan = await job.scan(out, model)
    await write_bad_lines(out, scan)
    writer.summary.bad_lines = scan.bad_count
    if scan.to_run == 0:
        return None
    state = EngineState(engine=engine_for(target), model=model)
    remote = ProviderBatchJob(client, state, target, state_file=path)

    async def saved(_: EngineState) -> None:
        await remote.save()

    requests = job.pending(scan, out, writer.bad_line, max_tokens=job.args.max_tokens)
    try:
        async with open_api(target, state.engine) as api:
            await submit_parts(api, state, requests, on_submitted=saved)
    finally:
        await requests.aclose()  # noqa: ASYNC102 - shielded and bounded inside
        await writer.flush()  # noqa: ASYNC102 - shielded inside; a disk write
    say(
        f"submitted {scan.to_run} requests to {target.provider.name}'s batch engine as "
        f"{', '.join(remote.job_ids)} (50% off; results within 24h); their ids are kept in "
        f"{path}"
    )
    return remote


async def _poll_until_ended(remote: ProviderBatchJob, poll_interval: float) -> bool:
    """Poll, saying where the jobs stand, until they end (True) or Ctrl-C (False)."""
    interrupted = False
    with trio.open_signal_receiver(signal.SIGINT) as signals, trio.CancelScope() as scope:

        async def watch() -> None:
            nonlocal interrupted
            async for _ in signals:
                interrupted = True
                scope.cancel()

        async with alongside(watch):
            while True:
                status = await remote.poll()
                counts = ", ".join(f"{v} {k}" for k, v in sorted(status.counts.items()))
                say(f"{', '.join(sorted(set(status.statuses.values())))}: {counts}")
                if status.ended:
                    break
                await trio.sleep(poll_interval)
    return not interrupted
