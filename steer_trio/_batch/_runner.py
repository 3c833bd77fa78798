"""``client.batch(...)``: many requests under limits, results as they finish.

Structure (trio)::

    Batch.__aenter__ opens a nursery that lives until __aexit__
      └── runner task (its own cancel scope: cancel(), the batch deadline)
            ├── feed: pulls the input lazily; starts an item task while fewer than
            │   `window` items are started and not yet taken by the consumer
            └── item tasks: concurrency slot -> budget -> rate limits -> stream

Results travel through an unbounded memory channel whose backpressure is the start
gate above (so sending a result never blocks, not even while being cancelled: every
finished and partial result reaches the channel). The caller's ``async for`` reads
the channel; leaving the block early, an exception, Ctrl-C or an outer cancel scope
cancels the runner, and what was produced but not read is kept in ``undelivered``.
The caller sees one exception, never a group.

429s are handled here, not by the transport (items run with ``max_retries=0``): a
429 sets a cooldown shared by every item of that provider and model, and the item
goes back to wait behind the others.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import Any, Literal

import attrs
import trio

from .._config import StreamingOptions
from .._errors import ConfigurationError, DeadlineExceeded, RateLimitError, SteerError
from .._groups import collapse_group
from .._processing._accounting import get_price_table
from .._providers._routing import route_model
from .._response import StreamingResponse
from .._retry import RetryPolicy
from ._budget import BudgetGuard
from ._estimate import DEFAULT_EXPECTED_OUTPUT, Estimator
from ._limits import RateLimiter, Reservation
from ._types import (
    BatchEvent,
    BatchInputError,
    BatchProgress,
    BatchRequest,
    BatchResult,
    BatchStatus,
    BatchStopped,
)

__all__ = ["Batch"]

OnBudget = Literal["stop", "cancel"]
_StopReason = Literal["budget", "fail_fast", "cancel", "deadline", "outer"]

#: 429s an item may meet (each followed by the shared cooldown) before it fails.
DEFAULT_RATE_LIMIT_RETRIES = 10
#: Cleanup after a cancellation is shielded and bounded by this.
_CLEANUP_SECONDS = 2.0


@attrs.define(slots=True, eq=False)
class _Item:
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


class Batch:
    """Run many requests; ``async with client.batch(requests, ...) as results``.

    ``async for result in results`` yields a :class:`BatchResult` per request as it
    finishes (``ordered=True``: in input order). ``results.progress`` is live;
    ``results.cancel()`` stops the batch gracefully (running items are cancelled,
    their partials delivered, and the loop ends); ``results.undelivered`` holds what
    was produced but not read when the block was left early.
    """

    def __init__(
        self,
        client: Any,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        model: str = "gpt-4o-mini",
        max_concurrency: int = 16,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        learn_limits: bool = True,
        item_deadline: float | None = None,
        deadline: float | None = None,
        max_cost_usd: float | None = None,
        on_budget: OnBudget = "stop",
        fail_fast: bool = False,
        retry_failed: int = 0,
        rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES,
        ordered: bool = False,
        streaming_options: StreamingOptions | None = None,
        expected_output_tokens: int = DEFAULT_EXPECTED_OUTPUT,
        on_progress: Callable[[BatchEvent], Any] | None = None,
        report_skipped: bool = True,
        buffer_size: int | None = None,
        total: int | None = None,
        limit_share: float = 1.0,
        retry_policy: RetryPolicy | None = None,
        **params: Any,
    ) -> None:
        _check_positive_int("max_concurrency", max_concurrency)
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
            ("item_deadline", item_deadline),
            ("deadline", deadline),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
            ):
                raise ConfigurationError(f"{name} must be a positive number or None, got {value!r}")
        if max_cost_usd is not None and (
            isinstance(max_cost_usd, bool)
            or not isinstance(max_cost_usd, int | float)
            or not max_cost_usd >= 0
        ):
            raise ConfigurationError(f"max_cost_usd must be a number >= 0, got {max_cost_usd!r}")
        if on_budget not in ("stop", "cancel"):
            raise ConfigurationError(f"on_budget must be 'stop' or 'cancel', got {on_budget!r}")
        for name, count in (
            ("retry_failed", retry_failed),
            ("rate_limit_retries", rate_limit_retries),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ConfigurationError(f"{name} must be an integer >= 0, got {count!r}")
        if streaming_options is not None and not isinstance(streaming_options, StreamingOptions):
            raise ConfigurationError("streaming_options must be a StreamingOptions")
        if on_progress is not None and (
            not callable(on_progress) or inspect.iscoroutinefunction(on_progress)
        ):
            raise ConfigurationError(
                "on_progress must be a plain function: it is called in the runner and must "
                "not wait (for async work, read results.progress from a task of your own)"
            )
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"model must be a non-empty string, got {model!r}")
        self._client = client
        self._requests = requests
        self.model = model
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.learn_limits = learn_limits
        self.item_deadline = item_deadline
        self.deadline = deadline
        self.max_cost_usd = max_cost_usd
        self.on_budget = on_budget
        self.fail_fast = fail_fast
        self.retry_failed = retry_failed
        self.rate_limit_retries = rate_limit_retries
        self.ordered = ordered
        self.expected_output_tokens = expected_output_tokens
        self.report_skipped = report_skipped
        self._options = streaming_options or getattr(client, "_options", None) or StreamingOptions()
        self._params = params
        self._on_progress = on_progress
        self._retry = retry_policy or RetryPolicy()
        self._limit_share = limit_share
        #: Items started and not yet read by the consumer, at most.
        self.window = max_concurrency + (
            buffer_size if buffer_size is not None else max_concurrency
        )
        self.progress = BatchProgress(total=total)
        #: Results produced but not read when the block was left early.
        self.undelivered: list[BatchResult] = []
        #: Why the batch stopped early (None: it ran to the end).
        self.stop_reason: _StopReason | None = None
        self._entered = False
        self._finished = False
        self._failure: BaseException | None = None
        self._failure_raised = False
        self._outstanding = 0
        self._room: trio.Event | None = None
        self._reorder: dict[int, tuple[BatchResult, bool]] = {}
        self._next_index = 0
        self._live: set[_Item] = set()
        self._options_cache: dict[tuple[int, bool], tuple[StreamingOptions, StreamingOptions]] = {}

    # -- the context manager -------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        if self._entered:
            raise RuntimeError("a batch runs once; call client.batch() again")
        self._entered = True
        self._send, self._receive = trio.open_memory_channel[tuple[BatchResult, bool]](math.inf)
        self._room = trio.Event()
        self._limiter = RateLimiter(
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            share=self._limit_share,
            learn=self.learn_limits,
        )
        self._slots = trio.CapacityLimiter(self.max_concurrency)
        self._budget = BudgetGuard(self.max_cost_usd)
        self._estimator = Estimator(
            await get_price_table(), expected_output_tokens=self.expected_output_tokens
        )
        await self._estimator.prepare(self.model)
        if self.max_cost_usd is not None and self._estimator.cost(self.model, 1, 1) is None:
            raise _no_price(self.model)
        self._started_at = trio.current_time()
        self._runner_scope = trio.CancelScope(
            deadline=self._started_at + self.deadline if self.deadline is not None else math.inf
        )
        self._update_limits()
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._manager = manager
        nursery.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if not self._finished:
            # Left early (break, an error, Ctrl-C, an outer cancel): stop the runner;
            # its items' partials still reach the channel (sending never blocks).
            self.stop_reason = self.stop_reason or ("cancel" if exc is None else "outer")
            self._runner_scope.cancel()
        grouped: BaseException | None = None
        try:
            # The runner's cleanup is shielded and bounded inside.
            suppress = bool(await self._manager.__aexit__(exc_type, exc, tb))  # noqa: ASYNC102
        except BaseExceptionGroup as group:
            grouped = collapse_group(group)
        finally:
            self._keep_undelivered()
        if grouped is not None:
            raise grouped  # outside the handler: its own cause and context stay its own
        if exc is None and self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failure
        return suppress

    def _keep_undelivered(self) -> None:
        while True:
            try:
                result, _ = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            self.undelivered.append(result)
        for index in sorted(self._reorder):
            self.undelivered.append(self._reorder[index][0])
        self._reorder.clear()
        self._receive.close()

    # -- the caller's iterator ---------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        return self

    async def __anext__(self) -> BatchResult:
        if not self._entered:
            raise RuntimeError("use `async with client.batch(...) as results:` first")
        try:
            result, counted = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._failure is not None and not self._failure_raised:
                self._failure_raised = True
                raise self._failure from None
            raise StopAsyncIteration from None
        if counted:
            self._outstanding -= 1
            self._wake_feed()
        return result

    def cancel(self) -> None:
        """Stop gracefully: start nothing more, cancel running items; their partials
        and every finished result are still delivered, then the loop ends."""
        if self._entered and not self._finished:
            self.stop_reason = self.stop_reason or "cancel"
            self._runner_scope.cancel()

    # -- the runner ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            with self._send, self._runner_scope:
                grouped: BaseException | None = None
                try:
                    async with trio.open_nursery() as items:
                        await self._feed(items)
                except BaseExceptionGroup as group:
                    grouped = collapse_group(group)
                if grouped is not None:
                    raise grouped
            if self._runner_scope.cancelled_caught and self.stop_reason is None:
                self.stop_reason = "deadline"
        except Exception as exc:
            self._failure = exc
        finally:
            self._finished = True
            self.progress.running = 0
            self._tick()

    async def _feed(self, items: trio.Nursery) -> None:
        async with contextlib.aclosing(_pull_items(self._requests)) as pulled:
            index = -1
            async for raw in pulled:
                index += 1
                try:
                    request = BatchRequest.coerce(raw, position=index)
                except BatchInputError as error:
                    self._emit(_input_failure(error, index), counted=False)
                    continue
                if self.stop_reason in ("budget", "fail_fast"):
                    if not self.report_skipped:
                        break
                    self._emit(self._skipped(request, index), counted=False)
                    continue
                try:
                    await self._wait_for_room()
                except BaseException:
                    # Cancelled while waiting: it was pulled, so it is reported.
                    self._emit(self._skipped(request, index), counted=False)
                    raise
                self._outstanding += 1
                items.start_soon(self._run_item, request, index)

    async def _wait_for_room(self) -> None:
        while self._outstanding >= self.window:
            room = self._room
            assert room is not None
            await room.wait()

    def _wake_feed(self) -> None:
        room = self._room
        if room is not None:
            room.set()
            self._room = trio.Event()

    # -- one item ------------------------------------------------------------------------

    def _prepare(self, request: BatchRequest, index: int) -> _Item:
        model = request.model or self.model
        try:
            config, wire_model = route_model(model, request.provider)
            group = f"{config.name}/{wire_model}"
        except ConfigurationError:
            group = model
        item = _Item(request=request, index=index, model=model, group=group)
        item.prompt_tokens = self._estimator.prompt_tokens(request, model)
        item.output_tokens = self._estimator.output_tokens(request)
        return item

    async def _run_item(self, request: BatchRequest, index: int) -> None:
        item: _Item | None = None
        try:
            if request.model is not None and request.model != self.model:
                await self._estimator.prepare(request.model)
            item = self._prepare(request, index)
            self._live.add(item)
            with trio.CancelScope() as item.scope:
                if self.stop_reason in ("budget", "fail_fast"):
                    item.scope.cancel()
                result = await self._attempts(item)
            if item.scope.cancelled_caught:
                # This item alone was stopped (fail-fast, the budget), unless its
                # answer was already complete when the stop came.
                done = item.last is not None and not item.last.is_partial and item.error is None
                result = (
                    self._result(item, "completed", item.last)
                    if done
                    else self._stopped_result(item)
                )
        except BaseException as exc:
            # Cancelled (the batch: cancel(), its deadline, an outer scope) or Ctrl-C:
            # report what this item got before the exception goes on.
            if item is None:
                item = _Item(request=request, index=index, model=self.model, group="")
            self._finish(item, self._interrupted(item, exc))
            raise
        self._finish(item, result)

    async def _attempts(self, item: _Item) -> BatchResult:
        in_place = 0
        rate_limited = 0
        options, max_retries = self._item_options(item.request)
        while True:
            with trio.move_on_at(item.deadline_at) as waited:
                async with self._slots:
                    reservation = await self._start(item)
                    if reservation is None:
                        return self._stopped_result(item)
                    outcome = await self._attempt(item, options, reservation)
            if waited.cancelled_caught:
                return self._timed_out(item)
            if isinstance(outcome, StreamingResponse):
                return self._result(item, "completed", outcome)
            error = outcome
            if isinstance(error, RateLimitError) and error.is_retryable:
                rate_limited += 1
                self.progress.rate_limited += 1
                seconds = self._limiter.rate_limited(item.group, error.retry_after, error.headers)
                self._event("cooldown", item.request.id, {"seconds": seconds, "group": item.group})
                if rate_limited <= self.rate_limit_retries:
                    continue
            elif isinstance(error, DeadlineExceeded):
                return self._timed_out(item)
            elif error.is_retryable and not _content_arrived(error) and in_place < max_retries:
                in_place += 1
                self.progress.retries += 1
                delay = self._retry.delay_for(in_place, getattr(error, "retry_after", None))
                if trio.current_time() + delay >= item.deadline_at:
                    return self._timed_out(item)
                await trio.sleep(delay)
                continue
            if error.is_retryable and item.requeues < self.retry_failed:
                # Back to the queue: behind every item already waiting for a slot.
                item.requeues += 1
                in_place = 0
                rate_limited = 0
                self.progress.requeued += 1
                continue
            return self._failed(item, error)

    async def _start(self, item: _Item) -> Reservation | None:
        """Budget, then rate limits. None: the batch stopped meanwhile."""
        if self._stopped_for(item):
            return None
        if self.max_cost_usd is not None and not item.admitted:
            projected = self._estimator.cost(item.model, item.prompt_tokens, item.output_tokens)
            if projected is None:
                raise _no_price(item.model)
            if not self._budget.admits(projected):
                self._stop("budget")
                return None
            item.admitted = True
            self._budget.start(item, projected)
        tokens = float(item.prompt_tokens + item.output_tokens)
        reservation = await self._limiter.acquire(
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

    def _stopped_for(self, item: _Item) -> bool:
        """Fail-fast stops everyone; the budget stops what it has not admitted."""
        if self.stop_reason == "fail_fast":
            return True
        return self.stop_reason == "budget" and not item.admitted

    async def _attempt(
        self, item: _Item, options: StreamingOptions, reservation: Reservation
    ) -> StreamingResponse[Any] | SteerError:
        now = trio.current_time()
        if item.first_sent_at is None:
            item.first_sent_at = now
            if self.item_deadline is not None:
                item.deadline_at = now + self.item_deadline
        if item.deadline_at != math.inf:
            remaining = item.deadline_at - now
            if options.deadline is None or options.deadline > remaining:
                options = options.replace(deadline=max(remaining, 1e-3))
        item.attempts += 1
        if not item.sent:
            item.sent = True
            self.progress.started += 1
            self.progress.running += 1
            self._event("started", item.request.id, {})
        request = item.request
        user_on_error = request.callbacks.get("on_error")

        async def on_error(event: Any) -> None:
            if event.error_type == "cancelled":
                item.last = event.partial
            if user_on_error is not None:
                result = user_on_error(event)
                if inspect.isawaitable(result):
                    await result

        callbacks = {k: v for k, v in request.callbacks.items() if k != "on_error"}
        params = {**self._params, **request.params}
        try:
            response: StreamingResponse[Any] = await self._client.stream_with_usage(
                request.prompt_or_messages(),
                item.model,
                provider=request.provider,
                streaming_options=options,
                system=request.system,
                on_error=on_error,
                **callbacks,
                **params,
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
        self._limiter.succeeded(item.group)
        return response

    def _account(
        self,
        item: _Item,
        reservation: Reservation,
        response: StreamingResponse[Any] | None,
        headers: dict[str, str] | None,
    ) -> None:
        usage = response.usage_info if response is not None else None
        actual: dict[str, float] = {"tokens": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}
        if usage is not None:
            actual = {
                "tokens": float(usage.total_tokens),
                "input_tokens": float(usage.prompt_tokens),
                "output_tokens": float(usage.completion_tokens),
            }
            self.progress.prompt_tokens += usage.prompt_tokens
            self.progress.completion_tokens += usage.completion_tokens
        self._limiter.settle(reservation, actual)
        cost = response.cost_usd if response is not None else None
        if cost is not None:
            item.spent += cost
            self.progress.cost_usd += cost
            if item.admitted:
                self._budget.spend(item, cost)
        if headers:
            learned = self._limiter.learn(item.group, headers, observed_at=reservation.at)
            if learned:
                self._update_limits()
                self._event("limits", item.request.id, {"group": item.group, "learned": learned})

    def _stop(self, reason: _StopReason) -> None:
        """Stop starting items (budget, fail-fast); cancel those not yet sent, and the
        running ones too for fail-fast and ``on_budget="cancel"``."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        cancel_running = reason == "fail_fast" or self.on_budget == "cancel"
        if reason == "budget":
            self.progress.budget_tripped = True
            self._event("budget", None, {"spent": self._budget.spent})
        for live in list(self._live):
            if live.scope is not None and (cancel_running or not (live.sent or live.admitted)):
                live.scope.cancel()

    # -- results -------------------------------------------------------------------------

    def _item_options(self, request: BatchRequest) -> tuple[StreamingOptions, int]:
        """The options for each request of an item, and its retry count: 429s and
        retries are the runner's, so the transport makes one request per attempt."""
        options = request.streaming_options or self._options
        key = (id(options), _wants_json(request.params.get("response_format")))
        cached = self._options_cache.get(key)
        if cached is not None and cached[0] is options:
            return cached[1], options.max_retries
        changes: dict[str, Any] = {"max_retries": 0}
        response_format = request.params.get("response_format", self._params.get("response_format"))
        if _wants_json(response_format):
            changes["enable_json_stream_handler"] = True
        replaced = options.replace(**changes)
        if len(self._options_cache) < 64:
            self._options_cache[key] = (options, replaced)
        return replaced, options.max_retries

    def _result(
        self,
        item: _Item,
        status: BatchStatus,
        response: StreamingResponse[Any] | None,
        error: BaseException | None = None,
        partial: bool = False,
    ) -> BatchResult:
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
            error_message=_message(error) if error is not None else None,
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
            metrics = response.metrics
            result.time_to_first_token_ms = metrics.get("time_to_first_token_ms")
        if item.first_sent_at is not None:
            result.latency_ms = (trio.current_time() - item.first_sent_at) * 1000.0
        return result

    def _failed(self, item: _Item, error: BaseException) -> BatchResult:
        partial = item.last if item.last is not None and item.last.is_partial else None
        return self._result(item, "failed", partial, error, partial=partial is not None)

    def _timed_out(self, item: _Item) -> BatchResult:
        error = item.error if isinstance(item.error, DeadlineExceeded) else None
        if error is None:
            error = DeadlineExceeded(
                f"item {item.request.id!r} passed its item_deadline of {self.item_deadline}s"
            )
        partial = item.last if item.last is not None and item.last.is_partial else None
        return self._result(item, "timed_out", partial, error, partial=item.sent)

    def _stopped_result(self, item: _Item) -> BatchResult:
        if item.sent:
            # Started before the stop: it ends cancelled (with what it got).
            return self._result(
                item, "cancelled", item.last, _stop_error(self.stop_reason), partial=True
            )
        return self._skipped(item.request, item.index, item=item)

    def _interrupted(self, item: _Item, exc: BaseException) -> BatchResult:
        if not item.sent:
            return self._skipped(item.request, item.index, item=item)
        status: BatchStatus = "cancelled"
        if self.stop_reason == "deadline" or (
            self.stop_reason is None
            and self.deadline is not None
            and trio.current_time() >= self._started_at + self.deadline
        ):
            status = "timed_out"
        error = _stop_error(self.stop_reason if status == "cancelled" else "deadline")
        return self._result(item, status, item.last, error, partial=True)

    def _skipped(
        self, request: BatchRequest, index: int, *, item: _Item | None = None
    ) -> BatchResult:
        reason = self.stop_reason or "cancel"
        return BatchResult(
            id=request.id,
            status="skipped",
            error=_stop_error(reason),
            error_type="BatchSkipped",
            error_message=_stop_error(reason).message,
            metadata=request.metadata,
            line=request.line,
            index=index,
            model=item.model if item is not None else request.model or self.model,
        )

    def _finish(self, item: _Item, result: BatchResult) -> None:
        self._live.discard(item)
        if item.sent:
            self.progress.running -= 1
        if item.admitted:
            self._budget.finish(item)
            if self._budget.tripped:
                self._stop("budget")
        if self.fail_fast and result.status in ("failed", "timed_out"):
            self._stop("fail_fast")
        self._emit(result, counted=True)

    def _emit(self, result: BatchResult, *, counted: bool) -> None:
        """Deliver a result: never blocks, so it works in cancelled code too."""
        progress = self.progress
        setattr(progress, result.status, getattr(progress, result.status) + 1)
        self._tick()
        if self.ordered and result.index is not None:
            self._reorder[result.index] = (result, counted)
            while self._next_index in self._reorder:
                self._deliver(*self._reorder.pop(self._next_index))
                self._next_index += 1
        else:
            self._deliver(result, counted)
        self._event("finished", result.id, {}, result)

    def _deliver(self, result: BatchResult, counted: bool) -> None:
        try:
            self._send.send_nowait((result, counted))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.undelivered.append(result)

    # -- progress ------------------------------------------------------------------------

    def _tick(self) -> None:
        self.progress.elapsed = trio.current_time() - self._started_at
        self.progress.cooldown = self._limiter.cooldown_left()

    def _update_limits(self) -> None:
        limits: dict[str, Any] = {"concurrency": self.max_concurrency}
        limits.update(self._limiter.describe())
        if self.max_cost_usd is not None:
            limits["max_cost_usd"] = self.max_cost_usd
        self.progress.limits = limits

    def _event(
        self,
        kind: Any,
        item_id: str | None,
        detail: dict[str, Any],
        result: BatchResult | None = None,
    ) -> None:
        if self._on_progress is None:
            return
        self._tick()
        self._on_progress(
            BatchEvent(
                kind=kind, progress=self.progress, item_id=item_id, result=result, detail=detail
            )
        )


# -- helpers -------------------------------------------------------------------------------


def _stop_error(reason: str | None) -> BatchStopped:
    messages = {
        "budget": "the budget (max_cost_usd) stopped the batch",
        "fail_fast": "another item failed and fail_fast is on",
        "cancel": "the batch was cancelled",
        "deadline": "the batch passed its deadline",
        "outer": "the batch was interrupted",
        None: "the batch ended first",
    }
    return BatchStopped(messages.get(reason, "the batch stopped"))


def _no_price(model: str) -> ConfigurationError:
    return ConfigurationError(
        f"max_cost_usd needs a price for model {model!r}, and none is known: add one with "
        "steer_trio.register_price(...) or load_prices(path)"
    )


def _input_failure(error: BatchInputError, index: int) -> BatchResult:
    return BatchResult(
        id=error.item_id if error.item_id is not None else str(index),
        status="failed",
        error=error,
        error_type="BatchInputError",
        error_message=error.message,
        line=error.line,
        index=index,
    )


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _wants_json(response_format: Any) -> bool:
    return isinstance(response_format, dict) and str(response_format.get("type", "")).startswith(
        "json"
    )


def _content_arrived(error: SteerError) -> bool:
    if error.content_delivered:
        return True
    partial = error.partial
    return bool(partial is not None and (partial.text or partial.tool_calls))


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")


async def _pull_items(requests: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    """The input, one request at a time, whether sync or async (never all at once)."""
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            yield item
        return
    iterator: Iterator[Any] = iter(requests)
    for item in iterator:
        yield item
        await trio.lowlevel.checkpoint()
