"""What happens to events after the parser: processor, callbacks, assembly, usage, cost.

One :class:`Pipeline` per request, used by every way of streaming (plain ``async for``,
``async with client.stream()``, ``stream_with_usage``). Knows nothing about HTTP.
When no processor, callback or JSON handling is configured, ``handle`` reduces to
appending text: the fast path.

Endings: ``complete()`` (the stream finished), ``fail()`` (an error, a cancellation or
Ctrl-C: the partial response, then ``on_error``) and ``fail_now()`` (the caller walked
away from an unfinished plain ``async for``: the partial, synchronously, no callback).

Errors raised by the caller's own code (a callback, a transformer or filter of an
event processor) become one ``CallbackError`` carrying the partial response, with the
caller's exception, untouched, as its ``__cause__``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ._checkpoints import caller_checkpoints
from ._config import StreamingOptions
from ._errors import CallbackError, ResponseValidationError, SteerError
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
from ._response import ResponseBuilder, StreamingResponse
from ._toolcalls import ToolCallAssembler
from ._usage import Usage

if TYPE_CHECKING:  # an event processor's own module loads with the user's processor
    from ._processing._processor import _ProcessorRun

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

#: ``on_error`` after a failure may do real work (log, store the partial), but it must
#: not hold the caller forever: it is cancelled after this long.
ON_ERROR_SECONDS = 10.0
#: Cleanup after a cancellation is shielded so it happens, and bounded so it cannot
#: hold the cancellation up.
CLEANUP_SECONDS = 2.0


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

    @caller_checkpoints
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
        self.run: _ProcessorRun | None = processor.begin() if processor is not None else None
        self.json_parser: Any = None
        if options.enable_json_stream_handler or response_model is not None:
            from ._jsonstream import IncrementalJSONParser

            builder = self.builder
            # The builder keeps the text: the parser reads it from there, not a copy.
            self.json_parser = IncrementalJSONParser(raw_text=lambda: builder.text)
        self._json_error: BaseException | None = None
        self.finished = False
        #: The response as it ended (complete or partial), once it has ended.
        self.response: StreamingResponse[Any] | None = None
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
        event = await self._process(start)
        if event is not None and self.callbacks.on_start is not None:
            await _guarded(self.callbacks.on_start, event, "on_start")

    @caller_checkpoints
    async def _process(self, event: StreamEvent) -> StreamEvent | None:
        if self.run is None:
            return event
        try:
            return await self.run.process(event)
        except (SteerError, trio.Cancelled):
            raise
        except Exception as exc:
            raise CallbackError(
                f"the event processor raised {type(exc).__name__} on a {event.event_type} "
                f"event: {exc}",
                callback="event_processor",
            ) from exc

    def handle_plain(self, events: list[StreamEvent], texts: list[str] | None) -> None:
        """``handle`` when ``plain``: nothing to await, so no coroutine per batch."""
        builder = self.builder
        for item in events:
            if isinstance(item, StreamDeltaEvent):
                builder.add(item)
                delta = item.delta
                if texts is not None and delta.kind == "text" and delta.choice_index == 0:
                    texts.append(delta.value)

    @caller_checkpoints
    async def handle(self, events: list[StreamEvent], texts: list[str] | None) -> None:
        """Process one batch; append the answer-text pieces to ``texts`` if given."""
        if self.plain:
            self.handle_plain(events, texts)
            return
        builder = self.builder
        process = self._process_deltas
        on_delta = self.callbacks.on_delta
        on_delta_sync = self.callbacks.on_delta_sync
        for raw in events:
            event = await self._process(raw) if process else raw
            if event is None or not isinstance(event, StreamDeltaEvent):
                continue
            event.request_id = self.request_id
            builder.add(event)
            if on_delta_sync is not None:
                try:
                    result = on_delta_sync(event)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except (SteerError, trio.Cancelled):
                    raise
                except Exception as exc:
                    raise _callback_error("on_delta", exc) from exc
            elif on_delta is not None:
                await _guarded(on_delta, event, "on_delta")
            delta = event.delta
            if delta.kind == "tool_call":
                await self._tool_events(self.tools.feed(delta))
            elif delta.kind == "text" and delta.choice_index == 0:
                if texts is not None:
                    texts.append(delta.value)
                if self.json_parser is not None:
                    await self._feed_json(delta.value)

    @caller_checkpoints
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
            processed = await self._process(event)
            if processed is not None:
                await _guarded(on_tool_call, processed, "on_tool_call")

    @caller_checkpoints
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
            event = StreamJSONEvent(
                provider=self.provider,
                model=self.model,
                request_id=self.request_id,
                partial=self.json_parser.partial,
                completed=done,
            )
            processed = await self._process(event)
            if processed is not None:
                await _guarded(on_json, processed, "on_json")

    # -- endings -----------------------------------------------------------------------

    def snapshot(self, parser: Any, timing: dict[str, Any]) -> StreamingResponse[Any]:
        response: StreamingResponse[Any] = StreamingResponse(
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
        signature = getattr(parser, "tool_call_signature", None)
        if signature is not None:
            for choice in response.choices:
                for call in choice.tool_calls:
                    call.signature = signature(choice.index, call.index)
        metadata = getattr(parser, "metadata", None)
        if metadata is not None:
            response.provider_metadata = metadata()
        response.metrics = dict(timing)
        response.metrics["chunk_count"] = self.builder.chunk_count
        if self.run is not None and self.run.processor.add_metrics:
            usage = response.usage_info
            response.metrics.update(
                self.run.metrics(usage.completion_tokens if usage is not None else None)
            )
        return response

    async def _settle_usage(
        self, response: StreamingResponse[Any], parser: Any, *, cancelled: bool
    ) -> None:
        provider_usage: Usage | None = parser.usage
        # Anthropic's message_start usage is final for the prompt, preliminary for output.
        final = getattr(parser, "usage_final", True)
        await self.accounting.settle(response, provider_usage, final=final, cancelled=cancelled)
        if self.run is not None and self.run.processor.add_metrics and response.usage_info:
            response.metrics.update(self.run.metrics(response.usage_info.completion_tokens))

    async def complete(self, parser: Any, timing: dict[str, Any]) -> StreamingResponse[Any]:
        """The stream finished: the response, ``on_usage`` and ``on_complete``.

        A failure in here (a callback that raises, the deadline) leaves
        ``finished`` false: the caller then fails the stream with the partial."""
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
            usage_event = await self._process(usage_event)  # type: ignore[arg-type]
            if usage_event is not None and self.callbacks.on_usage is not None:
                await _guarded(self.callbacks.on_usage, usage_event, "on_usage")
        complete: StreamEvent | None = StreamCompleteEvent(
            provider=self.provider,
            model=response.model,
            request_id=self.request_id,
            finish_reason=response.finish_reason,
            raw_finish_reason=response.raw_finish_reason,
            metadata=dict(response.metrics),
            response=response,
        )
        complete = await self._process(complete)  # type: ignore[arg-type]
        if complete is not None:
            response.metrics.update(complete.metadata)
        if complete is not None and self.callbacks.on_complete is not None:
            await _guarded(self.callbacks.on_complete, complete, "on_complete")
        self.finished = True
        self.response = response
        if isinstance(response.json_error, ResponseValidationError):
            response.json_error.partial = response
            raise response.json_error
        return response

    def _finish_json(self, response: StreamingResponse[Any]) -> None:
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

    def _partial(
        self,
        error: BaseException,
        parser: Any,
        timing: dict[str, Any],
    ) -> StreamingResponse[Any]:
        response = self.snapshot(parser, timing)
        response.is_partial = True
        # Leaving early (GeneratorExit stands for it) is the caller's choice, not an error.
        response.error = None if isinstance(error, GeneratorExit) else error
        if self.json_parser is not None and response.text:
            response.json_value = self.json_parser.partial
        return response

    def _attach(self, error: BaseException, response: StreamingResponse[Any]) -> None:
        if isinstance(error, SteerError):
            if error.partial is None:
                error.partial = response
            error.content_delivered = self.builder.chunk_count > 0
        self.finished = True
        self.response = response

    @caller_checkpoints
    async def fail(
        self,
        error: BaseException,
        parser: Any,
        timing: dict[str, Any],
        *,
        notify: bool = True,
        billed: bool = True,
    ) -> StreamingResponse[Any]:
        """Build the partial response for ``error``; attach it; tell ``on_error``.

        ``billed`` False: the provider never answered this request (it refused it
        before any output, or it was never reached), so it costs nothing.

        An ``on_error`` that raises is the caller's own error: it comes out as a
        ``CallbackError`` whose ``__context__`` is ``error`` (nothing is lost); one that
        does not return is cancelled after ``ON_ERROR_SECONDS``.
        """
        cancelled = isinstance(error, trio.Cancelled | KeyboardInterrupt | GeneratorExit)
        response = self._partial(error, parser, timing)
        with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_SECONDS):
            if billed:
                await self._settle_usage(response, parser, cancelled=cancelled)
            else:
                await self.accounting.settle(
                    response, None, cancelled=cancelled, billed=False, reason=_why_not_billed(error)
                )
        self._attach(error, response)
        on_error = self.callbacks.on_error
        # A `break` (GeneratorExit) is the caller's own choice: nothing to report.
        if not notify or on_error is None or isinstance(error, GeneratorExit):
            return response
        event = StreamErrorEvent(
            provider=self.provider,
            model=response.model,
            request_id=self.request_id,
            error=error,
            error_type="cancelled" if cancelled else type(error).__name__,
            partial=response,
        )
        # The last callback of the stream, so the caller can keep the partial; bounded
        # either way, and shielded when the stream is being cancelled.
        with (
            trio.CancelScope(shield=cancelled),
            trio.move_on_after(CLEANUP_SECONDS if cancelled else ON_ERROR_SECONDS),
        ):
            try:
                await on_error(event)
            except Exception as exc:
                raise _callback_error("on_error", exc, context=error, partial=response) from exc
        return response

    def fail_now(self, error: BaseException, parser: Any, timing: dict[str, Any]) -> None:
        """The partial response, synchronously, for a stream the caller walked away from
        (no callback: leaving is the caller's choice). Usage is the provider's if it
        reported any, else a local estimate from what is already loaded."""
        response = self._partial(error, parser, timing)
        self.accounting.settle_nowait(
            response, parser.usage, final=getattr(parser, "usage_final", True)
        )
        self._attach(error, response)


async def _guarded(callback: AsyncCallback, event: Any, name: str) -> None:
    try:
        await callback(event)
    except (SteerError, trio.Cancelled):
        raise
    except Exception as exc:
        raise _callback_error(name, exc) from exc


def _callback_error(
    name: str,
    exc: BaseException,
    *,
    context: BaseException | None = None,
    partial: StreamingResponse[Any] | None = None,
) -> CallbackError:
    error = CallbackError(
        f"{name} raised {type(exc).__name__}: {exc}", callback=name, partial=partial
    )
    if context is not None:
        error.stream_error = context
        error.__context__ = context
    return error


def _why_not_billed(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    if status:
        return f"the provider answered HTTP {status} before any output"
    if isinstance(error, SteerError):
        return "the request never reached the provider"
    return "the request ended before the provider answered"


def _structure(model: type, value: Any, response: StreamingResponse[Any]) -> Any:
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
