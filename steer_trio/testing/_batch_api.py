"""The providers' batch engines, faked: OpenAI's files and batches, Anthropic's
message batches, on the fake provider's server (a route hook).

Each request of a job is answered the way the fake provider answers a live request
for its model (``enqueue``, ``route``, or the default story), as a non-streaming body.
A job stays in progress for ``polls_to_finish`` polls, or until ``seconds_to_finish``
of trio's clock have passed; then it ends. ``fail_ids`` end as per-request errors,
``expire_after`` makes the job expire after that many requests, ``cancel`` works.

    async with open_fake_provider() as server:
        batches = FakeBatchAPI.install(server, polls_to_finish=2)
        ...
        batches.jobs  # what was submitted
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
import uuid
from collections.abc import Collection
from typing import Any

import attrs
import trio

from . import _wire
from ._scenario import Scenario
from ._server import Answer, FakeProvider

__all__ = ["FakeBatchAPI", "FakeBatchJob"]


@attrs.define
class FakeBatchJob:
    """One job on the fake provider's batch endpoints: what was submitted and where it
    stands (``status``, how often it was polled)."""

    id: str
    engine: str
    #: (custom_id, request body) in the order submitted.
    requests: list[tuple[str, dict[str, Any]]]
    created_at: float
    polls: int = 0
    status: str = "in_progress"
    cancel_requested: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: list[dict[str, Any]] = attrs.field(factory=list)


class FakeBatchAPI:
    """Batch endpoints for a :class:`FakeProvider` (install with :meth:`install`)."""

    def __init__(
        self,
        server: FakeProvider,
        *,
        polls_to_finish: int = 2,
        seconds_to_finish: float | None = None,
        fail_ids: Collection[str] = (),
        expire_after: int | None = None,
    ) -> None:
        self.server = server
        self.polls_to_finish = polls_to_finish
        self.seconds_to_finish = seconds_to_finish
        self.fail_ids = set(fail_ids)
        self.expire_after = expire_after
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, FakeBatchJob] = {}

    @classmethod
    def install(
        cls,
        server: FakeProvider,
        *,
        polls_to_finish: int = 2,
        seconds_to_finish: float | None = None,
        fail_ids: Collection[str] = (),
        expire_after: int | None = None,
    ) -> FakeBatchAPI:
        """Add the batch endpoints to ``server`` and return them."""
        api = cls(
            server,
            polls_to_finish=polls_to_finish,
            seconds_to_finish=seconds_to_finish,
            fail_ids=fail_ids,
            expire_after=expire_after,
        )
        server.route_hooks.append(api.handle)
        return api

    # -- routing -------------------------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Answer | None:
        """Answer a request to a batch endpoint, or None for the server's other routes."""
        await trio.lowlevel.checkpoint()
        return self._route(method, path, headers, body)

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        parts = [p for p in path.split("/") if p]
        # OpenAI: /v1/files, /v1/files/{id}/content, /v1/batches[/{id}[/cancel]]
        if parts[:2] == ["v1", "files"]:
            if method == "POST" and len(parts) == 2:
                return self._upload(headers, body)
            if method == "GET" and len(parts) == 4 and parts[3] == "content":
                return self._file_content(parts[2])
        if parts[:2] == ["v1", "batches"]:
            if method == "POST" and len(parts) == 2:
                return self._create_openai(body)
            if len(parts) >= 3:
                job = self.jobs.get(parts[2])
                if job is None:
                    return _not_found(f"no batch {parts[2]}")
                if method == "POST" and parts[3:] == ["cancel"]:
                    job.cancel_requested = True
                    return 200, self._openai_view(job), {}, "application/json"
                if method == "GET" and len(parts) == 3:
                    self._advance(job)
                    return 200, self._openai_view(job), {}, "application/json"
        # Anthropic: /v1/messages/batches[/{id}[/cancel|/results]]
        if parts[:3] == ["v1", "messages", "batches"]:
            if method == "POST" and len(parts) == 3:
                return self._create_anthropic(body)
            if len(parts) >= 4:
                job = self.jobs.get(parts[3])
                if job is None:
                    return _not_found(f"no message batch {parts[3]}")
                if method == "POST" and parts[4:] == ["cancel"]:
                    job.cancel_requested = True
                    return 200, self._anthropic_view(job), {}, "application/json"
                if method == "GET" and parts[4:] == ["results"]:
                    if job.status != "ended":
                        return _bad("the batch has not ended")
                    data = b"".join(json.dumps(r).encode() + b"\n" for r in job.results)
                    return 200, data, {}, "application/binary"
                if method == "GET" and len(parts) == 4:
                    self._advance(job)
                    return 200, self._anthropic_view(job), {}, "application/json"
        return None

    # -- OpenAI --------------------------------------------------------------------------

    def _upload(self, headers: dict[str, str], body: bytes) -> Answer:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body
        )
        purpose = None
        content = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "purpose":
                purpose = part.get_content().strip()
            elif name == "file":
                content = part.get_payload(decode=True)
        if purpose != "batch" or not isinstance(content, bytes):
            return _bad("upload a 'file' with purpose 'batch'")
        file_id = f"file-{uuid.uuid4().hex[:20]}"
        self.files[file_id] = content
        return (
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": "batch.jsonl",
                "purpose": "batch",
            },
            {},
            "application/json",
        )

    def _file_content(self, file_id: str) -> Answer:
        if file_id not in self.files:
            return _not_found(f"no file {file_id}")
        return 200, self.files[file_id], {}, "application/jsonl"

    def _create_openai(self, body: bytes) -> Answer:
        data = json.loads(body or b"{}")
        content = self.files.get(str(data.get("input_file_id")))
        if content is None:
            return _bad("input_file_id names no uploaded file")
        if data.get("endpoint") != "/v1/chat/completions" or data.get("completion_window") != "24h":
            return _bad("endpoint must be /v1/chat/completions and completion_window 24h")
        requests = []
        for raw in content.splitlines():
            if raw.strip():
                line = json.loads(raw)
                requests.append((line["custom_id"], line["body"]))
        job = FakeBatchJob(
            id=f"batch_{uuid.uuid4().hex[:20]}",
            engine="openai",
            requests=requests,
            created_at=trio.current_time(),
        )
        self.jobs[job.id] = job
        return 200, self._openai_view(job), {}, "application/json"

    def _openai_view(self, job: FakeBatchJob) -> dict[str, Any]:
        done = sum(1 for r in job.results if r.get("response", {}) and not r.get("error"))
        failed = len(job.results) - done
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "status": job.status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "request_counts": {"total": len(job.requests), "completed": done, "failed": failed},
        }

    # -- Anthropic -----------------------------------------------------------------------

    def _create_anthropic(self, body: bytes) -> Answer:
        data = json.loads(body or b"{}")
        requests = [(r["custom_id"], r["params"]) for r in data.get("requests") or []]
        if not requests:
            return _bad("requests: at least one")
        job = FakeBatchJob(
            id=f"msgbatch_{uuid.uuid4().hex[:20]}",
            engine="anthropic",
            requests=requests,
            created_at=trio.current_time(),
        )
        self.jobs[job.id] = job
        return 200, self._anthropic_view(job), {}, "application/json"

    def _anthropic_view(self, job: FakeBatchJob) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if job.status != "ended":
            counts["processing"] = len(job.requests)
        for result in job.results:
            counts[result["result"]["type"]] += 1
        results_url = (
            f"{self.server.base_url}/v1/messages/batches/{job.id}/results"
            if job.status == "ended"
            else None
        )
        status = job.status if job.status in ("in_progress", "ended") else "canceling"
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "results_url": results_url,
        }

    # -- running a job -------------------------------------------------------------------

    def _advance(self, job: FakeBatchJob) -> None:
        if job.status not in ("in_progress", "validating", "cancelling"):
            return
        job.polls += 1
        finished = job.polls >= self.polls_to_finish
        if self.seconds_to_finish is not None:
            finished = trio.current_time() - job.created_at >= self.seconds_to_finish
        if job.cancel_requested:
            if job.engine == "openai" and job.status != "cancelling":
                job.status = "cancelling"
                return
            self._finish(job, cancelled=True)
        elif finished:
            self._finish(job, cancelled=False)

    def _finish(self, job: FakeBatchJob, *, cancelled: bool) -> None:
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        expired = False
        for position, (custom_id, body) in enumerate(job.requests):
            cut = cancelled and position >= len(job.requests) // 2
            late = self.expire_after is not None and position >= self.expire_after
            expired = expired or late
            if job.engine == "openai":
                line = self._openai_line(custom_id, body, cut=cut, late=late)
                (
                    errors if line["error"] or line["response"]["status_code"] != 200 else outputs
                ).append(line)
            else:
                job.results.append(self._anthropic_line(custom_id, body, cut=cut, late=late))
        if job.engine == "openai":
            job.results = outputs + errors
            if outputs:
                job.output_file_id = self._store(outputs)
            if errors:
                job.error_file_id = self._store(errors)
            job.status = "cancelled" if cancelled else ("expired" if expired else "completed")
        else:
            job.status = "ended"

    def _store(self, lines: list[dict[str, Any]]) -> str:
        file_id = f"file-{uuid.uuid4().hex[:20]}"
        self.files[file_id] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        return file_id

    def _answer(self, body: dict[str, Any], dialect: str) -> Scenario:
        item = self.server._pick(body, dialect)
        return item if isinstance(item, Scenario) else Scenario()

    def _openai_line(
        self, custom_id: str, body: dict[str, Any], *, cut: bool, late: bool
    ) -> dict[str, Any]:
        line: dict[str, Any] = {
            "id": f"batch_req_{uuid.uuid4().hex[:16]}",
            "custom_id": custom_id,
            "response": None,
            "error": None,
        }
        if late or cut:
            code = "batch_expired" if late else "batch_cancelled"
            line["error"] = {"code": code, "message": f"This request was not run ({code})."}
        elif custom_id in self.fail_ids:
            line["response"] = {
                "status_code": 400,
                "request_id": "req_fake",
                "body": {
                    "error": {
                        "message": "Invalid request (a fake failure).",
                        "type": "invalid_request_error",
                    }
                },
            }
        else:
            completion = _wire.openai_completion(self._answer(body, "openai"), body)
            line["response"] = {"status_code": 200, "request_id": "req_fake", "body": completion}
        return line

    def _anthropic_line(
        self, custom_id: str, body: dict[str, Any], *, cut: bool, late: bool
    ) -> dict[str, Any]:
        if late:
            return {"custom_id": custom_id, "result": {"type": "expired"}}
        if cut:
            return {"custom_id": custom_id, "result": {"type": "canceled"}}
        if custom_id in self.fail_ids:
            return {
                "custom_id": custom_id,
                "result": {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Invalid request (a fake failure).",
                        },
                    },
                },
            }
        message = _wire.anthropic_message(self._answer(body, "anthropic"), body)
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def _bad(message: str) -> Answer:
    return (
        400,
        {"error": {"message": message, "type": "invalid_request_error"}},
        {},
        "application/json",
    )


def _not_found(message: str) -> Answer:
    return 404, {"error": {"message": message, "type": "not_found_error"}}, {}, "application/json"
