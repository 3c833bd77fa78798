"""``client.batch(...)``: many requests under limits, results as they finish.

Structure (trio)::

    Batch.__aenter__ opens a nursery that lives until __aexit__
      └── runner task (its own cancel scope: cancel(), the batch deadline)
            ├── feed: pulls the input lazily; starts an item task while fewer than
            │   `window` items are started and not yet taken by the consumer
            └── item tasks (``_item``): slot -> budget -> rate limits -> stream

Results travel through an unbounded memory channel whose backpressure is the start
gate above (so sending a result never blocks, not even while being cancelled: every
finished and partial result reaches the channel). The caller's ``async for`` reads
the channel; leaving the block early, an exception, Ctrl-C or an outer cancel scope
cancels the runner, and what was produced but not read is kept in ``undelivered``.
The caller sees one exception, never a group.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from .._checkpoints import caller_checkpoints
from .._config import StreamingOptions
from .._errors import ConfigurationError
from .._groups import collapse_group
from .._params import StreamParams
from .._processing._accounting import get_price_table
from .._retry import RetryPolicy
from .._tasks import open_task_nursery
from ._estimate import DEFAULT_EXPECTED_OUTPUT, Estimator
from ._item import ItemRunner, no_price
from ._options import (
    BATCH_KEYS,
    DEFAULT_RATE_LIMIT_RETRIES,
    OnBudget,
    check_option_keywords,
    count_at_least,
    positive_number,
)
from ._results import StopReason, input_failure, skipped
from ._source import BatchRequests, RequestSource
from ._types import (
    BatchEvent,
    BatchEventKind,
    BatchInputError,
    BatchProgress,
    BatchRequest,
    BatchResult,
)

if TYPE_CHECKING:
    from typing import Unpack

    from .._client import SteerClient

__all__ = ["Batch"]

#: What a batch passes on to every request, besides its own options.
_PASSED_ON = tuple(StreamParams.__annotations__)


class Batch:
    """Run many requests; ``async with client.batch(requests, ...) as results``.

    ``async for result in results`` yields a :class:`BatchResult` per request as it
    finishes (``ordered=True``: in input order). ``results.progress`` is live;
    ``results.cancel()`` stops the batch gracefully (running items are cancelled,
    their partials delivered, and the loop ends); ``results.undelivered`` holds what
    was produced but not read when the block was left early.

    The requests are pulled as they are needed (an async source with ``aclose()`` is
    closed when the batch ends). Options: ``max_concurrency`` streams at once;
    ``requests_per_minute``/``tokens_per_minute`` (and, with ``learn_limits``, what
    the provider's headers say); ``item_deadline`` and ``deadline`` in seconds;
    ``max_cost_usd`` and ``on_budget``; ``fail_fast``; ``retry_failed`` requeues and
    ``rate_limit_retries`` 429s per item; ``ordered``; ``streaming_options``;
    ``expected_output_tokens`` for requests without ``max_tokens``; ``on_progress``,
    a plain function of each :class:`BatchEvent`; ``report_skipped``; ``buffer_size``
    results ahead of the consumer (default: ``max_concurrency``); ``total`` for the
    progress; ``limit_share`` of every limit (a worker's part); ``retry_policy``.
    Any other keyword is a request parameter or callback of ``stream_with_usage``,
    passed to every request (a request's own win).
    """

    def __init__(
        self,
        client: SteerClient,
        requests: BatchRequests,
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
        on_progress: Callable[[BatchEvent], object] | None = None,
        report_skipped: bool = True,
        buffer_size: int | None = None,
        total: int | None = None,
        limit_share: float = 1.0,
        retry_policy: RetryPolicy | None = None,
        **params: Unpack[StreamParams],
    ) -> None:
        check_option_keywords(params, _PASSED_ON, known=(*BATCH_KEYS, "model"), call="batch")
        count_at_least("max_concurrency", max_concurrency, 1)
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
            ("item_deadline", item_deadline),
            ("deadline", deadline),
        ):
            positive_number(name, value)
        if max_cost_usd is not None and (
            isinstance(max_cost_usd, bool)
            or not isinstance(max_cost_usd, int | float)
            or not max_cost_usd >= 0
        ):
            raise ConfigurationError(f"max_cost_usd must be a number >= 0, got {max_cost_usd!r}")
        if on_budget not in ("stop", "cancel"):
            raise ConfigurationError(f"on_budget must be 'stop' or 'cancel', got {on_budget!r}")
        count_at_least("retry_failed", retry_failed, 0)
        count_at_least("rate_limit_retries", rate_limit_retries, 0)
        count_at_least("expected_output_tokens", expected_output_tokens, 1)
        for name, count in (("buffer_size", buffer_size), ("total", total)):
            if count is not None:
                count_at_least(name, count, 0)
        positive_number("limit_share", limit_share, optional=False)
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
        self._options = streaming_options or client._options
        self._params: dict[str, Any] = dict(params)
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
        self.stop_reason: StopReason | None = None
        self._entered = False
        self._finished = False
        self._failure: BaseException | None = None
        self._failure_raised = False
        self._outstanding = 0
        self._room: trio.Event | None = None
        self._reorder: dict[int, tuple[BatchResult, bool]] = {}
        self._next_index = 0
        self._stack: contextlib.AsyncExitStack | None = None

    # -- the context manager -------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        if self._entered:
            raise RuntimeError("a batch runs once; call client.batch() again")
        self._entered = True
        self._send, self._receive = trio.open_memory_channel[tuple[BatchResult, bool]](math.inf)
        self._room = trio.Event()
        estimator = Estimator(
            await get_price_table(), expected_output_tokens=self.expected_output_tokens
        )
        await estimator.prepare(self.model)
        if self.max_cost_usd is not None and estimator.cost(self.model, 1, 1) is None:
            raise no_price(self.model)
        self._started_at = trio.current_time()
        self._items = ItemRunner(self, estimator)
        self._runner_scope = trio.CancelScope(
            deadline=self._started_at + self.deadline if self.deadline is not None else math.inf
        )
        self._update_limits()
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self._lifetime())
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        stack, self._stack = self._stack, None
        if stack is None:
            await trio.lowlevel.checkpoint()  # noqa: ASYNC102 - the checkpoint every __aexit__ owes
            return False
        return bool(await stack.__aexit__(exc_type, exc, tb))  # noqa: ASYNC102 - ends our own runner, whose items' cleanup is shielded and bounded

    @contextlib.asynccontextmanager
    @caller_checkpoints  # entered by __aenter__, which checkpoints (prices, the encoding)
    async def _lifetime(self) -> AsyncIterator[None]:
        """The runner's nursery while the caller's block runs. The caller sees its own
        exceptions, never a group of ours; a failure of the runner (the input broke)
        comes after the results, from the loop or from here."""
        try:
            async with open_task_nursery(stop=self._left) as nursery:
                nursery.start_soon(self._run)
                yield
        finally:
            self._keep_undelivered()
        failure = self._take_failure()
        if failure is not None:
            raise failure

    def _left(self, nursery: trio.Nursery, raised: BaseException | None) -> None:
        """The caller's block ended: if it was left early (break, an error, Ctrl-C, an
        outer cancel), stop the runner; its items' partials still reach the channel
        (sending never blocks)."""
        if not self._finished:
            self.stop_reason = self.stop_reason or ("cancel" if raised is None else "outer")
            self._runner_scope.cancel()

    def _take_failure(self) -> BaseException | None:
        """The runner's failure, the first time it is asked for."""
        if self._failure is None or self._failure_raised:
            return None
        self._failure_raised = True
        return self._failure

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
            failure = self._take_failure()
        else:
            if counted:
                self._outstanding -= 1
                self._wake_feed()
            return result
        # Outside the handler: the failure's own cause and context stay its own.
        raise failure or StopAsyncIteration()

    def cancel(self) -> None:
        """Stop gracefully: start nothing more, cancel running items; their partials
        and every finished result are still delivered, then the loop ends."""
        if self._entered and not self._finished:
            self.stop_reason = self.stop_reason or "cancel"
            self._runner_scope.cancel()

    # -- the runner ----------------------------------------------------------------------

    @caller_checkpoints  # the runner task, not a call: nobody waits for it to return
    async def _run(self) -> None:
        """The runner task: feeds item tasks until the input ends or the batch stops."""
        try:
            with self._send, self._runner_scope:
                await self._feed_items()
            if self._runner_scope.cancelled_caught and self.stop_reason is None:
                self.stop_reason = "deadline"
        except Exception as exc:
            self._failure = exc
        finally:
            self._finished = True
            self.progress.running = 0
            self._tick()

    @caller_checkpoints  # called by the runner task alone; its feed checkpoints every pull
    async def _feed_items(self) -> None:
        """The feed, and the items' nursery: one exception out, never a group."""
        error: BaseException | None = None
        raised: BaseException | None = None
        try:
            async with trio.open_nursery() as items:
                try:
                    await self._feed(items)
                except BaseException as exc:
                    raised = exc
                    raise
        except BaseExceptionGroup as group:
            error = collapse_group(group, raised=raised)
        if error is not None:
            raise error  # outside the handler: its own cause and context stay its own

    async def _feed(self, items: trio.Nursery) -> None:
        source = RequestSource(self._requests)
        try:
            index = -1
            async for raw in source:
                index += 1
                try:
                    request = BatchRequest.coerce(raw, position=index)
                except BatchInputError as error:
                    self._emit(input_failure(error, index), counted=False)
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
                items.start_soon(self._items.run, request, index)
        finally:
            await source.aclose()  # noqa: ASYNC102 - shielded and bounded inside

    @caller_checkpoints  # _feed pulled the request just before: that pull checkpoints
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

    def _stop(self, reason: StopReason) -> None:
        """Stop starting items (budget, fail-fast); cancel those not yet sent, and the
        running ones too for fail-fast and ``on_budget="cancel"``."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        if reason == "budget":
            self.progress.budget_tripped = True
            self._event("budget", None, {"spent": self._items.budget.spent})
        self._items.cancel_live(running=reason == "fail_fast" or self.on_budget == "cancel")

    def _deadline_passed(self) -> bool:
        return self.deadline is not None and trio.current_time() >= self._started_at + self.deadline

    # -- results -------------------------------------------------------------------------

    def _skipped(self, request: BatchRequest, index: int) -> BatchResult:
        return skipped(request, index, reason=self.stop_reason, model=request.model or self.model)

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
        self.progress.cooldown = self._items.limiter.cooldown_left()

    def _update_limits(self) -> None:
        limits: dict[str, Any] = {"concurrency": self.max_concurrency}
        limits.update(self._items.limiter.describe())
        if self.max_cost_usd is not None:
            limits["max_cost_usd"] = self.max_cost_usd
        self.progress.limits = limits

    def _event(
        self,
        kind: BatchEventKind,
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
