"""Running the items of a live batch, each in a task of its own.

An item waits for a concurrency slot, then the budget (its projected cost), then the
rate limits, and streams. 429s are handled here, not by the transport (items run with
``max_retries=0``): a 429 sets a cooldown shared by every item of that provider and
model, and the item goes back to wait behind the others. Other retryable errors are
retried in place (the streaming options' ``max_retries``, with their backoff) unless
content had arrived, then sent back to the queue ``retry_failed`` times.

Whatever happens, the item ends with one result handed to the batch, which
delivers it: completed, failed, timed out, cut by a stop (cancelled, with its
partial) or skipped (never started).
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

import trio

from .._checkpoints import caller_checkpoints
from .._config import StreamingOptions
from .._errors import (
    ConfigurationError,
    DeadlineExceeded,
    RateLimitError,
    SteerError,
)
from .._events import StreamErrorEvent
from .._providers._routing import route_model
from .._response import StreamingResponse
from ._budget import BudgetGuard
from ._estimate import Estimator
from ._limits import RateLimiter, Reservation
from ._results import Item, cut, failed, result_for, skipped, timed_out
from ._types import BatchRequest, BatchResult, BatchStatus

if TYPE_CHECKING:
    from ._runner import Batch

__all__ = ["ItemRunner", "no_price"]

#: Per-request option sets kept, at most (most batches have one or two).
_OPTIONS_KEPT = 64


class ItemRunner:
    """The items of one batch while they run: the slots, the budget, the rate limits
    they share, and the live items (for a stop to cancel)."""

    def __init__(self, batch: Batch, estimator: Estimator) -> None:
        self._batch = batch
        self.estimator = estimator
        self.limiter = RateLimiter(
            requests_per_minute=batch.requests_per_minute,
            tokens_per_minute=batch.tokens_per_minute,
            share=batch._limit_share,
            learn=batch.learn_limits,
        )
        self.budget = BudgetGuard(batch.max_cost_usd)
        self._slots = trio.CapacityLimiter(batch.max_concurrency)
        self._live: set[Item] = set()
        self._options: dict[tuple[int, bool], tuple[StreamingOptions, StreamingOptions]] = {}
        #: The batch's max_tokens, for the estimates of requests without their own.
        self._max_tokens: int | None = BatchRequest(id="", params=batch._params).max_tokens

    def cancel_live(self, *, running: bool) -> None:
        """Cancel the items not yet sent (and not admitted), and with ``running`` the
        running ones too."""
        for live in list(self._live):
            if live.scope is not None and (running or not (live.sent or live.admitted)):
                live.scope.cancel()

    # -- one item --------------------------------------------------------------------------

    async def run(self, request: BatchRequest, index: int) -> None:
        """One item's task: its result reaches the batch whatever happens (a Cancelled
        or Ctrl-C goes on after it)."""
        batch = self._batch
        item: Item | None = None
        try:
            if request.model is not None and request.model != batch.model:
                await self.estimator.prepare(request.model)
            item = self._prepare(request, index)
            self._live.add(item)
            with trio.CancelScope() as item.scope:
                if batch.stop_reason in ("budget", "fail_fast"):
                    item.scope.cancel()
                result = await self._attempts(item)
            if item.scope.cancelled_caught:
                # This item alone was stopped (fail-fast, the budget), unless its
                # answer was already complete when the stop came.
                result = (
                    result_for(item, "completed", item.last)
                    if item.answered
                    else self._stopped(item)
                )
        except BaseException:
            # Cancelled (the batch: cancel(), its deadline, an outer scope) or Ctrl-C:
            # report what this item got before the exception goes on.
            if item is None:
                item = Item(request=request, index=index, model=batch.model, group="")
            self._finish(item, self._interrupted(item))
            raise
        self._finish(item, result)

    def _prepare(self, request: BatchRequest, index: int) -> Item:
        model = request.model or self._batch.model
        try:
            config, wire_model = route_model(model, request.provider)
            group = f"{config.name}/{wire_model}"
        except ConfigurationError:
            group = model
        item = Item(request=request, index=index, model=model, group=group)
        item.prompt_tokens = self.estimator.prompt_tokens(request, model)
        item.output_tokens = self.estimator.output_tokens(request, self._max_tokens)
        return item

    async def _attempts(self, item: Item) -> BatchResult:
        batch = self._batch
        progress = batch.progress
        in_place = 0
        rate_limited = 0
        options, max_retries = self._options_for(item.request)
        while True:
            with trio.move_on_at(item.deadline_at) as waited:
                async with self._slots:
                    reservation = await self._start(item)
                    if reservation is None:
                        return self._stopped(item)
                    outcome = await self._attempt(item, options, reservation)
            if waited.cancelled_caught:
                return timed_out(item, batch.item_deadline)
            if isinstance(outcome, StreamingResponse):
                return result_for(item, "completed", outcome)
            error = outcome
            if isinstance(error, RateLimitError) and error.is_retryable:
                rate_limited += 1
                progress.rate_limited += 1
                seconds = self.limiter.rate_limited(item.group, error.retry_after, error.headers)
                batch._event("cooldown", item.request.id, {"seconds": seconds, "group": item.group})
                if rate_limited <= batch.rate_limit_retries:
                    continue
            elif isinstance(error, DeadlineExceeded):
                return timed_out(item, batch.item_deadline)
            elif error.is_retryable and not _content_arrived(error) and in_place < max_retries:
                in_place += 1
                progress.retries += 1
                delay = batch._retry.delay_for(in_place, getattr(error, "retry_after", None))
                if trio.current_time() + delay >= item.deadline_at:
                    return timed_out(item, batch.item_deadline)
                await trio.sleep(delay)
                continue
            if error.is_retryable and item.requeues < batch.retry_failed:
                # Back to the queue: behind every item already waiting for a slot.
                item.requeues += 1
                in_place = 0
                rate_limited = 0
                progress.requeued += 1
                continue
            return failed(item, error)

    @caller_checkpoints  # called holding a concurrency slot, whose acquisition checkpoints
    async def _start(self, item: Item) -> Reservation | None:
        """Budget, then rate limits. None: the batch stopped meanwhile."""
        batch = self._batch
        if self._stopped_for(item):
            return None
        if batch.max_cost_usd is not None and not item.admitted:
            projected = self.estimator.cost(item.model, item.prompt_tokens, item.output_tokens)
            if projected is None:
                raise no_price(item.model)
            if not self.budget.admits(projected):
                batch._stop("budget")
                return None
            item.admitted = True
            self.budget.start(item, projected)
        tokens = float(item.prompt_tokens + item.output_tokens)
        reservation = await self.limiter.acquire(
            item.group,
            {
                "requests": 1.0,
                "tokens": tokens,
                "input_tokens": float(item.prompt_tokens),
                "output_tokens": float(item.output_tokens),
            },
        )
        if self._stopped_for(item):
            return None
        return reservation

    def _stopped_for(self, item: Item) -> bool:
        """Fail-fast stops everyone; the budget stops what it has not admitted."""
        reason = self._batch.stop_reason
        if reason == "fail_fast":
            return True
        return reason == "budget" and not item.admitted

    @caller_checkpoints  # called holding a concurrency slot, whose acquisition checkpoints
    async def _attempt(
        self, item: Item, options: StreamingOptions, reservation: Reservation
    ) -> StreamingResponse[Any] | SteerError:
        batch = self._batch
        now = trio.current_time()
        if item.first_sent_at is None:
            item.first_sent_at = now
            if batch.item_deadline is not None:
                item.deadline_at = now + batch.item_deadline
        if item.deadline_at != math.inf:
            remaining = item.deadline_at - now
            if options.deadline is None or options.deadline > remaining:
                options = options.replace(deadline=max(remaining, 1e-3))
        item.attempts += 1
        if not item.sent:
            item.sent = True
            batch.progress.started += 1
            batch.progress.running += 1
            batch._event("started", item.request.id, {})
        request = item.request
        keywords: dict[str, Any] = {**batch._params, **request.params, **request.callbacks}
        user_on_error = keywords.pop("on_error", None)

        @caller_checkpoints  # a callback, run on the stream's own path by its pipeline
        async def on_error(event: StreamErrorEvent) -> None:
            if event.error_type == "cancelled":
                item.last = event.partial
            if user_on_error is not None:
                result = user_on_error(event)
                if inspect.isawaitable(result):
                    await result

        try:
            response: StreamingResponse[Any] = await batch._client.stream_with_usage(
                request.prompt_or_messages(),
                item.model,
                provider=request.provider,
                streaming_options=options,
                system=request.system,
                on_error=on_error,
                **keywords,
            )
        except SteerError as error:
            if error.partial is not None:
                item.last = error.partial
            item.error = error
            self._account(item, reservation, error.partial, getattr(error, "headers", None))
            return error
        except BaseException:
            # Cancelled or Ctrl-C: the partial came through on_error.
            self._account(item, reservation, item.last, None)
            raise
        item.last = response
        item.error = None
        self._account(item, reservation, response, response.headers)
        self.limiter.succeeded(item.group)
        return response

    def _account(
        self,
        item: Item,
        reservation: Reservation,
        response: StreamingResponse[Any] | None,
        headers: dict[str, str] | None,
    ) -> None:
        batch = self._batch
        progress = batch.progress
        usage = response.usage_info if response is not None else None
        actual: dict[str, float] = {"tokens": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}
        if usage is not None:
            actual = {
                "tokens": float(usage.total_tokens),
                "input_tokens": float(usage.prompt_tokens),
                "output_tokens": float(usage.completion_tokens),
            }
            progress.prompt_tokens += usage.prompt_tokens
            progress.completion_tokens += usage.completion_tokens
        self.limiter.settle(reservation, actual)
        cost = response.cost_usd if response is not None else None
        if cost is not None:
            item.spent += cost
            progress.cost_usd += cost
            if item.admitted:
                self.budget.spend(item, cost)
        if headers:
            learned = self.limiter.learn(item.group, headers, observed_at=reservation.at)
            if learned:
                batch._update_limits()
                batch._event("limits", item.request.id, {"group": item.group, "learned": learned})

    def _options_for(self, request: BatchRequest) -> tuple[StreamingOptions, int]:
        """The options for each request of an item, and its retry count: 429s and
        retries are the runner's, so the transport makes one request per attempt."""
        batch = self._batch
        options = request.streaming_options or batch._options
        key = (id(options), _wants_json(request.params.get("response_format")))
        cached = self._options.get(key)
        if cached is not None and cached[0] is options:
            return cached[1], options.max_retries
        changes: dict[str, Any] = {"max_retries": 0}
        response_format = request.params.get(
            "response_format", batch._params.get("response_format")
        )
        if _wants_json(response_format):
            changes["enable_json_stream_handler"] = True
        replaced = options.replace(**changes)
        if len(self._options) < _OPTIONS_KEPT:
            self._options[key] = (options, replaced)
        return replaced, options.max_retries

    # -- how it ends -----------------------------------------------------------------------

    def _stopped(self, item: Item) -> BatchResult:
        """Stopped by the batch (budget, fail-fast): cut if it had started, else skipped."""
        if item.sent:
            return cut(item, "cancelled", self._batch.stop_reason)
        return self._skipped(item)

    def _interrupted(self, item: Item) -> BatchResult:
        """Cancelled with the batch, or by Ctrl-C."""
        if not item.sent:
            return self._skipped(item)
        batch = self._batch
        status: BatchStatus = "cancelled"
        if batch.stop_reason == "deadline" or (
            batch.stop_reason is None and batch._deadline_passed()
        ):
            status = "timed_out"
        return cut(item, status, batch.stop_reason if status == "cancelled" else "deadline")

    def _skipped(self, item: Item) -> BatchResult:
        return skipped(item.request, item.index, reason=self._batch.stop_reason, model=item.model)

    def _finish(self, item: Item, result: BatchResult) -> None:
        batch = self._batch
        self._live.discard(item)
        if item.sent:
            batch.progress.running -= 1
        if item.admitted:
            self.budget.finish(item)
            if self.budget.tripped:
                batch._stop("budget")
        if batch.fail_fast and result.status in ("failed", "timed_out"):
            batch._stop("fail_fast")
        batch._emit(result, counted=True)


def no_price(model: str) -> ConfigurationError:
    return ConfigurationError(
        f"max_cost_usd needs a price for model {model!r}, and none is known: add one with "
        "steer_trio.register_price(...) or load_prices(path)"
    )


def _wants_json(response_format: Any) -> bool:
    return isinstance(response_format, dict) and str(response_format.get("type", "")).startswith(
        "json"
    )


def _content_arrived(error: SteerError) -> bool:
    if error.content_delivered:
        return True
    partial = error.partial
    return bool(partial is not None and (partial.text or partial.tool_calls))
