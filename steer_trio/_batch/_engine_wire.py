"""What the providers' batch engines are sent and what they answer (sans-IO).

A request of a batch becomes the provider's non-streaming request body (the same
builder as a live request, without the streaming fields), filed under a
``custom_id`` the provider accepts. A line of the provider's results file becomes a
:class:`BatchResult`: the answer parsed as a non-streaming body is, its cost with the
batch discount, or the per-request error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from .._errors import error_from_status
from .._events import StreamDeltaEvent, StreamEvent
from .._processing._pricing import PriceTable
from .._providers._base import RequestSpec
from .._providers._routing import ResolvedTarget
from .._providers._wires import WIRES
from .._response import ResponseBuilder, StreamingResponse
from ._estimate import request_messages
from ._types import PARAM_FIELDS, BatchRequest, BatchResult, BatchStatus

__all__ = [
    "BATCH_DISCOUNTS",
    "ENDED",
    "JOB_LIMITS",
    "OPENAI_ENDPOINT",
    "EngineName",
    "ResultReader",
    "auth_headers",
    "custom_id_for",
    "engine_for",
    "json_lines",
    "openai_input_file",
    "request_body",
]

EngineName = Literal["openai", "anthropic"]

#: The share taken off the price by each provider's batch engine.
BATCH_DISCOUNTS: Mapping[str, float] = {"openai": 0.5, "anthropic": 0.5}
#: Requests and bytes one job may hold (a little under each provider's limit).
JOB_LIMITS: Mapping[str, tuple[int, int]] = {
    "openai": (50_000, 190 * 1024 * 1024),
    "anthropic": (100_000, 240 * 1024 * 1024),
}
#: The job statuses after which nothing changes.
ENDED: Mapping[str, frozenset[str]] = {
    "openai": frozenset({"completed", "failed", "expired", "cancelled"}),
    "anthropic": frozenset({"ended"}),
}
#: The one endpoint OpenAI's batch jobs run here.
OPENAI_ENDPOINT = "/v1/chat/completions"
_ANTHROPIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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


def auth_headers(target: ResolvedTarget) -> dict[str, str]:
    """The headers that authenticate a call to the provider (its key, its version)."""
    spec = RequestSpec(provider=target.provider.name, model=target.model, messages=[])
    headers = dict(WIRES[target.provider.wire].build_request(spec, target.api_key).headers)
    headers.pop("accept", None)
    headers.pop("content-type", None)
    return headers


def openai_input_file(lines: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    """The JSONL file of an OpenAI batch job: one request a line."""
    return b"".join(
        json.dumps(
            {"custom_id": custom_id, "method": "POST", "url": OPENAI_ENDPOINT, "body": body},
            ensure_ascii=False,
        ).encode()
        + b"\n"
        for custom_id, body in lines
    )


# -- reading results -----------------------------------------------------------------------


def json_lines(content: bytes) -> Iterator[dict[str, Any]]:
    """The records of a JSONL results file."""
    for raw in content.splitlines():
        if raw.strip():
            yield json.loads(raw)


class ResultReader:
    """Results from the lines of one provider's results files, priced with ``prices``
    and the batch discount; ``ids`` maps custom ids back to the requests' own."""

    def __init__(
        self, engine: str, target: ResolvedTarget, prices: PriceTable, ids: Mapping[str, str]
    ) -> None:
        self._engine = engine
        self._target = target
        self._prices = prices
        self._ids = ids
        self._discount = BATCH_DISCOUNTS[engine]

    def read(self, line: Mapping[str, Any]) -> BatchResult:
        custom_id = str(line.get("custom_id"))
        item_id = self._ids.get(custom_id, custom_id)
        if self._engine == "openai":
            return self._openai(item_id, line)
        return self._anthropic(item_id, line)

    def _openai(self, item_id: str, line: Mapping[str, Any]) -> BatchResult:
        response = line.get("response") or {}
        error = line.get("error")
        status_code = response.get("status_code") if isinstance(response, Mapping) else None
        body = response.get("body") if isinstance(response, Mapping) else None
        if status_code == 200 and isinstance(body, Mapping):
            return self._completed(item_id, body)
        if isinstance(error, Mapping):
            code = str(error.get("code") or "error")
            message = str(error.get("message"))
            if code == "batch_expired":
                return self._failed(item_id, "timed_out", "BatchExpired", message)
            if code == "batch_cancelled":
                return self._failed(item_id, "cancelled", "BatchCancelled", message)
            return self._failed(item_id, "failed", code, message)
        raw = json.dumps(body).encode() if body is not None else b""
        typed = error_from_status(self._target.provider.name, int(status_code or 500), raw)
        return self._failed(item_id, "failed", type(typed).__name__, typed.message)

    def _anthropic(self, item_id: str, line: Mapping[str, Any]) -> BatchResult:
        result = line.get("result") or {}
        kind = result.get("type") if isinstance(result, Mapping) else None
        if kind == "succeeded" and isinstance(result.get("message"), Mapping):
            return self._completed(item_id, result["message"])
        if kind == "expired":
            return self._failed(item_id, "timed_out", "BatchExpired", "the batch expired first")
        if kind == "canceled":
            return self._failed(item_id, "cancelled", "BatchCancelled", "the batch was cancelled")
        error = result.get("error") if isinstance(result, Mapping) else None
        inner = error.get("error") if isinstance(error, Mapping) else None
        if not isinstance(inner, Mapping):
            inner = error if isinstance(error, Mapping) else {}
        return self._failed(
            item_id,
            "failed",
            str(inner.get("type") or "errored"),
            str(inner.get("message") or "the request failed"),
        )

    def _completed(self, item_id: str, body: Mapping[str, Any]) -> BatchResult:
        """A completed result from the provider's answer body (as non-streaming parsing)."""
        target = self._target
        wire = WIRES[target.provider.wire]
        spec = RequestSpec(provider=target.provider.name, model=target.model, messages=[])
        parser: Any = wire.make_parser(target.provider.name, target.model, spec)
        events: list[StreamEvent] = []
        wire.feed_body(parser, dict(body), events)
        builder = ResponseBuilder()
        for event in events:
            if isinstance(event, StreamDeltaEvent):
                builder.add(event)
        response = builder.build(
            StreamingResponse(provider=target.provider.name, model=target.model)
        )
        model = getattr(parser, "model", None) or target.model
        usage = parser.usage
        cost = None
        if usage is not None:
            priced = self._prices.cost(model, usage)
            if priced.cost_usd is None and model != target.model:
                priced = self._prices.cost(target.model, usage)
            if priced.cost_usd is not None:
                cost = priced.cost_usd * (1.0 - self._discount)
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
        self, item_id: str, status: BatchStatus, error_type: str, message: str
    ) -> BatchResult:
        return BatchResult(
            id=item_id,
            status=status,
            error_type=error_type,
            error_message=message,
            model=self._target.model,
            provider=self._target.provider.name,
            attempts=1 if status == "failed" else 0,
        )
