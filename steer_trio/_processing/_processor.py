"""The event processor: filters, transformers, correlation ids, timestamps and metrics.

One processor object may serve many requests (and be shared through one
``StreamingOptions``): everything that belongs to a request (its correlation id,
its metrics) lives in a :class:`ProcessorRun` made by :meth:`EventProcessor.begin`.

What the processor returns is what callbacks, iterators and the final response see:
a transformer that rewrites ``event.delta.value`` changes the text; one that returns
None drops the event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._checkpoints import caller_checkpoints
from .._events import StreamCompleteEvent, StreamDeltaEvent, StreamEvent

__all__ = [
    "EventFilter",
    "EventProcessor",
    "EventTransformer",
    "create_event_processor",
]

_EVENT_TYPES = frozenset({"start", "delta", "usage", "complete", "error", "json", "tool_call"})


class EventTransformer:
    """Subclass and override ``transform``; return the event (changed or not) or None
    to drop it. May be sync or async."""

    @caller_checkpoints  # called per event; the stream's network read is the checkpoint
    async def transform(self, event: StreamEvent) -> StreamEvent | None:
        """The event to pass on (this one, changed or not, or another), or None to drop it."""
        return event


class EventFilter:
    """Keeps events whose type is in ``event_types``, whose provider is in ``providers``
    and for which ``predicate(event)`` is true (each test applies only when given).

    Start, complete and error events always pass the type test: they frame the stream
    and the final response depends on them."""

    def __init__(
        self,
        *,
        event_types: Iterable[str] | None = None,
        providers: Iterable[str] | None = None,
        predicate: Callable[[StreamEvent], bool] | None = None,
    ) -> None:
        self.event_types = frozenset(event_types) if event_types is not None else None
        if self.event_types is not None:
            unknown = self.event_types - _EVENT_TYPES
            if unknown:
                raise ValueError(
                    f"unknown event type(s) {sorted(unknown)}; use {sorted(_EVENT_TYPES)}"
                )
        self.providers = frozenset(providers) if providers is not None else None
        self.predicate = predicate

    def accepts(self, event: StreamEvent) -> bool:
        """Whether ``event`` passes this filter."""
        if (
            self.event_types is not None
            and event.event_type not in self.event_types
            and event.event_type not in ("start", "complete", "error")
        ):
            return False
        if self.providers is not None and event.provider not in self.providers:
            return False
        return self.predicate is None or bool(self.predicate(event))


class EventProcessor:
    """Apply filters then transformers to each event; optionally stamp and measure."""

    def __init__(
        self,
        *,
        add_correlation: bool = False,
        add_timestamp: bool = False,
        add_metrics: bool = False,
        background: bool = False,
        buffer_size: int | None = None,
    ) -> None:
        self.add_correlation = add_correlation
        self.add_timestamp = add_timestamp
        self.add_metrics = add_metrics
        #: Run as its own task behind a bounded channel in ``stream_with_usage`` (with
        #: ``client.stream(...)`` it runs inline: your task reads the network there).
        self.background = background
        #: Processed batches the background task may hold ahead of your task; None:
        #: the call's ``StreamingOptions.buffer_size``.
        self.buffer_size = buffer_size
        self.filters: list[EventFilter] = []
        self.transformers: list[Any] = []

    def add_filter(self, event_filter: EventFilter) -> EventProcessor:
        """Add a filter (applied in order, before the transformers); returns the processor."""
        self.filters.append(event_filter)
        return self

    def add_transformer(self, transformer: Any) -> EventProcessor:
        """Add a transformer (applied in order, after the filters); returns the processor."""
        if not callable(getattr(transformer, "transform", None)):
            raise TypeError(
                "a transformer needs a transform(event) method returning the event or None"
            )
        self.transformers.append(transformer)
        return self

    def begin(self) -> _ProcessorRun:
        """Per-request state: a fresh correlation id and fresh metrics."""
        return _ProcessorRun(self)


class _ProcessorRun:
    """One request's pass through an ``EventProcessor``: its correlation id and metrics."""

    __slots__ = (
        "_gaps",
        "_last_delta_at",
        "_started",
        "correlation_id",
        "delta_count",
        "first_delta_at",
        "processor",
    )

    def __init__(self, processor: EventProcessor) -> None:
        self.processor = processor
        self.correlation_id = uuid.uuid4().hex if processor.add_correlation else None
        self._started = time.perf_counter()
        self._last_delta_at: float | None = None
        self.first_delta_at: float | None = None
        self._gaps: list[float] = []
        self.delta_count = 0

    @caller_checkpoints
    async def process(self, event: StreamEvent) -> StreamEvent | None:
        """Stamp, measure, filter and transform one event; None when it is dropped."""
        p = self.processor
        if self.correlation_id is not None:
            event.correlation_id = self.correlation_id
        if p.add_timestamp:
            event.timestamp = time.time()
        if p.add_metrics and isinstance(event, StreamDeltaEvent):
            self._measure()
        for event_filter in p.filters:
            if not event_filter.accepts(event):
                return None
        current: StreamEvent | None = event
        for transformer in p.transformers:
            result = transformer.transform(current)
            if hasattr(result, "__await__"):
                result = await result
            current = result
            if current is None:
                return None
        if p.add_metrics and isinstance(current, StreamCompleteEvent):
            current.metadata.update(self.metrics())
        return current

    def _measure(self) -> None:
        now = time.perf_counter()
        if self._last_delta_at is None:
            self.first_delta_at = now
        else:
            self._gaps.append(now - self._last_delta_at)
        self._last_delta_at = now
        self.delta_count += 1

    def metrics(self, completion_tokens: int | None = None) -> dict[str, Any]:
        """The figures so far: chunk count, time to first token, tokens per second, gaps."""
        now = time.perf_counter()
        data: dict[str, Any] = {"chunk_count": self.delta_count}
        if self.first_delta_at is not None:
            data["processor_time_to_first_token_ms"] = (self.first_delta_at - self._started) * 1e3
            span = now - self.first_delta_at
            units = completion_tokens if completion_tokens is not None else self.delta_count
            data["tokens_per_second"] = units / span if span > 0 else None
        if self._gaps:
            ordered = sorted(self._gaps)
            data["inter_chunk_gap_p50_ms"] = _percentile(ordered, 0.50) * 1e3
            data["inter_chunk_gap_p95_ms"] = _percentile(ordered, 0.95) * 1e3
        return data


def _percentile(ordered: Sequence[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def create_event_processor(
    *,
    add_correlation: bool = False,
    add_timestamp: bool = False,
    add_metrics: bool = False,
    event_types: Iterable[str] | None = None,
    providers: Iterable[str] | None = None,
    predicate: Callable[[StreamEvent], bool] | None = None,
    background: bool = False,
    transformers: Iterable[Any] = (),
) -> EventProcessor:
    """Build an :class:`EventProcessor` as in the streaming guide's example."""
    processor = EventProcessor(
        add_correlation=add_correlation,
        add_timestamp=add_timestamp,
        add_metrics=add_metrics,
        background=background,
    )
    if event_types is not None or providers is not None or predicate is not None:
        processor.add_filter(
            EventFilter(event_types=event_types, providers=providers, predicate=predicate)
        )
    for transformer in transformers:
        processor.add_transformer(transformer)
    return processor
