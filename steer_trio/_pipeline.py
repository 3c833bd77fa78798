"""What happens to events after the parser: processor, callbacks, assembly, usage, cost.

One :class:`Pipeline` per request, used by every way of streaming (plain ``async for``,
``async with client.stream()``, ``stream_with_usage``). Knows nothing about HTTP.
When no processor, callback or JSON handling is configured, ``handle`` reduces to
appending text: the fast path.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._config import StreamingOptions
from ._errors import ResponseValidationError, SteerError
from ._events import (
    StreamCompleteEvent,
    StreamDeltaEvent,
    StreamErrorEvent,
    StreamEvent,
    StreamJSONEvent,
    StreamStartEvent,
    StreamToolCallEvent,
    StreamUsageEvent,
)
from ._processing import _accounting
from ._processing._processor import ProcessorRun
from ._response import ResponseBuilder, StreamingResponse
from ._toolcalls import ToolCallAssembler
from ._usage import Usage

__all__ = ["CALLBACK_NAMES", "Callbacks", "Pipeline"]

Callback = Callable[[Any], Any]


AsyncCallback = Callable[[Any], Awaitable[None]]
CALLBACK_NAMES = (
    "on_start",
    "on_delta",
    "on_usage",
    "on_complete",
    "on_error",
    "on_json",
    "on_tool_call",
)


class Callbacks:
    """The user's callbacks, each sync or async, resolved once per request."""

    __slots__ = (*CALLBACK_NAMES, "on_delta_sync")

    def __init__(self, **callbacks: Callback | None) -> None:
        unknown = set(callbacks) - set(CALLBACK_NAMES)
        if unknown:
            raise TypeError(f"unknown callback(s) {sorted(unknown)}")
        adapted: dict[str, AsyncCallback | None] = {}
        for name in CALLBACK_NAMES:
            cb = callbacks.get(name)
            if cb is not None and not callable(cb):
                from ._errors import ConfigurationError

                raise ConfigurationError(f"{name} must be a function (sync or async), got {cb!r}")
            adapted[name] = _adapt(cb) if cb is not None else None
        self.on_start: AsyncCallback | None = adapted["on_start"]
        self.on_delta: AsyncCallback | None = adapted["on_delta"]
        self.on_usage: AsyncCallback | None = adapted["on_usage"]
        self.on_complete: AsyncCallback | None = adapted["on_complete"]
        self.on_error: AsyncCallback | None = adapted["on_error"]
        self.on_json: AsyncCallback | None = adapted["on_json"]
        self.on_tool_call: AsyncCallback | None = adapted["on_tool_call"]
        # The per-delta callback, called directly when it is a plain function: the
        # hot path skips the coroutine wrapper.
        raw_delta = callbacks.get("on_delta")
        self.on_delta_sync: Callback | None = (
            raw_delta if raw_delta is not None and self.on_delta is not raw_delta else None
        )


def _adapt(cb: Callback) -> AsyncCallback:
    if inspect.iscoroutinefunction(cb) or inspect.iscoroutinefunction(
        getattr(cb, "__call__", None)  # noqa: B004 - async callable objects
    ):
        return cb

    async def call(event: Any) -> None:
        result = cb(event)
        if inspect.isawaitable(result):
            await result

    return call


class Pipeline:
    def __init__(
        self,
        *,
        provider: str,
        model: str,
        options: StreamingOptions,
        callbacks: Callbacks,
        messages: list[dict[str, Any]],
        response_model: type | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.options = options
        self.callbacks = callbacks
        self.messages = messages
        self.response_model = response_model
        self.builder = ResponseBuilder()
        self.request_id: str | None = None
        self.headers: dict[str, str] = {}
        processor = options.event_processor
        self.run: ProcessorRun | None = processor.begin() if processor is not None else None
        self.json_parser: Any = None
        if options.enable_json_stream_handler or response_model is not None:
            from ._jsonstream import IncrementalJSONParser

            self.json_parser = IncrementalJSONParser()
        self._json_error: BaseException | None = None
        self.finished = False
        self.accounting = _accounting.UsageAccounting(
            model=model, options=options, messages=messages
        )
        self._process_deltas = self.run is not None
        self.tools = ToolCallAssembler(track=callbacks.on_tool_call is not None)
        self._update_plain()

    def _update_plain(self) -> None:
        #: Fast path: nothing to do per event but assemble text.
        self.plain = (
            not self._process_deltas
            and self.callbacks.on_delta is None
            and self.json_parser is None
            and self.callbacks.on_json is None
            and self.callbacks.on_tool_call is None
        )

    def deltas_processed_upstream(self) -> None:
        """A background processor stage already ran the deltas through the processor."""
        self._process_deltas = False
        self._update_plain()

    # -- stages ----------------------------------------------------------------------

    async def start(self, request_id: str | None, headers: dict[str, str] | None = None) -> None:
        self.request_id = request_id
        self.headers = headers or {}
        start = StreamStartEvent(provider=self.provider, model=self.model, request_id=request_id)
        event = await self.run.process(start) if self.run is not None else start
        if event is not None and self.callbacks.on_start is not None:
            await self.callbacks.on_start(event)

    def handle_plain(self, events: list[StreamEvent], texts: list[str] | None) -> None:
        """``handle`` when ``plain``: nothing to await, so no coroutine per batch."""
        builder = self.builder
        for item in events:
            if isinstance(item, StreamDeltaEvent):
                builder.add(item)
                delta = item.delta
                if texts is not None and delta.kind == "text" and delta.choice_index == 0:
                    texts.append(delta.value)

    async def handle(self, events: list[StreamEvent], texts: list[str] | None) -> None:
        """Process one batch; append the answer-text pieces to ``texts`` if given."""
        if self.plain:
            self.handle_plain(events, texts)
            return
        builder = self.builder
        run = self.run if self._process_deltas else None
        on_delta = self.callbacks.on_delta
        on_delta_sync = self.callbacks.on_delta_sync
        for raw in events:
            event = await run.process(raw) if run is not None else raw
            if event is None:
                continue
            if isinstance(event, StreamDeltaEvent):
                event.request_id = self.request_id
                builder.add(event)
                if on_delta_sync is not None:
                    result = on_delta_sync(event)
                    if result is not None and inspect.isawaitable(result):
                        await result
                elif on_delta is not None:
                    await on_delta(event)
                delta = event.delta
                if delta.kind == "tool_call":
                    await self._tool_events(self.tools.feed(delta))
                elif delta.kind == "text" and delta.choice_index == 0:
                    if texts is not None:
                        texts.append(delta.value)
                    if self.json_parser is not None:
                        await self._feed_json(delta.value)

    async def _tool_events(self, events: list[StreamToolCallEvent]) -> None:
        on_tool_call = self.callbacks.on_tool_call
        if on_tool_call is None:
            return
        for event in events:
            event.provider, event.model, event.request_id = (
                self.provider,
                self.model,
                self.request_id,
            )
            processed = await self.run.process(event) if self.run is not None else event
            if processed is not None:
                await on_tool_call(processed)

    async def _feed_json(self, text: str) -> None:
        if self._json_error is not None:
            return
        try:
            done = self.json_parser.feed(text)
        except ValueError as exc:  # JSONStreamError: keep streaming text, report at the end
            self._json_error = exc
            return
        on_json = self.callbacks.on_json
        if on_json is not None:
            await on_json(
                StreamJSONEvent(
                    provider=self.provider,
                    model=self.model,
                    request_id=self.request_id,
                    partial=self.json_parser.partial,
                    completed=done,
                )
            )

    # -- endings -----------------------------------------------------------------------

    def snapshot(self, parser: Any, timing: dict[str, Any]) -> StreamingResponse:
        response = StreamingResponse(
            provider=self.provider,
            model=getattr(parser, "model", None) or self.model,
            request_id=self.request_id,
            response_id=getattr(parser, "response_id", None),
            correlation_id=self.run.correlation_id if self.run is not None else None,
            headers=self.headers,
        )
        self.builder.build(response)
        reasons = getattr(parser, "finish_reasons", {}) or {}
        raw_reasons = getattr(parser, "raw_finish_reasons", {}) or {}
        response.finish_reason = reasons.get(0)
        response.raw_finish_reason = raw_reasons.get(0)
        for choice in response.choices:
            choice.finish_reason = reasons.get(choice.index)
        response.metrics = dict(timing)
        response.metrics["chunk_count"] = self.builder.chunk_count
        if self.run is not None and self.run.processor.add_metrics:
            usage = response.usage_info
            response.metrics.update(
                self.run.metrics(usage.completion_tokens if usage is not None else None)
            )
        return response

    async def _settle_usage(
        self, response: StreamingResponse, parser: Any, *, cancelled: bool
    ) -> None:
        provider_usage: Usage | None = parser.usage
        # Anthropic's message_start usage is final for the prompt, preliminary for output.
        final = getattr(parser, "usage_final", True)
        await self.accounting.settle(response, provider_usage, final=final, cancelled=cancelled)
        if self.run is not None and self.run.processor.add_metrics and response.usage_info:
            response.metrics.update(self.run.metrics(response.usage_info.completion_tokens))

    async def complete(self, parser: Any, timing: dict[str, Any]) -> StreamingResponse:
        await self._tool_events(self.tools.finish())
        response = self.snapshot(parser, timing)
        await self._settle_usage(response, parser, cancelled=False)
        self._finish_json(response)
        if response.usage_info is not None:
            usage_event: StreamEvent | None = StreamUsageEvent(
                provider=self.provider,
                model=response.model,
                request_id=self.request_id,
                usage=response.usage_info,
                is_estimated=response.usage_info.is_estimated,
            )
            if self.run is not None:
                usage_event = await self.run.process(usage_event)  # type: ignore[arg-type]
            if usage_event is not None and self.callbacks.on_usage is not None:
                await self.callbacks.on_usage(usage_event)
        complete: StreamEvent | None = StreamCompleteEvent(
            provider=self.provider,
            model=response.model,
            request_id=self.request_id,
            finish_reason=response.finish_reason,
            raw_finish_reason=response.raw_finish_reason,
            metadata=dict(response.metrics),
            response=response,
        )
        if self.run is not None:
            complete = await self.run.process(complete)  # type: ignore[arg-type]
            if complete is not None:
                response.metrics.update(complete.metadata)
        self.finished = True
        if complete is not None and self.callbacks.on_complete is not None:
            await self.callbacks.on_complete(complete)
        if isinstance(response.json_error, ResponseValidationError):
            response.json_error.partial = response
            raise response.json_error
        return response

    def _finish_json(self, response: StreamingResponse) -> None:
        if self.json_parser is None:
            return
        if self._json_error is None:
            try:
                response.json_value = self.json_parser.close()
            except ValueError as exc:
                self._json_error = exc
        response.json_error = self._json_error
        if self.response_model is not None and self._json_error is None:
            response.parsed = _structure(self.response_model, response.json_value, response)

    async def fail(
        self, error: BaseException, parser: Any, timing: dict[str, Any], *, notify: bool = True
    ) -> StreamingResponse:
        """Build the partial response for ``error``; attach it; tell ``on_error``.

        Runs shielded and bounded: it must finish even when the caller was cancelled,
        and it must not hold up a cancellation for long.
        """
        cancelled = isinstance(error, trio.Cancelled | KeyboardInterrupt | GeneratorExit)
        response = self.snapshot(parser, timing)
        response.is_partial = True
        response.error = error
        with trio.CancelScope(shield=True), trio.move_on_after(2.0):
            await self._settle_usage(response, parser, cancelled=cancelled)
        if self.json_parser is not None and response.text:
            response.json_value = self.json_parser.partial
        if isinstance(error, SteerError):
            if error.partial is None:
                error.partial = response
            error.content_delivered = self.builder.chunk_count > 0
        self.finished = True
        on_error = self.callbacks.on_error
        # A `break` (GeneratorExit) is the caller's own choice: nothing to report.
        if notify and on_error is not None and not isinstance(error, GeneratorExit):
            event = StreamErrorEvent(
                provider=self.provider,
                model=response.model,
                request_id=self.request_id,
                error=error,
                error_type="cancelled" if cancelled else type(error).__name__,
                partial=response,
            )
            if cancelled:
                # The last callback of a cancelled stream, so the caller can keep the
                # partial response; shielded and bounded, nothing fires after it.
                with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                    await on_error(event)
            else:
                await on_error(event)
        return response


def _structure(model: type, value: Any, response: StreamingResponse) -> Any:
    import cattrs

    try:
        return cattrs.structure(value, model)
    except Exception as exc:  # cattrs raises ClassValidationError/ExceptionGroups
        detail = _describe_cattrs_error(exc)
        error = ResponseValidationError(
            f"the JSON answer does not fit {model.__name__}: {detail}",
            raw_json=response.text,
            value=value,
        )
        response.json_error = error
        return None


def _describe_cattrs_error(exc: BaseException) -> str:
    try:
        from cattrs import transform_error

        messages = transform_error(exc)
        return "; ".join(messages)
    except Exception:
        return str(exc)


def warn_once(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)
