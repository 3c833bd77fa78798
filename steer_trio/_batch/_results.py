"""One item of a live batch, and the :class:`BatchResult` it ends with."""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs
import trio

from .._errors import DeadlineExceeded
from .._response import StreamingResponse
from ._types import BatchInputError, BatchRequest, BatchResult, BatchStatus, BatchStopped

__all__ = ["Item", "StopReason", "input_failure", "result_for", "skipped", "stop_error"]

#: Why a batch stopped early.
StopReason = Literal["budget", "fail_fast", "cancel", "deadline", "outer"]

_STOP_MESSAGES: dict[str | None, str] = {
    "budget": "the budget (max_cost_usd) stopped the batch",
    "fail_fast": "another item failed and fail_fast is on",
    "cancel": "the batch was cancelled",
    "deadline": "the batch passed its deadline",
    "outer": "the batch was interrupted",
    None: "the batch ended first",
}


@attrs.define(slots=True, eq=False)
class Item:
    """A request while it runs: what it was estimated at, admitted to, sent, and got."""

    request: BatchRequest
    index: int
    model: str
    group: str
    prompt_tokens: int = 0
    output_tokens: int = 0
    #: The budget let it start (its projected cost is committed).
    admitted: bool = False
    attempts: int = 0
    requeues: int = 0
    spent: float = 0.0
    first_sent_at: float | None = None
    deadline_at: float = math.inf
    #: The latest response or partial, and the latest error.
    last: StreamingResponse[Any] | None = None
    error: BaseException | None = None
    scope: trio.CancelScope | None = None
    sent: bool = False

    @property
    def partial_response(self) -> StreamingResponse[Any] | None:
        """The latest response, if it is a partial one."""
        return self.last if self.last is not None and self.last.is_partial else None

    @property
    def answered(self) -> bool:
        """Its answer is complete (a stop that comes now is too late to cut it)."""
        return self.last is not None and not self.last.is_partial and self.error is None


def result_for(
    item: Item,
    status: BatchStatus,
    response: StreamingResponse[Any] | None,
    error: BaseException | None = None,
    partial: bool = False,
) -> BatchResult:
    """The result of ``item``, with what ``response`` (or a partial) holds."""
    request = item.request
    result = BatchResult(
        id=request.id,
        status=status,
        partial=partial,
        attempts=item.attempts,
        metadata=request.metadata,
        line=request.line,
        index=item.index,
        model=item.model,
        error=error,
        error_type=type(error).__name__ if error is not None else None,
        error_message=(str(error) or type(error).__name__) if error is not None else None,
    )
    if item.sent:
        result.cost_usd = item.spent
    if response is not None:
        result.response = response
        result.text = response.text
        result.json = response.json_value
        result.tool_calls = [
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in response.tool_calls
        ]
        result.usage = response.usage_info
        result.model = response.model or item.model
        result.provider = response.provider or None
        result.finish_reason = response.finish_reason
        result.time_to_first_token_ms = response.metrics.get("time_to_first_token_ms")
    if item.first_sent_at is not None:
        result.latency_ms = (trio.current_time() - item.first_sent_at) * 1000.0
    return result


def failed(item: Item, error: BaseException) -> BatchResult:
    partial = item.partial_response
    return result_for(item, "failed", partial, error, partial=partial is not None)


def timed_out(item: Item, item_deadline: float | None) -> BatchResult:
    error = item.error if isinstance(item.error, DeadlineExceeded) else None
    if error is None:
        error = DeadlineExceeded(
            f"item {item.request.id!r} passed its item_deadline of {item_deadline}s"
        )
    return result_for(item, "timed_out", item.partial_response, error, partial=item.sent)


def cut(item: Item, status: BatchStatus, reason: str | None) -> BatchResult:
    """A started item the batch stopped: it ends with what it got."""
    return result_for(item, status, item.last, stop_error(reason), partial=True)


def skipped(request: BatchRequest, index: int, *, reason: str | None, model: str) -> BatchResult:
    """A request the batch never started."""
    error = stop_error(reason or "cancel")
    return BatchResult(
        id=request.id,
        status="skipped",
        error=error,
        error_type="BatchSkipped",
        error_message=error.message,
        metadata=request.metadata,
        line=request.line,
        index=index,
        model=model,
    )


def stop_error(reason: str | None) -> BatchStopped:
    return BatchStopped(_STOP_MESSAGES.get(reason, "the batch stopped"))


def input_failure(error: BatchInputError, index: int) -> BatchResult:
    """The failed result of an input item that is not a request."""
    return BatchResult(
        id=error.item_id if error.item_id is not None else str(index),
        status="failed",
        error=error,
        error_type="BatchInputError",
        error_message=error.message,
        line=error.line,
        index=index,
    )
