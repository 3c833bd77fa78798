"""``SteerClient``: the connection pool, routing, and the public calls.

Three ways to stream, one engine (``_session``): the network is read from the
caller's own task, so a text costs no task switch and an error reaches the caller
however slowly it consumes; only a background event processor gets tasks of its own.

* ``client.stream(...)``: a :class:`~steer_trio.TextStream`, for ``async for`` and
  ``async with`` (see ``_stream``);
* ``await client.stream_with_usage(...)``: the whole stream, the response at the end;
* ``await client.generate(...)``: one non-streaming request, the same response.

Bad input raises a ``ConfigurationError`` before anything is sent.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs
import httpx2
import sniffio
import trio

from ._checkpoints import caller_checkpoints
from ._config import StreamingOptions
from ._errors import ClientClosedError, ConfigurationError
from ._events import StreamEvent
from ._groups import collapse_group
from ._params import (
    Prompt,
    RequestParams,
    StreamParams,
    check_keywords,
    messages_from,
    split_params,
    tools_from,
    validate_fields,
    wants_json,
)
from ._pipeline import Callbacks, Pipeline
from ._providers._base import ProviderRequest, RequestSpec, WireParser
from ._providers._routing import ResolvedTarget, resolve_model
from ._providers._wires import WIRES, WireFormat
from ._response import StreamingResponse
from ._retry import RetryPolicy
from ._session import Session, run_to_completion
from ._stream import TextStream, _TextStream
from ._transport import Exchange, make_http_client

if TYPE_CHECKING:
    from typing import Unpack

    from ._batch._engines import ProviderBatchJob
    from ._batch._options import BatchOptions, SubmitOptions
    from ._batch._runner import Batch
    from ._batch._source import BatchRequests

__all__ = ["SteerClient"]

T = TypeVar("T")

_DEFAULT_OPTIONS = StreamingOptions()
_SPEC_FIELDS = ("max_tokens", "temperature", "top_p", "stop", "n", "response_format")


@attrs.define(slots=True)
class _Call(Generic[T]):
    """Everything one request needs, resolved and validated before anything is sent."""

    target: ResolvedTarget
    spec: RequestSpec
    request: ProviderRequest
    options: StreamingOptions
    callbacks: Callbacks
    response_model: type[T] | None

    @property
    def wire(self) -> WireFormat:
        return WIRES[self.target.provider.wire]

    def parser(self) -> WireParser:
        return self.wire.make_parser(self.target.provider.name, self.spec.model, self.spec)

    @property
    def resume_request(self) -> Callable[[WireParser], ProviderRequest | None] | None:
        resume = self.wire.resume_request
        if resume is None:
            return None
        spec, key = self.spec, self.target.api_key
        return lambda parser: resume(spec, parser, key)

    def pipeline(self) -> Pipeline:
        return Pipeline(
            provider=self.target.provider.name,
            model=self.spec.model,
            options=self.options,
            callbacks=self.callbacks,
            messages=self.spec.messages,
            response_model=self.response_model,
        )


class SteerClient:
    """Streams from OpenAI, Anthropic, xAI and OpenAI-compatible servers.

    Construction does no I/O and needs no event loop. ``async with SteerClient() as
    client`` owns one httpx2 pool and closes it on exit; a client used without
    ``async with`` creates its pool on first use (close it with ``aclose()``). A
    closed client raises ``ClientClosedError``.

    ``api_key``/``base_url`` apply to ``provider`` when given. A ``base_url`` without a
    provider points every model without an explicit ``provider/`` prefix at that
    OpenAI-compatible server (vLLM, Ollama, LM Studio), like the official SDKs do.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        provider: str | None = None,
        api_keys: Mapping[str, str | None] | None = None,
        base_urls: Mapping[str, str | None] | None = None,
        streaming_options: StreamingOptions | None = None,
        http_client: httpx2.AsyncClient | None = None,
        limits: httpx2.Limits | None = None,
        retry_policy: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if base_url is not None and provider is None:
            provider = "openai_compatible"
        self._default_provider = provider
        self._api_keys = dict(api_keys or {})
        self._base_urls = dict(base_urls or {})
        if provider is not None:
            if api_key is not None:
                self._api_keys[provider] = api_key
            if base_url is not None:
                self._base_urls[provider] = base_url
        elif api_key is not None:
            raise ConfigurationError(
                "api_key= needs provider=... (or use api_keys={'openai': ..., 'anthropic': ...})"
            )
        if streaming_options is not None and not isinstance(streaming_options, StreamingOptions):
            raise ConfigurationError("streaming_options must be a StreamingOptions")
        self._options = streaming_options or _DEFAULT_OPTIONS
        self._http = http_client
        self._owns_http = http_client is None
        self._limits = limits
        self._retry_policy = retry_policy
        self._env = env
        self._closed = False
        #: Exchanges whose caller walked away (a plain ``async for`` left early): their
        #: sockets are shut already; the reaper task releases their pool slots, or,
        #: without one, the next call does.
        self._to_release: list[Exchange] = []
        self._reaper: tuple[trio.lowlevel.TrioToken, trio.MemorySendChannel[Exchange]] | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> SteerClient:
        self._require_trio()
        if self._closed:
            raise ClientClosedError(
                "this SteerClient was closed (aclose() or the end of its async with); "
                "create a new SteerClient"
            )
        await self._ensure_http()
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self._lifetime())
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.__aexit__(exc_type, exc, tb)  # noqa: ASYNC102 - ends our own task
        finally:
            await self.aclose()  # noqa: ASYNC102 - shielded and bounded inside

    @contextlib.asynccontextmanager
    @caller_checkpoints  # entered by __aenter__, which checkpoints (the pool is made first)
    async def _lifetime(self) -> AsyncIterator[None]:
        """The client's own task while it is entered: it releases, at once, the pool
        slots of streams whose caller walked away (a plain ``async for`` left with
        ``break``), so a call waiting for a slot gets it. Only the client's nursery;
        the caller sees its own exceptions, never a group of ours."""
        send, receive = trio.open_memory_channel[Exchange](math.inf)
        error: BaseException | None = None
        raised: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reap, receive)
                self._reaper = (trio.lowlevel.current_trio_token(), send)
                try:
                    yield
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    self._reaper = None
                    send.close()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            error = collapse_group(group, raised=raised)
        if error is not None:
            raise error  # outside the handler: its own cause and context stay its own

    async def _reap(self, receive: trio.MemoryReceiveChannel[Exchange]) -> None:
        async with receive:
            async for exchange in receive:
                await exchange.aclose()  # shielded and bounded inside

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""
        self._closed = True
        await self._release_abandoned()
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await http.aclose()
        await trio.lowlevel.checkpoint()

    def _require_trio(self) -> None:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = None
        if library != "trio":
            raise ConfigurationError(
                f"steer_trio runs on trio, but this code runs under {library or 'no event loop'}."
                " Start it with trio.run(main), or from anyio with "
                "anyio.run(main, backend='trio') (and anyio's pytest plugin with "
                "anyio_backend = 'trio')."
            )

    async def _ensure_http(self) -> httpx2.AsyncClient:
        if self._closed:
            raise ClientClosedError(
                "this SteerClient was closed (aclose() or the end of its async with); "
                "create a new SteerClient"
            )
        if self._to_release:
            await self._release_abandoned()
        if self._http is None:
            http = await make_http_client(self._limits, base_urls=self._base_urls.values())
            if self._http is None and not self._closed:
                self._http, self._owns_http = http, True
            else:
                with trio.CancelScope(shield=True):
                    await http.aclose()
            if self._http is None:
                raise ClientClosedError("this SteerClient was closed while it was opening")
        else:
            await trio.lowlevel.checkpoint()
        return self._http

    def _release_later(self, exchange: Exchange) -> None:
        """Called from a finalizer (any moment, any task): hand the exchange to the
        reaper through trio's own thread- and reentrancy-safe queue, or keep it for the
        next call when the client has no task (used without ``async with``)."""
        reaper = self._reaper
        if reaper is None:
            self._to_release.append(exchange)
            return
        token, send = reaper

        def hand_over() -> None:
            try:
                send.send_nowait(exchange)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._to_release.append(exchange)

        try:
            token.run_sync_soon(hand_over)
        except trio.RunFinishedError:
            self._to_release.append(exchange)

    @caller_checkpoints
    async def _release_abandoned(self) -> None:
        pending, self._to_release = self._to_release, []
        for exchange in pending:
            await exchange.aclose()  # shielded and bounded inside

    # -- building a call ---------------------------------------------------------------

    def _prepare(
        self,
        prompt: object,
        model: object,
        *,
        call: str,
        provider: str | None,
        streaming_options: StreamingOptions | None,
        system: str | None,
        tools: object,
        tool_choice: object,
        response_model: type[T] | None,
        params: Mapping[str, object],
        callbacks_allowed: bool,
        stream: bool = True,
    ) -> _Call[T]:
        check_keywords(params, callbacks=callbacks_allowed, call=call)
        fields, callbacks = split_params(params)
        messages = messages_from(prompt, system)
        if streaming_options is not None and not isinstance(streaming_options, StreamingOptions):
            raise ConfigurationError(
                "streaming_options must be a StreamingOptions, got "
                f"{type(streaming_options).__name__}"
            )
        options = streaming_options or self._options
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(
                f"model must be a non-empty string, e.g. model='gpt-4o-mini'; got {model!r}"
            )
        if response_model is not None and not isinstance(response_model, type):
            raise ConfigurationError(
                f"response_model must be a class (attrs, dataclass...), got {response_model!r}"
            )
        target = resolve_model(
            model,
            provider=provider or (None if "/" in model else self._default_provider),
            api_keys=self._api_keys,
            base_urls=self._base_urls,
            env=self._env,
            api=fields.pop("api", None),
            default_api=options.api,
        )
        validate_fields(fields)
        extra_body = dict(fields.pop("extra_body", None) or {})
        extra_headers = dict(fields.pop("extra_headers", None) or {})
        if response_model is not None and "response_format" not in fields:
            fields["response_format"] = {"type": "json_object"}
        spec = RequestSpec(
            provider=target.provider.name,
            model=target.model,
            messages=messages,
            stream=stream,
            tools=tools_from(tools),
            tool_choice=tool_choice,
            extra=extra_body,
            **{k: fields[k] for k in _SPEC_FIELDS if k in fields},
        )
        request = WIRES[target.provider.wire].build_request(spec, target.api_key)
        if extra_headers:
            request.headers.update({k.lower(): v for k, v in extra_headers.items()})
        # Any sign that the answer is JSON switches on incremental parsing.
        if not options.enable_json_stream_handler and (
            response_model is not None or wants_json(fields) or "on_json" in callbacks
        ):
            options = options.replace(enable_json_stream_handler=True)
        return _Call(target, spec, request, options, Callbacks(**callbacks), response_model)

    # -- public calls ------------------------------------------------------------------

    def stream(
        self,
        prompt: Prompt,
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, object]] | None = None,
        tool_choice: str | Mapping[str, object] | None = None,
        **params: Unpack[StreamParams],
    ) -> TextStream:
        """The answer's text as it arrives: ``async for`` it, or ``async with`` it (the
        block closes the connection when it ends, and ``.response`` has usage and cost).

        Bad input raises here, before anything is sent; the request is sent when the
        iteration (or the ``async with`` block) starts."""
        call: _Call[Any] = self._prepare(
            prompt,
            model,
            call="stream",
            provider=provider,
            streaming_options=streaming_options,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            response_model=None,
            params=params,
            callbacks_allowed=True,
        )
        return _TextStream(self, call)

    @overload
    async def stream_with_usage(
        self,
        prompt: Prompt,
        model: str = ...,
        *,
        provider: str | None = ...,
        streaming_options: StreamingOptions | None = ...,
        system: str | None = ...,
        tools: Sequence[Mapping[str, object]] | None = ...,
        tool_choice: str | Mapping[str, object] | None = ...,
        response_model: None = ...,
        **params: Unpack[StreamParams],
    ) -> StreamingResponse[None]: ...

    @overload
    async def stream_with_usage(
        self,
        prompt: Prompt,
        model: str = ...,
        *,
        provider: str | None = ...,
        streaming_options: StreamingOptions | None = ...,
        system: str | None = ...,
        tools: Sequence[Mapping[str, object]] | None = ...,
        tool_choice: str | Mapping[str, object] | None = ...,
        response_model: type[T],
        **params: Unpack[StreamParams],
    ) -> StreamingResponse[T]: ...

    async def stream_with_usage(
        self,
        prompt: Prompt,
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, object]] | None = None,
        tool_choice: str | Mapping[str, object] | None = None,
        response_model: type[T] | None = None,
        **params: Unpack[StreamParams],
    ) -> StreamingResponse[Any]:
        """Stream to the end and return the response: text, usage, cost, finish reason,
        and ``parsed`` (an instance of ``response_model``) when one is given.

        On failure the one ``SteerError`` raised carries ``partial``, the response so far
        (its usage marked estimated where the provider never said)."""
        self._require_trio()
        call = self._prepare(
            prompt,
            model,
            call="stream_with_usage",
            provider=provider,
            streaming_options=streaming_options,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            response_model=response_model,
            params=params,
            callbacks_allowed=True,
        )
        return await run_to_completion(Session(self, call))

    @overload
    async def generate(
        self,
        prompt: Prompt,
        model: str = ...,
        *,
        provider: str | None = ...,
        streaming_options: StreamingOptions | None = ...,
        system: str | None = ...,
        tools: Sequence[Mapping[str, object]] | None = ...,
        tool_choice: str | Mapping[str, object] | None = ...,
        response_model: None = ...,
        **params: Unpack[RequestParams],
    ) -> StreamingResponse[None]: ...

    @overload
    async def generate(
        self,
        prompt: Prompt,
        model: str = ...,
        *,
        provider: str | None = ...,
        streaming_options: StreamingOptions | None = ...,
        system: str | None = ...,
        tools: Sequence[Mapping[str, object]] | None = ...,
        tool_choice: str | Mapping[str, object] | None = ...,
        response_model: type[T],
        **params: Unpack[RequestParams],
    ) -> StreamingResponse[T]: ...

    async def generate(
        self,
        prompt: Prompt,
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, object]] | None = None,
        tool_choice: str | Mapping[str, object] | None = None,
        response_model: type[T] | None = None,
        **params: Unpack[RequestParams],
    ) -> StreamingResponse[Any]:
        """One non-streaming request: the whole answer at once.

        Same response, usage, cost, retries, timeouts and errors as the streaming calls;
        no callbacks (nothing arrives in pieces). The body is read up to
        ``StreamingOptions.max_response_bytes``. A deadline or cancellation abandons
        the request and closes its connection."""
        self._require_trio()
        call = self._prepare(
            prompt,
            model,
            call="generate",
            provider=provider,
            streaming_options=streaming_options,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            response_model=response_model,
            params=params,
            callbacks_allowed=False,
            stream=False,
        )
        session = Session(self, call)
        try:
            payload = await session.open(stream=False)
            assert payload is not None and session.exchange is not None
            events: list[StreamEvent] = []
            call.wire.feed_body(session.exchange.parser, payload, events)
            await session.pipeline.handle(events, None)
            return await session.complete()
        except BaseException as exc:
            raise await session.failed(exc)  # noqa: ASYNC102,ASYNC104 - failed() shields its cleanup and hands a Cancelled back unchanged
        finally:
            await session.close()  # noqa: ASYNC102 - shielded and bounded inside

    # -- batch jobs (steer_trio._batch) -----------------------------------------------

    def batch(
        self,
        requests: BatchRequests,
        model: str = "gpt-4o-mini",
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """Run many requests under limits: ``async with client.batch(reqs) as results``.

        See ``steer_trio.Batch`` for the options (concurrency, rates, deadlines, budget,
        retries, ordering, progress) and docs/batch-jobs.md."""
        from ._batch._runner import Batch

        return Batch(self, requests, model=model, **options)

    async def submit_batch(
        self,
        requests: BatchRequests,
        model: str = "gpt-4o-mini",
        **options: Unpack[SubmitOptions],
    ) -> ProviderBatchJob:
        """Submit requests to the model's provider batch engine (OpenAI Batch API,
        Anthropic Message Batches): 50% off, results within 24 hours. Returns a
        ``ProviderBatchJob`` (poll, wait, results, cancel); see docs/batch-jobs.md."""
        from ._batch._engines import submit_batch

        return await submit_batch(self, requests, model=model, **options)
