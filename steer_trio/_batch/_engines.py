"""The providers' batch engines: OpenAI's Batch API and Anthropic's Message Batches.

Same requests in, same :class:`BatchResult` out as a live batch, at the providers'
batch discount (:data:`BATCH_DISCOUNTS`, 50% for both as of 2025: kept as data here
and in docs/batch-jobs.md), within their 24-hour window instead of now.

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

import hashlib
import json
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import httpx2
import trio

from .._errors import ConfigurationError, ProviderError, error_from_status
from .._events import StreamDeltaEvent, StreamEvent
from .._processing._accounting import get_price_table
from .._providers._base import RequestSpec
from .._providers._routing import ResolvedTarget, resolve_model
from .._providers._wires import WIRES
from .._response import ResponseBuilder, StreamingResponse
from .._transport import make_http_client
from ._estimate import request_messages
from ._types import PARAM_FIELDS, BatchInputError, BatchRequest, BatchResult

__all__ = [
    "BATCH_DISCOUNTS",
    "ProviderBatchJob",
    "ProviderBatchStatus",
    "submit_batch",
]

EngineName = Literal["openai", "anthropic"]

#: The share taken off the price by each provider's batch engine.
BATCH_DISCOUNTS: Mapping[str, float] = {"openai": 0.5, "anthropic": 0.5}
#: Requests and bytes one job may hold (a little under each provider's limit).
JOB_LIMITS: Mapping[str, tuple[int, int]] = {
    "openai": (50_000, 190 * 1024 * 1024),
    "anthropic": (100_000, 240 * 1024 * 1024),
}
_ANTHROPIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENDED = {
    "openai": {"completed", "failed", "expired", "cancelled"},
    "anthropic": {"ended"},
}
_HTTP_TIMEOUT = httpx2.Timeout(connect=30.0, read=300.0, write=300.0, pool=None)


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

    engine: str
    model: str
    jobs: list[EngineJob] = attrs.field(factory=list)
    #: custom_id -> id, for ids the provider would not take as they are.
    custom_ids: dict[str, str] = attrs.field(factory=dict)
    #: custom_id -> (input line, metadata), for the result records.
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
        return cls(
            engine=data["engine"],
            model=data["model"],
            created_at=data.get("created_at", 0.0),
            jobs=[EngineJob(**job) for job in data.get("jobs", [])],
            custom_ids=dict(data.get("custom_ids") or {}),
        )

    @property
    def pending(self) -> list[EngineJob]:
        return [job for job in self.jobs if not job.downloaded]


def custom_id_for(engine: str, item_id: str) -> str:
    """The provider's id for a request: the id itself where it is allowed."""
    if engine == "anthropic" and not _ANTHROPIC_ID.match(item_id):
        return "h" + hashlib.blake2b(item_id.encode(), digest_size=20).hexdigest()
    return item_id


def engine_for(target: ResolvedTarget) -> EngineName:
    return "anthropic" if target.provider.wire == "anthropic" else "openai"


# -- building requests -------------------------------------------------------------------


def request_body(request: BatchRequest, target: ResolvedTarget) -> dict[str, Any]:
    """The provider's non-streaming request body for one batch request."""
    params = dict(request.params)
    fields = {name: params.pop(name) for name in PARAM_FIELDS if name in params}
    spec = RequestSpec(
        provider=target.provider.name,
        model=target.model,
        messages=request_messages(request),
        stream=False,
        extra=params,
        **fields,
    )
    built = WIRES[target.provider.wire].build_request(spec, target.api_key)
    body = dict(built.json)
    body.pop("stream", None)
    body.pop("stream_options", None)
    return body


def _auth_headers(target: ResolvedTarget) -> dict[str, str]:
    spec = RequestSpec(provider=target.provider.name, model=target.model, messages=[])
    headers = dict(WIRES[target.provider.wire].build_request(spec, target.api_key).headers)
    headers.pop("accept", None)
    headers.pop("content-type", None)
    return headers


# -- reading results -----------------------------------------------------------------------


async def result_from_body(
    item_id: str,
    body: Mapping[str, Any],
    target: ResolvedTarget,
    discount: float,
) -> BatchResult:
    """A completed result from the provider's answer body (as non-streaming parsing)."""
    wire = WIRES[target.provider.wire]
    spec = RequestSpec(provider=target.provider.name, model=target.model, messages=[])
    parser: Any = wire.make_parser(target.provider.name, target.model, spec)
    events: list[StreamEvent] = []
    wire.feed_body(parser, dict(body), events)
    builder = ResponseBuilder()
    for event in events:
        if isinstance(event, StreamDeltaEvent):
            builder.add(event)
    response = builder.build(StreamingResponse(provider=target.provider.name, model=target.model))
    model = getattr(parser, "model", None) or target.model
    usage = parser.usage
    cost = None
    if usage is not None:
        priced = (await get_price_table()).cost(model, usage)
        if priced.cost_usd is None and model != target.model:
            priced = (await get_price_table()).cost(target.model, usage)
        if priced.cost_usd is not None:
            cost = priced.cost_usd * (1.0 - discount)
    return BatchResult(
        id=item_id,
        status="completed",
        text=response.text,
        tool_calls=[
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in response.tool_calls
        ],
        usage=usage,
        cost_usd=cost,
        model=model,
        provider=target.provider.name,
        finish_reason=(getattr(parser, "finish_reasons", {}) or {}).get(0),
        attempts=1,
    )


def _failed(
    item_id: str, status: str, error_type: str, message: str, target: ResolvedTarget
) -> BatchResult:
    return BatchResult(
        id=item_id,
        status=status,  # type: ignore[arg-type]
        error_type=error_type,
        error_message=message,
        model=target.model,
        provider=target.provider.name,
        attempts=1 if status == "failed" else 0,
    )


async def openai_result(
    line: Mapping[str, Any], ids: Mapping[str, str], target: ResolvedTarget
) -> BatchResult:
    item_id = ids.get(str(line.get("custom_id")), str(line.get("custom_id")))
    response = line.get("response") or {}
    error = line.get("error")
    status_code = response.get("status_code") if isinstance(response, Mapping) else None
    body = response.get("body") if isinstance(response, Mapping) else None
    if status_code == 200 and isinstance(body, Mapping):
        return await result_from_body(item_id, body, target, BATCH_DISCOUNTS["openai"])
    if isinstance(error, Mapping):
        code = str(error.get("code") or "error")
        if code == "batch_expired":
            return _failed(item_id, "timed_out", "BatchExpired", str(error.get("message")), target)
        if code == "batch_cancelled":
            return _failed(
                item_id, "cancelled", "BatchCancelled", str(error.get("message")), target
            )
        return _failed(item_id, "failed", code, str(error.get("message")), target)
    raw = json.dumps(body).encode() if body is not None else b""
    typed = error_from_status(target.provider.name, int(status_code or 500), raw)
    return _failed(item_id, "failed", type(typed).__name__, typed.message, target)


async def anthropic_result(
    line: Mapping[str, Any], ids: Mapping[str, str], target: ResolvedTarget
) -> BatchResult:
    item_id = ids.get(str(line.get("custom_id")), str(line.get("custom_id")))
    result = line.get("result") or {}
    kind = result.get("type") if isinstance(result, Mapping) else None
    if kind == "succeeded" and isinstance(result.get("message"), Mapping):
        return await result_from_body(
            item_id, result["message"], target, BATCH_DISCOUNTS["anthropic"]
        )
    if kind == "expired":
        return _failed(item_id, "timed_out", "BatchExpired", "the batch expired first", target)
    if kind == "canceled":
        return _failed(item_id, "cancelled", "BatchCancelled", "the batch was cancelled", target)
    error = result.get("error") if isinstance(result, Mapping) else None
    inner = error.get("error") if isinstance(error, Mapping) else None
    inner = inner if isinstance(inner, Mapping) else (error if isinstance(error, Mapping) else {})
    return _failed(
        item_id,
        "failed",
        str(inner.get("type") or "errored"),
        str(inner.get("message") or "the request failed"),
        target,
    )


# -- talking to the provider ---------------------------------------------------------------


class _Api:
    """The HTTP calls of one engine, on one connection pool."""

    def __init__(self, http: httpx2.AsyncClient, target: ResolvedTarget, engine: EngineName):
        self.http = http
        self.target = target
        self.engine = engine
        self.headers = _auth_headers(target)
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
            jsonl = b"".join(
                json.dumps(
                    {
                        "custom_id": custom_id,
                        "method": "POST",
                        "url": "/v1/chat/completions",
                        "body": body,
                    },
                    ensure_ascii=False,
                ).encode()
                + b"\n"
                for custom_id, body in lines
            )
            uploaded = await self._json(
                "POST",
                "/files",
                files={"file": ("batch.jsonl", jsonl, "application/jsonl")},
                data={"purpose": "batch"},
            )
            job = await self._json(
                "POST",
                "/batches",
                json={
                    "input_file_id": uploaded["id"],
                    "endpoint": "/v1/chat/completions",
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
        return job.status in _ENDED[self.engine], data

    async def cancel(self, job: EngineJob) -> None:
        if self.engine == "openai":
            await self._json("POST", f"/batches/{job.job_id}/cancel")
        else:
            await self._json("POST", f"/messages/batches/{job.job_id}/cancel")

    async def result_lines(self, data: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The JSONL results of an ended job, line by line."""
        if self.engine == "openai":
            urls = [
                f"/files/{data[key]}/content"
                for key in ("output_file_id", "error_file_id")
                if data.get(key)
            ]
        else:
            urls = [str(data["results_url"])] if data.get("results_url") else []
        for url in urls:
            response = await self._call("GET", url)
            for raw in response.content.splitlines():
                if raw.strip():
                    yield json.loads(raw)


# -- the job -------------------------------------------------------------------------------


class ProviderBatchJob:
    """Jobs at a provider's batch engine: poll, wait, fetch results, cancel.

    ``client.submit_batch(...)`` makes one (or takes up the jobs in ``state_file`` if
    it names pending ones, submitting nothing)."""

    def __init__(
        self,
        client: Any,
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
        """Which provider engine runs the job: ``"openai-batch"`` or ``"anthropic-batch"``."""
        return self.state.engine

    @property
    def job_ids(self) -> list[str]:
        """The provider's ids of the jobs this batch was split into."""
        return [job.job_id for job in self.state.jobs]

    async def _api(self) -> tuple[httpx2.AsyncClient, _Api]:
        http = await make_http_client()
        return http, _Api(http, self.target, self.state.engine)  # type: ignore[arg-type]

    async def poll(self) -> ProviderBatchStatus:
        """Ask the provider once where each pending job stands."""
        http, api = await self._api()
        try:
            statuses: dict[str, str] = {}
            counts: dict[str, int] = {}
            ended = True
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
        finally:
            with trio.CancelScope(shield=True):
                await http.aclose()

    async def wait(self, *, poll_interval: float | None = None) -> ProviderBatchStatus:
        """Poll until every job ended (on trio's clock: a cancel scope bounds it)."""
        interval = self.poll_interval if poll_interval is None else poll_interval
        while True:
            status = await self.poll()
            if status.ended:
                return status
            await trio.sleep(interval)

    async def iter_results(self) -> AsyncIterator[BatchResult]:
        """Results of the ended jobs not fetched before (each job is fetched once;
        the state file says which were)."""
        http, api = await self._api()
        try:
            ids = self.state.custom_ids
            read = openai_result if self.state.engine == "openai" else anthropic_result
            for job in self.state.jobs:
                if job.downloaded:
                    continue
                data = self._last.get(job.job_id)
                if data is None or job.status not in _ENDED[self.state.engine]:
                    done, data = await api.poll(job)
                    if not done:
                        continue
                async for line in api.result_lines(data):
                    yield await read(line, ids, self.target)
                job.downloaded = True
                await self.save()
        finally:
            with trio.CancelScope(shield=True):
                await http.aclose()

    async def results(self) -> list[BatchResult]:
        """Wait for the jobs, then every result (in memory: for big jobs, iterate
        ``iter_results()``)."""
        await self.wait()
        return [result async for result in self.iter_results()]

    async def cancel(self) -> None:
        """Ask the provider to cancel every job not ended (what finished is kept)."""
        http, api = await self._api()
        try:
            for job in self.state.pending:
                if job.status not in _ENDED[self.state.engine]:
                    await api.cancel(job)
                    job.status = "cancelling"
            await self.save()
        finally:
            with trio.CancelScope(shield=True):
                await http.aclose()

    async def save(self) -> None:
        """Write the state file now (job ids, id mapping), off the event loop."""
        if self.state_file is not None:
            await trio.to_thread.run_sync(save_state, self.state_file, self.state)


def save_state(path: Path, state: EngineState) -> None:
    """Blocking: write the state file atomically (a crash leaves the old or the new)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(state.to_json(), encoding="utf-8")
    os.replace(temporary, path)


def load_state(path: Path) -> EngineState | None:
    if not path.exists():
        return None
    return EngineState.from_json(path.read_text(encoding="utf-8"))


def resolve_for(client: Any, model: str, provider: str | None = None) -> ResolvedTarget:
    """Where the client would send ``model`` (its keys and base URLs)."""
    return resolve_model(
        model,
        provider=provider or (None if "/" in model else getattr(client, "_default_provider", None)),
        api_keys=getattr(client, "_api_keys", None),
        base_urls=getattr(client, "_base_urls", None),
        env=getattr(client, "_env", None),
    )


async def submit_parts(
    api: _Api,
    state: EngineState,
    requests: AsyncIterable[BatchRequest] | Iterable[BatchRequest],
    *,
    max_per_job: int | None = None,
    on_submitted: Any = None,
) -> None:
    """Build and submit the jobs, one part at a time (the state saved after each)."""
    engine = state.engine
    limit, max_bytes = JOB_LIMITS[engine]
    limit = min(limit, max_per_job or limit)
    part: list[tuple[str, dict[str, Any]]] = []
    size = 0

    async def send() -> None:
        nonlocal part, size
        if part:
            state.jobs.append(await api.submit(part))
            if on_submitted is not None:
                await on_submitted(state)
            part, size = [], 0

    items = requests if isinstance(requests, _Items) else _Items(requests, coerce=False)
    try:
        async for request in items:
            if request.model is not None and request.model != state.model:
                raise BatchInputError(
                    f"request {request.id!r} names model {request.model!r}: a provider batch "
                    f"job runs one model ({state.model!r}); run other models in their own job"
                )
            custom_id = custom_id_for(engine, request.id)
            if custom_id != request.id:
                state.custom_ids[custom_id] = request.id
            body = request_body(request, api.target)
            line_size = len(json.dumps(body)) + 200
            if part and (len(part) >= limit or size + line_size > max_bytes):
                await send()
            part.append((custom_id, body))
            size += line_size
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await items.aclose()
    await send()


class _Items:
    """Any iterable or async iterable of requests as an async iterator, each raw item
    coerced to a ``BatchRequest`` when asked (a class, not an async generator: nothing
    is left half-run for the garbage collector). ``aclose()`` closes an async source."""

    def __init__(self, items: AsyncIterable[Any] | Iterable[Any], *, coerce: bool) -> None:
        self._async: AsyncIterator[Any] | None = None
        self._sync: Iterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self._coerce = coerce
        self._position = 0

    def __aiter__(self) -> _Items:
        return self

    async def __anext__(self) -> BatchRequest:
        if self._async is not None:
            raw = await anext(self._async)
        else:
            assert self._sync is not None
            try:
                raw = next(self._sync)
            except StopIteration:
                raise StopAsyncIteration from None
        if self._coerce:
            raw = BatchRequest.coerce(raw, position=self._position)
        self._position += 1
        item: BatchRequest = raw
        return item

    async def aclose(self) -> None:
        close = getattr(self._async, "aclose", None)
        if close is not None:
            await close()


async def submit_batch(
    client: Any,
    requests: Iterable[Any] | AsyncIterable[Any],
    *,
    model: str = "gpt-4o-mini",
    provider: str | None = None,
    state_file: str | os.PathLike[str] | None = None,
    poll_interval: float = 30.0,
    max_per_job: int | None = None,
) -> ProviderBatchJob:
    """Submit ``requests`` to the model's provider batch engine; returns the job.

    With ``state_file``: if it names jobs not fetched yet, those are taken up and
    nothing is submitted (a rerun never pays twice); else the new jobs are recorded
    there as soon as each is created."""
    target = resolve_for(client, model, provider)
    engine = engine_for(target)
    path = Path(state_file) if state_file is not None else None
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
    state = EngineState(engine=engine, model=model)
    job = ProviderBatchJob(client, state, target, state_file=path, poll_interval=poll_interval)

    http = await make_http_client()
    try:
        api = _Api(http, target, engine)

        async def saved(_: EngineState) -> None:
            await job.save()

        await submit_parts(
            api,
            state,
            _Items(requests, coerce=True),
            max_per_job=max_per_job,
            on_submitted=saved,
        )
    finally:
        with trio.CancelScope(shield=True):
            await http.aclose()
    return job
