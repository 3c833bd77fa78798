"""One call, from the first await to the last byte, driven from the caller's task.

A :class:`Session` ties an :class:`~steer_trio._transport.Exchange` (the network) to a
:class:`~steer_trio._pipeline.Pipeline` (events, callbacks, the response). Every way of
streaming drives one: ``step()`` reads one network batch and processes it; at the end
``complete()`` builds the response; on any failure ``failed()`` builds the partial and
tells ``on_error``; ``close()`` releases the connection.

The reading happens in the caller's own task, so a delivered text costs no task switch
and an error reaches the caller however slowly it consumes. The one place with a task
and a channel is a *background* event processor (``run_staged``): one task reads the
network and runs the processor, joined to the caller by a bounded memory channel, and
every item (errors included) travels through it in order.

The caller's deadline covers everything here: the pool, connecting, retries, reads
(``Exchange``), and the callbacks (a cancel scope around each batch's processing). A
scope never spans a point where control returns to the caller.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._checkpoints import caller_checkpoints
from ._errors import SteerError, StreamIncompleteError
from ._groups import collapse_group
from ._pipeline import CLEANUP_SECONDS, Pipeline
from ._response import StreamingResponse
from ._transport import Exchange

if TYPE_CHECKING:
    from ._client import SteerClient, _Call

__all__ = ["Session", "run_staged", "run_to_completion"]


class Session:
    def __init__(self, client: SteerClient, call: _Call[Any]) -> None:
        self.client = client
        self.call = call
        self.pipeline: Pipeline = call.pipeline()
        self.exchange: Exchange | None = None
        self.started_at = trio.current_time()
        deadline = call.options.deadline
        self.deadline_at = self.started_at + deadline if deadline is not None else math.inf
        self.closed = False

    @property
    def finished(self) -> bool:
        return self.pipeline.finished

    @property
    def response(self) -> StreamingResponse[Any] | None:
        return self.pipeline.response

    # -- opening -------------------------------------------------------------------

    async def open(self, *, stream: bool = True) -> dict[str, Any] | None:
        """Get a pool, send the request (with retries), start the pipeline. For a
        non-streaming request, returns the JSON body."""
        with trio.move_on_at(self.deadline_at) as scope:
            http = await self.client._ensure_http()
        if scope.cancelled_caught:
            raise self._deadline_error()
        call = self.call
        exchange = Exchange(
            http,
            url=call.target.base_url + call.request.path,
            base_url=call.target.base_url,
            resume=call.resume_request,
            request=call.request,
            parser_factory=call.parser,
            provider=call.target.provider.name,
            options=call.options,
            retry_policy=self.client._retry_policy,
            started_at=self.started_at,
        )
        self.exchange = exchange
        body = None
        if stream:
            await exchange.open()
        else:
            body = await exchange.fetch_json()
        await self._guard(self.pipeline.start(exchange.request_id, exchange.headers))
        return body

    def _deadline_error(self) -> SteerError:
        from ._errors import DeadlineExceeded

        return DeadlineExceeded(
            f"the request to {self.call.target.provider.name} exceeded its deadline of "
            f"{self.call.options.deadline}s"
        )

    async def _guard(self, work: Any) -> Any:
        """Run the caller's callbacks within the deadline (only a scope can stop them)."""
        if self.deadline_at == math.inf:
            return await work
        with trio.move_on_at(self.deadline_at) as scope:
            return await work
        if scope.cancelled_caught:
            raise self._deadline_error()
        return None  # pragma: no cover - unreachable: a finished scope returned above

    # -- reading -------------------------------------------------------------------

    async def step(self, texts: list[str] | None) -> bool:
        """Read and process one network batch; False once the stream completed."""
        exchange = self.exchange
        assert exchange is not None
        batch = await exchange.read_batch()
        if batch is None:
            await self.complete()
            return False
        pipeline = self.pipeline
        if pipeline.plain:
            pipeline.handle_plain(batch, texts)
        else:
            await self._guard(pipeline.handle(batch, texts))
        return True

    async def complete(self) -> StreamingResponse[Any]:
        exchange = self.exchange
        assert exchange is not None
        response: StreamingResponse[Any] = await self._guard(
            self.pipeline.complete(exchange.parser, exchange.timing())
        )
        return response

    # -- endings -------------------------------------------------------------------

    def _billed(self, error: BaseException) -> bool:
        """Whether the provider may bill this request: an answer started, or an attempt
        was sent and is not known to have been refused (a refusal with an error status,
        a connection that never opened: not billed)."""
        exchange = self.exchange
        if exchange is None:
            return False
        return exchange.body_started or exchange.in_flight

    @caller_checkpoints
    async def failed(self, error: BaseException) -> BaseException:
        """The stream ends with ``error``: shut the socket first (the provider sees the
        close at once), then the partial response and ``on_error``. Returns what the
        caller must see: ``error`` itself, or a ``CallbackError`` if ``on_error`` raised
        (it chains ``error``)."""
        exchange = self.exchange
        shut = exchange is not None and exchange.abandon()
        if self.pipeline.finished:
            return error
        if shut:
            # Cancel first, account after: when a scope cancels many streams at once,
            # every one of them shuts its socket before any builds its partial.
            await trio.lowlevel.cancel_shielded_checkpoint()
        parser: Any = exchange.parser if exchange is not None else _NullParser()
        timing = exchange.timing() if exchange is not None else self._timing()
        cancelled = isinstance(error, trio.Cancelled | KeyboardInterrupt)
        try:
            if cancelled:
                with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_SECONDS * 2):
                    await self.pipeline.fail(error, parser, timing, billed=self._billed(error))
            else:
                await self.pipeline.fail(error, parser, timing, billed=self._billed(error))
        except SteerError as callback_error:
            if cancelled:
                # A cancellation or Ctrl-C is never turned into anything else: trio and
                # the caller depend on it. What on_error raised is kept beside it.
                error.add_note(
                    f"on_error raised while the stream was being cancelled: {callback_error}"
                )
                return error
            return callback_error
        return error

    def _timing(self) -> dict[str, Any]:
        return {"duration_ms": (trio.current_time() - self.started_at) * 1000.0, "attempts": 0}

    @caller_checkpoints
    async def close(self) -> None:
        """Release the connection. Shielded and bounded (inside ``aclose``)."""
        self.closed = True
        if self.exchange is not None:
            await self.exchange.aclose()

    @caller_checkpoints
    async def left(self) -> None:
        """The caller left an unfinished ``async with`` block without an error of the
        stream's: close at once, keep the partial, tell nobody (it was their choice)."""
        exchange = self.exchange
        if exchange is None or self.pipeline.finished:
            return
        if exchange.abandon():
            await trio.lowlevel.cancel_shielded_checkpoint()  # the sockets first, as above
        with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_SECONDS):
            await self.pipeline.fail(
                GeneratorExit(), exchange.parser, exchange.timing(), notify=False
            )

    def abandon(self) -> None:
        """Synchronous: the caller left an unfinished plain ``async for``. Shut the
        socket now, keep the partial, and let the client release the pool slot on its
        next call (or its close)."""
        exchange = self.exchange
        if self.closed or exchange is None:
            return
        self.closed = True
        exchange.abandon()
        if not self.pipeline.finished:
            self.pipeline.fail_now(GeneratorExit(), exchange.parser, exchange.timing())
        self.client._release_later(exchange)


class _NullParser:
    """Stands in for a parser when the request was never sent."""

    model = None
    response_id = None
    usage = None
    finish_reasons: dict[int, str | None] = {}
    raw_finish_reasons: dict[int, str | None] = {}


async def run_to_completion(session: Session) -> StreamingResponse[Any]:
    """``stream_with_usage``: the whole stream in the caller's task. One exception out."""
    processor = session.call.options.event_processor
    if processor is not None and getattr(processor, "background", False):
        return await run_staged(session)
    try:
        await session.open()
        while await session.step(None):
            pass
        response = session.response
        assert response is not None
        return response
    except BaseException as exc:
        raise await session.failed(exc)  # noqa: ASYNC102,ASYNC104 - failed() shields its cleanup and hands a Cancelled back unchanged
    finally:
        await session.close()  # noqa: ASYNC102 - shielded and bounded inside


#: The reader's last item: the stream ended complete (a channel that just closes does
#: not say so: a stage may have died).
_END = object()


@attrs.define(slots=True)
class _Failure:
    """An error travelling through a channel, behind the events that came before it."""

    error: BaseException


async def run_staged(session: Session) -> StreamingResponse[Any]:
    """``stream_with_usage`` with a background event processor: one task reads the
    network and runs the processor on each batch, and hands the processed batches over
    a bounded channel (backpressure: a slow processor slows reading; a slow caller
    stops both at ``buffer_size`` batches ahead). The caller's task runs callbacks and
    assembly. Errors travel in order as items, behind what was processed before them."""
    pipeline = session.pipeline
    processor = session.call.options.event_processor
    own_buffer = getattr(processor, "buffer_size", None)
    buffer = max(1, session.call.options.buffer_size if own_buffer is None else own_buffer)
    try:
        await session.open()
        exchange = session.exchange
        assert exchange is not None
        pipeline.deltas_processed_upstream()
        out_send, out_receive = trio.open_memory_channel[Any](buffer)

        @caller_checkpoints
        async def read_and_process() -> None:
            # One task, not a reader and a processor joined by a channel: a channel hop
            # per network read is what the background costs, and one is enough.
            with out_send:
                try:
                    while True:
                        batch = await exchange.read_batch()
                        if batch is None:
                            await out_send.send(_END)
                            return
                        processed: list[Any] = []
                        try:
                            for event in batch:
                                result = await pipeline._process(event)
                                if result is not None:
                                    processed.append(result)
                        except Exception as exc:
                            # What passed before the failure is received text too.
                            await out_send.send(processed)
                            await _send_failure(out_send, exc)
                            return
                        await out_send.send(processed)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                except trio.Cancelled:
                    # The stream is over (the caller's scope, or the caller failing):
                    # shut the socket now, before the nursery unwinds to the caller.
                    exchange.abandon()
                    raise
                except Exception as exc:
                    await _send_failure(out_send, exc)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_and_process)
                ended = False
                with out_receive:
                    try:
                        async for item in out_receive:
                            if isinstance(item, _Failure):
                                raise item.error
                            if item is _END:
                                ended = True
                                break
                            await session._guard(pipeline.handle(item, None))
                    except trio.Cancelled:
                        # Whichever of the two tasks sees the cancel first shuts the
                        # socket: a cancel of many streams has twice the tasks to wake.
                        exchange.abandon()
                        raise
                if not ended:
                    # A stage died without a word (Ctrl-C in a transformer): the nursery
                    # raises its reason; the stream is not complete.
                    await trio.lowlevel.checkpoint()
                    raise StreamIncompleteError(  # pragma: no cover - the nursery raises first
                        "the event processor's stage ended before the stream"
                    )
                await session.complete()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            grouped: BaseException | None = collapse_group(group)
        else:
            grouped = None
        if grouped is not None:
            raise grouped  # outside the handler: its own cause and context stay its own
        response = session.response
        assert response is not None
        return response
    except BaseException as exc:
        raise await session.failed(exc)  # noqa: ASYNC102,ASYNC104 - failed() shields its cleanup and hands a Cancelled back unchanged
    finally:
        await session.close()  # noqa: ASYNC102 - shielded and bounded inside


@caller_checkpoints
async def _send_failure(send: trio.MemorySendChannel[Any], exc: BaseException) -> None:
    # However slow the consumer, the failure reaches it (no timeout here): it is the
    # last item, and the consumer is the one who closes the channel.
    try:
        await send.send(_Failure(exc))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
