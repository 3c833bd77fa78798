"""The providers' batch engines: OpenAI's Batch API and Anthropic's Message Batches.

Same requests in, same :class:`BatchResult` out as a live batch, at the providers'
batch discount (:data:`BATCH_DISCOUNTS`, 50% for both as of 2025: kept as data in
``_engine_wire``, with the request bodies and result records, and in
docs/batch-jobs.md), within their 24-hour window instead of now.

* OpenAI: the requests as a JSONL file uploaded to ``/files`` (purpose ``batch``),
  ``POST /batches``, poll ``GET /batches/{id}``, then the ``output_file_id`` and
  ``error_file_id`` contents from ``/files/{id}/content``.
* Anthropic: ``POST /v1/messages/batches`` with the requests, poll
  ``GET /v1/messages/batches/{id}`` until ``processing_status`` is ``ended``, then the
  JSONL at ``results_url``.

Large inputs are split into several jobs (OpenAI takes 50,000 requests a job,
Anthropic 100,000). The job ids are kept in a state file (beside the output, for the
CLI), so a rerun polls the same jobs instead of submitting, and paying, again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx2
import trio

from .._checkpoints import caller_checkpoints
from .._errors import ConfigurationError, ProviderError, error_from_status
from .._processing._accounting import get_price_table
from .._providers._routing import ResolvedTarget, resolve_model
from .._transport import make_http_client
from ._engine_wire import (
    BATCH_DISCOUNTS,
    ENDED,
    JOB_LIMITS,
    OPENAI_ENDPOINT,
    EngineName,
    ResultReader,
    auth_headers,
    custom_id_for,
    engine_for,
    json_lines,
    openai_input_file,
    request_body,
)
from ._options import SUBMIT_KEYS, check_option_keywords, count_at_least, positive_number
from ._source import BatchRequests, RequestSource
from ._types import BatchInputError, BatchRequest, BatchResult

if TYPE_CHECKING:
    from typing import Unpack

    from .._client import SteerClient
    from ._options import SubmitOptions

__all__ = [
    "BATCH_DISCOUNTS",
    "ProviderBatchJob",
    "ProviderBatchStatus",
    "submit_batch",
]

#: Closing a connection pool is shielded, and bounded by this.
_CLOSE_SECONDS = 5.0


@attrs.define(slots=True, kw_only=True)
class EngineJob:
    """One job at the provider."""

    job_id: str
    count: int
    input_file_id: str | None = None
    status: str = "submitted"
    downloaded: bool = False


@attrs.define(slots=True, kw_only=True)
class ProviderBatchStatus:
    """Where the jobs stand: the provider's status per job and counts over all."""

    ended: bool
    statuses: dict[str, str]
    counts: dict[str, int]


@attrs.define(slots=True, kw_only=True)
class EngineState:
    """What the state file keeps: enough to poll, fetch or cancel after a restart."""

    engine: EngineName
    model: str
    jobs: list[EngineJob] = attrs.field(factory=list)
    #: custom_id -> id, for ids the provider would not take as they are.
    custom_ids: dict[str, str] = attrs.field(factory=dict)
    created_at: float = attrs.field(factory=time.time)

    def to_json(self) -> str:
        return json.dumps(
            {
                "engine": self.engine,
                "model": self.model,
                "created_at": self.created_at,
                "jobs": [attrs.asdict(job) for job in self.jobs],
                "custom_ids": self.custom_ids,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> EngineState:
        data = json.loads(text)
        engine = data["engine"]
        if engine not in ("openai", "anthropic"):
            raise ConfigurationError(f"the batch state file names an unknown engine {engine!r}")
        return cls(
            engine=engine,
            model=data["model"],
            created_at=data.get("created_at", 0.0),
            jobs=[EngineJob(**job) for job in data.get("jobs", [])],
            custom_ids=dict(data.get("custom_ids") or {}),
        )

    @property
    def pending(self) -> list[EngineJob]:
        return [job for job in self.jobs if not job.downloaded]


# -- talking to the provider ---------------------------------------------------------------


class _Api:
    """The HTTP calls of one engine, on one connection pool."""

    def __init__(self, http: httpx2.AsyncClient, target: ResolvedTarget, engine: EngineName):
        self.http = http
        self.target = target
        self.engine = engine
        self.headers = auth_headers(target)
        base = target.base_url.rstrip("/")
        self.base = base if engine == "openai" else base + "/v1"

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        url = path if path.startswith("http") else self.base + path
        response = await self.http.request(
            method, url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )
        if response.status_code >= 400:
            raise error_from_status(
                self.target.provider.name,
                response.status_code,
                response.content,
                headers=dict(response.headers),
            )
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._call(method, path, **kwargs)
        data = response.json()
        if not isinstance(data, dict):
            raise ProviderError(f"unexpected answer from {path}: {data!r}")
        return data

    async def submit(self, lines: list[tuple[str, dict[str, Any]]]) -> EngineJob:
        if self.engine == "openai":
            uploaded = await self._json(
                "POST",
                "/files",
                files={"file": ("batch.jsonl", openai_input_file(lines), "application/jsonl")},
                data={"purpose": "batch"},
            )
            job = await self._json(
                "POST",
                "/batches",
                json={
                    "input_file_id": uploaded["id"],
                    "endpoint": OPENAI_ENDPOINT,
                    "completion_window": "24h",
                    "metadata": {"created_by": "steer-trio"},
                },
            )
            return EngineJob(
                job_id=job["id"],
                count=len(lines),
                input_file_id=uploaded["id"],
                status=str(job.get("status")),
            )
        job = await self._json(
            "POST",
            "/messages/batches",
            json={"requests": [{"custom_id": c, "params": body} for c, body in lines]},
        )
        return EngineJob(job_id=job["id"], count=len(lines), status=str(job["processing_status"]))

    async def poll(self, job: EngineJob) -> tuple[bool, dict[str, Any]]:
        if self.engine == "openai":
            data = await self._json("GET", f"/batches/{job.job_id}")
            job.status = str(data.get("status"))
        else:
            data = await self._json("GET", f"/messages/batches/{job.job_id}")
            job.status = str(data.get("processing_status"))
        return job.status in ENDED[self.engine], data

    async def cancel(self, job: EngineJob) -> None:
        if self.engine == "openai":
            await self._json("POST", f"/batches/{job.job_id}/cancel")
        else:
            await self._json("POST", f"/messages/batches/{job.job_id}/cancel")

    @caller_checkpoints  # its caller opened the pool first (make_http_client checkpoints)
    async def results_files(self, data: Mapping[str, Any]) -> list[bytes]:
        """The JSONL results files of an ended job, whole."""
        if self.engine == "openai":
            urls = [
                f"/files/{data[key]}/content"
                for key in ("output_file_id", "error_file_id")
                if data.get(key)
            ]
        else:
            urls = [str(data["results_url"])] if data.get("results_url") else []
        return [(await self._call("GET", url)).content for url in urls]


@contextlib.asynccontextmanager
async def open_api(target: ResolvedTarget, engine: EngineName) -> AsyncIterator[_Api]:
    """The engine's calls on a connection pool of their own, closed on the way out."""
    http = await make_http_client()
    try:
        yield _Api(http, target, engine)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
            await http.aclose()


# -- the job -------------------------------------------------------------------------------


class ProviderBatchJob:
    """Jobs at a provider's batch engine: poll, wait, fetch results, cancel.

    ``client.submit_batch(...)`` makes one (or takes up the jobs in ``state_file`` if
    it names pending ones, submitting nothing)."""

    def __init__(
        self,
        client: SteerClient,
        state: EngineState,
        target: ResolvedTarget,
        *,
        state_file: Path | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        self._client = client
        self.state = state
        self.target = target
        self.state_file = state_file
        self.poll_interval = poll_interval
        self._last: dict[str, dict[str, Any]] = {}

    @property
    def engine(self) -> str:
        """Which provider's engine runs the jobs: ``"openai"`` or ``"anthropic"``."""
        return self.state.engine

    @property
    def job_ids(self) -> list[str]:
        """The provider's ids of the jobs this batch was split into."""
        return [job.job_id for job in self.state.jobs]

    def _connect(self) -> contextlib.AbstractAsyncContextManager[_Api]:
        return open_api(self.target, self.state.engine)

    async def poll(self) -> ProviderBatchStatus:
        """Ask the provider once where each pending job stands."""
        statuses: dict[str, str] = {}
        counts: dict[str, int] = {}
        ended = True
        async with self._connect() as api:
            for job in self.state.jobs:
                if job.downloaded:
                    statuses[job.job_id] = job.status
                    continue
                done, data = await api.poll(job)
                self._last[job.job_id] = data
                statuses[job.job_id] = job.status
                ended = ended and done
                for key, value in (data.get("request_counts") or {}).items():
                    if isinstance(value, int):
                        counts[key] = counts.get(key, 0) + value
        await self.save()
        return ProviderBatchStatus(ended=ended, statuses=statuses, counts=counts)

    async def wait(self, *, poll_interval: float | None = None) -> ProviderBatchStatus:
        """Poll until every job ended (on trio's clock: a cancel scope bounds it)."""
        interval = self.poll_interval if poll_interval is None else poll_interval
        while True:
            status = await self.poll()
            if status.ended:
                return status
            await trio.sleep(interval)

    def iter_results(self) -> AsyncIterator[BatchResult]:
        """Results of the ended jobs not fetched before, as an async iterator (each job
        is fetched once; the state file says which were). A job's results files are
        downloaded whole before its first result comes, so a loop left early leaves
        no connection open: that job is fetched again the next time."""
        return _JobResults(self)

    async def results(self) -> list[BatchResult]:
        """Wait for the jobs, then every result (in memory: for big jobs, iterate
        ``iter_results()``)."""
        await self.wait()
        return [result async for result in self.iter_results()]

    async def cancel(self) -> None:
        """Ask the provider to cancel every job not ended (what finished is kept)."""
        async with self._connect() as api:
            for job in self.state.pending:
                if job.status not in ENDED[self.state.engine]:
                    await api.cancel(job)
                    job.status = "cancelling"
        await self.save()

    async def save(self) -> None:
        """Write the state file now (job ids, id mapping), off the event loop."""
        if self.state_file is None:
            await trio.lowlevel.checkpoint()
            return
        await trio.to_thread.run_sync(save_state, self.state_file, self.state)

    async def _download(self, job: EngineJob) -> list[bytes] | None:
        """The results files of ``job`` (None: it has not ended)."""
        async with self._connect() as api:
            data = self._last.get(job.job_id)
            if data is None or job.status not in ENDED[self.state.engine]:
                done, data = await api.poll(job)
                if not done:
                    return None
            return await api.results_files(data)


class _JobResults:
    """The iterator of :meth:`ProviderBatchJob.iter_results`: one job's downloaded
    results at a time, each read as it is handed out."""

    def __init__(self, owner: ProviderBatchJob) -> None:
        self._owner = owner
        self._jobs = owner.state.pending
        self._current: EngineJob | None = None
        self._lines: Iterator[dict[str, Any]] = iter(())
        self._reader: ResultReader | None = None

    def __aiter__(self) -> _JobResults:
        return self

    async def __anext__(self) -> BatchResult:
        line = next(self._lines, None)
        if line is not None:
            await trio.lowlevel.checkpoint()
            return self._read(line)
        while True:
            if self._current is not None:
                # Every result of this job was handed out: it is not fetched again.
                self._current.downloaded = True
                self._current = None
                await self._owner.save()
            if not self._jobs:
                await trio.lowlevel.checkpoint()
                raise StopAsyncIteration
            job = self._jobs.pop(0)
            files = await self._owner._download(job)
            if files is None:
                continue
            if self._reader is None:
                owner = self._owner
                self._reader = ResultReader(
                    owner.state.engine,
                    owner.target,
                    await get_price_table(),
                    owner.state.custom_ids,
                )
            self._current = job
            self._lines = itertools.chain.from_iterable(json_lines(f) for f in files)
            line = next(self._lines, None)
            if line is not None:
                return self._read(line)

    def _read(self, line: Mapping[str, Any]) -> BatchResult:
        assert self._reader is not None
        return self._reader.read(line)


def save_state(path: Path, state: EngineState) -> None:
    """Blocking: write the state file atomically (a crash leaves the old or the new)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(state.to_json(), encoding="utf-8")
    os.replace(temporary, path)


def load_state(path: Path) -> EngineState | None:
    if not path.exists():
        return None
    return EngineState.from_json(path.read_text(encoding="utf-8"))


def resolve_for(client: SteerClient, model: str, provider: str | None = None) -> ResolvedTarget:
    """Where the client would send ``model`` (its keys and base URLs)."""
    return resolve_model(
        model,
        provider=provider or (None if "/" in model else client._default_provider),
        api_keys=client._api_keys,
        base_urls=client._base_urls,
        env=client._env,
    )


async def submit_parts(
    api: _Api,
    state: EngineState,
    requests: AsyncIterator[BatchRequest],
    *,
    max_per_job: int | None = None,
    on_submitted: Callable[[EngineState], Awaitable[None]] | None = None,
) -> None:
    """Build and submit the jobs, one part at a time (``on_submitted`` after each, to
    save the state). The caller closes ``requests``."""
    limit, max_bytes = JOB_LIMITS[state.engine]
    limit = min(limit, max_per_job or limit)
    part: list[tuple[str, dict[str, Any]]] = []
    size = 0
    async for request in requests:
        if request.model is not None and request.model != state.model:
            raise BatchInputError(
                f"request {request.id!r} names model {request.model!r}: a provider batch "
                f"job runs one model ({state.model!r}); run other models in their own job"
            )
        custom_id = custom_id_for(state.engine, request.id)
        if custom_id != request.id:
            state.custom_ids[custom_id] = request.id
        body = request_body(request, api.target)
        line_size = len(json.dumps(body)) + 200
        if part and (len(part) >= limit or size + line_size > max_bytes):
            await _submit_part(api, state, part, on_submitted)
            part, size = [], 0
        part.append((custom_id, body))
        size += line_size
    if part:
        await _submit_part(api, state, part, on_submitted)


async def _submit_part(
    api: _Api,
    state: EngineState,
    part: list[tuple[str, dict[str, Any]]],
    on_submitted: Callable[[EngineState], Awaitable[None]] | None,
) -> None:
    state.jobs.append(await api.submit(part))
    if on_submitted is not None:
        await on_submitted(state)


async def submit_batch(
    client: SteerClient,
    requests: BatchRequests,
    *,
    model: str = "gpt-4o-mini",
    **options: Unpack[SubmitOptions],
) -> ProviderBatchJob:
    """Submit ``requests`` to the model's provider batch engine; returns the job.

    With ``state_file``: if it names jobs not fetched yet, those are taken up and
    nothing is submitted (a rerun never pays twice); else the new jobs are recorded
    there as soon as each is created."""
    check_option_keywords(options, SUBMIT_KEYS, call="submit_batch")
    poll_interval = options.get("poll_interval", 30.0)
    positive_number("poll_interval", poll_interval, optional=False)
    max_per_job = options.get("max_per_job")
    if max_per_job is not None:
        count_at_least("max_per_job", max_per_job, 1)
    state_file = options.get("state_file")
    path = Path(state_file) if state_file is not None else None
    target = resolve_for(client, model, options.get("provider"))
    if path is not None:
        existing = await trio.to_thread.run_sync(load_state, path)
        if existing is not None and existing.pending:
            if existing.model != model:
                raise ConfigurationError(
                    f"{path} holds jobs for model {existing.model!r}, not {model!r}: fetch or "
                    "cancel them first, or use another state file"
                )
            return ProviderBatchJob(
                client, existing, target, state_file=path, poll_interval=poll_interval
            )
    state = EngineState(engine=engine_for(target), model=model)
    job = ProviderBatchJob(client, state, target, state_file=path, poll_interval=poll_interval)

    async def saved(_: EngineState) -> None:
        await job.save()

    source = RequestSource(requests, coerce=True)
    try:
        async with open_api(target, state.engine) as api:
            await submit_parts(api, state, source, max_per_job=max_per_job, on_submitted=saved)
    finally:
        await source.aclose()  # noqa: ASYNC102 - shielded and bounded inside
    return job
