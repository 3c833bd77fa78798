"""``SteerClient``: the connection pool, routing, and the public streaming calls.

Three ways to stream, one pipeline:

* ``async for chunk in client.stream(...)``: no nursery to put a task in, so the
  provider loop runs in the caller's task, pulled chunk by chunk (also the fastest
  path). It opens no cancel scope around its ``yield`` (PEP 789); a ``break`` closes
  the generator, which releases the connection.
* ``async with client.stream(...) as chunks``: a provider task in a nursery feeds a
  bounded channel; leaving the block (normally, by error, cancel or ``break``)
  cancels the task and releases the connection before ``__aexit__`` returns.
* ``await client.stream_with_usage(...)``: the same task layout, and the caller's task
  processes (callbacks, usage, JSON) and returns the response.

The caller always sees one exception: provider-task failures travel through the
channel and are raised in the caller's task; a group is never raised.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs
import httpx2
import trio

from ._config import StreamingOptions
from ._errors import ConfigurationError
from ._events import StreamEvent
from ._groups import unwrap_group
from ._pipeline import CALLBACK_NAMES, Callbacks, Pipeline
from ._providers._base import ProviderRequest, RequestSpec, WireParser
from ._providers._routing import ResolvedTarget, resolve_model
from ._providers._wires import WIRES, WireFormat
from ._response import StreamingResponse
from ._retry import RetryPolicy
from ._transport import Exchange, make_http_client

__all__ = ["SteerClient", "TextStream"]

_DEFAULT_OPTIONS = StreamingOptions()
#: Cleanup after a cancellation (building the partial response, a last on_error) is
#: shielded so it happens, and bounded so it cannot hold the cancellation up.
_CLEANUP_SECONDS = 2.0
_SPEC_FIELDS = ("max_tokens", "temperature", "top_p", "stop", "n", "response_format")


@attrs.define(slots=True)
class _Call:
    """Everything one request needs, resolved and validated before anything is sent."""

    target: ResolvedTarget
    spec: RequestSpec
    request: ProviderRequest
    options: StreamingOptions
    callbacks: Callbacks
    response_model: type | None

    @property
    def wire(self) -> WireFormat:
        return WIRES[self.target.provider.wire]

    def parser(self) -> WireParser:
        return self.wire.make_parser(self.target.provider.name, self.spec.model, self.spec)

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
    ``async with`` creates its pool on first use (close it with ``aclose()``).

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

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> SteerClient:
        await self._ensure_http()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await http.aclose()

    async def _ensure_http(self) -> httpx2.AsyncClient:
        if self._http is None:
            http = await make_http_client(self._limits)
            if self._http is None:  # another task may have made one meanwhile
                self._http, self._owns_http = http, True
            else:
                await http.aclose()
        return self._http

    # -- building a call ---------------------------------------------------------------

    def _prepare(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        model: str,
        *,
        provider: str | None,
        streaming_options: StreamingOptions | None,
        callbacks: dict[str, Any],
        response_model: type | None,
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        system: str | None,
        params: dict[str, Any],
        stream: bool = True,
    ) -> _Call:
        messages = _messages(prompt, system)
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
        target = resolve_model(
            model,
            provider=provider or (None if "/" in model else self._default_provider),
            api_keys=self._api_keys,
            base_urls=self._base_urls,
            env=self._env,
        )
        fields = {k: params.pop(k) for k in _SPEC_FIELDS if k in params}
        _validate_params(fields)
        if response_model is not None and "response_format" not in fields:
            fields["response_format"] = {"type": "json_object"}
        spec = RequestSpec(
            provider=target.provider.name,
            model=target.model,
            messages=messages,
            stream=stream,
            tools=_tools(tools),
            tool_choice=tool_choice,
            extra=params,
            **fields,
        )
        request = WIRES[target.provider.wire].build_request(spec, target.api_key)
        if response_model is not None and not options.enable_json_stream_handler:
            options = options.replace(enable_json_stream_handler=True)
        return _Call(target, spec, request, options, Callbacks(**callbacks), response_model)

    async def _exchange(self, call: _Call) -> Exchange:
        return Exchange(
            await self._ensure_http(),
            url=call.target.base_url + call.request.path,
            request=call.request,
            parser_factory=call.parser,
            provider=call.target.provider.name,
            options=call.options,
            retry_policy=self._retry_policy,
        )

    # -- public calls ------------------------------------------------------------------

    def stream(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        on_start: Callable[[Any], Any] | None = None,
        on_delta: Callable[[Any], Any] | None = None,
        on_usage: Callable[[Any], Any] | None = None,
        on_complete: Callable[[Any], Any] | None = None,
        on_error: Callable[[Any], Any] | None = None,
        on_json: Callable[[Any], Any] | None = None,
        on_tool_call: Callable[[Any], Any] | None = None,
        **params: Any,
    ) -> TextStream:
        """Text chunks as they arrive: ``async for`` it, or ``async with`` it.

        Bad input raises here, before anything is sent."""
        call = self._prepare(
            prompt,
            model,
            provider=provider,
            streaming_options=streaming_options,
            callbacks={
                "on_start": on_start,
                "on_delta": on_delta,
                "on_usage": on_usage,
                "on_complete": on_complete,
                "on_error": on_error,
                "on_json": on_json,
                "on_tool_call": on_tool_call,
            },
            response_model=None,
            tools=tools,
            tool_choice=tool_choice,
            system=system,
            params=params,
        )
        return TextStream(self, call)

    async def stream_with_usage(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_model: type | None = None,
        on_start: Callable[[Any], Any] | None = None,
        on_delta: Callable[[Any], Any] | None = None,
        on_usage: Callable[[Any], Any] | None = None,
        on_complete: Callable[[Any], Any] | None = None,
        on_error: Callable[[Any], Any] | None = None,
        on_json: Callable[[Any], Any] | None = None,
        on_tool_call: Callable[[Any], Any] | None = None,
        **params: Any,
    ) -> StreamingResponse:
        """Stream to the end and return the response: text, usage, cost, finish reason.

        On failure or cancellation the raised error carries ``partial``, the response
        so far (its usage marked estimated where the provider never said)."""
        call = self._prepare(
            prompt,
            model,
            provider=provider,
            streaming_options=streaming_options,
            callbacks={
                "on_start": on_start,
                "on_delta": on_delta,
                "on_usage": on_usage,
                "on_complete": on_complete,
                "on_error": on_error,
                "on_json": on_json,
                "on_tool_call": on_tool_call,
            },
            response_model=response_model,
            tools=tools,
            tool_choice=tool_choice,
            system=system,
            params=params,
        )
        return await _run_to_completion(await self._exchange(call), call.pipeline())

    async def generate(
        self,
        prompt: str | Sequence[Mapping[str, Any]],
        model: str = "gpt-4o-mini",
        *,
        provider: str | None = None,
        streaming_options: StreamingOptions | None = None,
        system: str | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_model: type | None = None,
        **params: Any,
    ) -> StreamingResponse:
        """One non-streaming request: the whole answer at once.

        Same response, usage, cost, retries, timeouts and errors as the streaming calls;
        no callbacks (nothing arrives in pieces). A deadline or cancellation abandons the
        request and closes its connection."""
        for name in CALLBACK_NAMES:
            if name in params:
                raise ConfigurationError(
                    f"generate() takes no {name}; use stream_with_usage() for callbacks"
                )
        call = self._prepare(
            prompt,
            model,
            provider=provider,
            streaming_options=streaming_options,
            callbacks={},
            response_model=response_model,
            tools=tools,
            tool_choice=tool_choice,
            system=system,
            params=params,
            stream=False,
        )
        exchange = await self._exchange(call)
        pipeline = call.pipeline()
        try:
            payload = await exchange.fetch_json()
            await pipeline.start(exchange.request_id, exchange.headers)
            parser = exchange.parser
            events: list[StreamEvent] = []
            call.wire.feed_body(parser, payload, events)
            await pipeline.handle(events, None)
            return await pipeline.complete(parser, exchange.timing())
        except Exception as exc:
            failure: Exception = exc
        except BaseException as exc:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_SECONDS):
                await pipeline.fail(exc, exchange.parser, exchange.timing())
            raise
        finally:
            await exchange.aclose()  # noqa: ASYNC102 - shielded and bounded inside
        if not pipeline.finished:
            await pipeline.fail(failure, exchange.parser, exchange.timing())
        raise failure

    # -- batch jobs (steer_trio._batch) -----------------------------------------------

    def batch(self, requests: Any, model: str = "gpt-4o-mini", **options: Any) -> Any:
        """Run many requests under limits: ``async with client.batch(reqs) as results``.

        See ``steer_trio.Batch`` for the options (concurrency, rates, deadlines, budget,
        retries, ordering, progress) and docs/batch-jobs.md."""
        from ._batch._runner import Batch

        return Batch(self, requests, model=model, **options)

    async def submit_batch(self, requests: Any, model: str = "gpt-4o-mini", **options: Any) -> Any:
        """Submit requests to the model's provider batch engine (OpenAI Batch API,
        Anthropic Message Batches): 50% off, results within 24 hours. Returns a
        ``ProviderBatchJob`` (poll, wait, results, cancel); see docs/batch-jobs.md."""
        from ._batch._engines import submit_batch

        return await submit_batch(self, requests, model=model, **options)


class TextStream:
    """What ``client.stream()`` returns: an async iterable of text, and an async
    context manager that guarantees the connection is released when the block ends."""

    def __init__(self, client: SteerClient, call: _Call) -> None:
        self._client = client
        self._call = call
        self._used = False
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None
        self._receive: trio.MemoryReceiveChannel[Any] | None = None
        self.response: StreamingResponse | None = None

    def _claim(self) -> None:
        if self._used:
            raise RuntimeError("a stream can be consumed once; call client.stream() again")
        self._used = True

    # -- plain async for: the provider loop in the caller's task ----------------------

    def __aiter__(self) -> AsyncIterator[str]:
        self._claim()
        return self._pull()

    async def _pull(self) -> AsyncIterator[str]:
        exchange = await self._client._exchange(self._call)
        pipeline = self._call.pipeline()
        texts: list[str] = []
        failure: Exception | None = None
        try:
            try:
                await exchange.open()
                await pipeline.start(exchange.request_id, exchange.headers)
                plain = pipeline.plain
                while True:
                    batch = await exchange.read_batch()
                    if batch is None:
                        break
                    if plain:
                        pipeline.handle_plain(batch, texts)
                    else:
                        await pipeline.handle(batch, texts)
                    if texts:
                        for text in texts:
                            yield text
                        texts.clear()
                self.response = await pipeline.complete(exchange.parser, exchange.timing())
            except Exception as exc:
                failure = exc
            if failure is not None:
                # Outside the except block: on_error runs unshielded, and a cancellation
                # arriving meanwhile wins, as trio expects.
                if not pipeline.finished:
                    self.response = await pipeline.fail(failure, exchange.parser, exchange.timing())
                raise failure
        except Exception:
            raise
        except BaseException as exc:  # Cancelled, KeyboardInterrupt, GeneratorExit (break)
            with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_SECONDS):
                if not pipeline.finished:
                    self.response = await pipeline.fail(exc, exchange.parser, exchange.timing())
            raise
        finally:
            await exchange.aclose()

    # -- async with: a provider task feeding a channel --------------------------------

    async def __aenter__(self) -> AsyncIterator[str]:
        self._claim()
        send, receive = trio.open_memory_channel[Any](max(1, self._call.options.buffer_size))
        self._receive = receive
        manager = trio.open_nursery()
        nursery = await manager.__aenter__()
        self._nursery_manager = manager
        self._nursery = nursery
        nursery.start_soon(self._produce, send)
        return self._consume(receive)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        manager, self._nursery_manager = self._nursery_manager, None
        nursery, self._nursery = self._nursery, None
        if nursery is not None:
            # Leaving the block ends the stream: the provider task is cancelled and its
            # shielded cleanup releases the connection before we return.
            nursery.cancel_scope.cancel()
        try:
            # The nursery must wait for the provider task, whose cleanup is shielded.
            return bool(await manager.__aexit__(exc_type, exc, tb))  # noqa: ASYNC102
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None

    async def _produce(self, send: trio.MemorySendChannel[Any]) -> None:
        """Provider task: network reads to parsed batches; errors travel as items."""
        with send:  # sync close: no checkpoint after it that could swap our error
            exchange = await self._client._exchange(self._call)
            pipeline = self._call.pipeline()
            try:
                await exchange.open()
                await pipeline.start(exchange.request_id, exchange.headers)
                while True:
                    batch = await exchange.read_batch()
                    if batch is None:
                        break
                    texts: list[str] = []
                    await pipeline.handle(batch, texts)
                    if texts:
                        await send.send(texts)
                self.response = await pipeline.complete(exchange.parser, exchange.timing())
            except trio.Cancelled as exc:
                # Leaving the `async with` block cancels us: not an error to report.
                with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_SECONDS):
                    self.response = await pipeline.fail(
                        exc, exchange.parser, exchange.timing(), notify=False
                    )
                raise
            except Exception as exc:
                self.response = await pipeline.fail(exc, exchange.parser, exchange.timing())
                with (
                    trio.move_on_after(1),
                    contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
                ):
                    await send.send(_Failure(exc))
            finally:
                await exchange.aclose()

    async def _consume(self, receive: trio.MemoryReceiveChannel[Any]) -> AsyncIterator[str]:
        # Runs in the caller's task, inside their `async with` block: no scope of ours.
        async for item in receive:
            if isinstance(item, _Failure):
                raise item.error
            for text in item:
                yield text


@attrs.define(slots=True)
class _Failure:
    error: BaseException


async def _run_to_completion(exchange: Exchange, pipeline: Pipeline) -> StreamingResponse:
    """Provider task feeds batches; this task runs the pipeline. One exception out."""
    send, receive = trio.open_memory_channel[Any](max(1, pipeline.options.buffer_size))
    processor = pipeline.options.event_processor
    failure: BaseException | None = None
    response: StreamingResponse | None = None

    async def produce() -> None:
        with send:  # sync close: no checkpoint after it that could swap our error
            try:
                await exchange.open()
                await send.send(("start", exchange.request_id, exchange.headers))
                while True:
                    batch = await exchange.read_batch()
                    if batch is None:
                        break
                    # No extra checkpoint when there is room: the read was one already.
                    try:
                        send.send_nowait(batch)
                    except trio.WouldBlock:
                        await send.send(batch)  # full: backpressure on the network reads
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return  # the consumer stopped (its own error, or done): nothing to tell
            except Exception as exc:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await send.send(_Failure(exc))

    async def consume() -> StreamingResponse:
        with receive:
            while True:
                # Take what is already queued without a trip through the scheduler.
                try:
                    item = receive.receive_nowait()
                except trio.WouldBlock:
                    try:
                        item = await receive.receive()
                    except trio.EndOfChannel:
                        break
                except trio.EndOfChannel:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, tuple):
                    await pipeline.start(item[1], item[2])
                    continue
                await pipeline.handle(item, None)
        return await pipeline.complete(exchange.parser, exchange.timing())

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            if processor is not None and getattr(processor, "background", False):
                # A background processor is its own stage behind a bounded channel.
                receive = _processing_stage(nursery, receive, pipeline, processor.buffer_size)
            try:
                response = await consume()
            except Exception as exc:
                failure = exc
                nursery.cancel_scope.cancel()
            except BaseException as exc:
                # Cancelled / KeyboardInterrupt: leave the partial on the way out.
                with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_SECONDS):
                    await pipeline.fail(exc, exchange.parser, exchange.timing())
                raise
    except BaseExceptionGroup as group:
        raise (failure or unwrap_group(group)) from None
    finally:
        await exchange.aclose()
    if failure is not None:
        if not pipeline.finished:
            await pipeline.fail(failure, exchange.parser, exchange.timing())
        raise failure
    assert response is not None
    return response


def _processing_stage(
    nursery: trio.Nursery,
    upstream: trio.MemoryReceiveChannel[Any],
    pipeline: Pipeline,
    buffer_size: int,
) -> trio.MemoryReceiveChannel[Any]:
    """Run the event processor in its own task; a slow transformer applies backpressure."""
    send, receive = trio.open_memory_channel[Any](max(1, buffer_size))
    run = pipeline.run
    assert run is not None
    # Deltas are processed by the stage; start/usage/complete stay with the pipeline.
    pipeline.deltas_processed_upstream()

    async def stage() -> None:
        with send, upstream:
            async for item in upstream:
                if isinstance(item, list):
                    processed: list[StreamEvent] = []
                    for event in item:
                        out = await run.process(event)
                        if out is not None:
                            processed.append(out)
                    item = processed
                await send.send(item)

    nursery.start_soon(stage)
    return receive


def _messages(prompt: Any, system: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ConfigurationError("the prompt is empty: pass the text to send")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence) and not isinstance(prompt, bytes | bytearray):
        if not prompt:
            raise ConfigurationError("messages is empty: pass at least one message")
        messages = []
        for position, message in enumerate(prompt):
            if not isinstance(message, Mapping) or "role" not in message:
                raise ConfigurationError(
                    f"message {position} must be a dict with 'role' and 'content', got {message!r}"
                )
            if message["role"] not in _ROLES:
                raise ConfigurationError(
                    f"message {position} has role {message['role']!r}; use one of "
                    f"{', '.join(sorted(_ROLES))}"
                )
            messages.append(dict(message))
    else:
        raise ConfigurationError(
            "prompt must be a string or a list of {'role': ..., 'content': ...} messages, "
            f"got {type(prompt).__name__}"
        )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


#: Chat roles every provider adapter knows how to send.
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})

#: Inclusive ranges the providers accept (Anthropic's temperature stops at 1; the
#: provider says so itself, with a BadRequestError).
_RANGES = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    """Copies of the tool definitions, each checked for a name."""
    if not tools:
        return None
    if isinstance(tools, Mapping) or not isinstance(tools, Sequence):
        raise ConfigurationError(
            "tools must be a list of tool definitions, e.g. [{'name': 'get_weather', "
            "'description': '...', 'parameters': {...JSON schema...}}]"
        )
    out = []
    for position, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise ConfigurationError(f"tool {position} must be a dict, got {tool!r}")
        inner = tool.get("function") or tool.get("custom")  # OpenAI's wrapped shapes
        name = inner.get("name") if isinstance(inner, Mapping) else tool.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"tool {position} has no name: give {{'name': ..., 'description': ..., "
                f"'parameters': {{...}}}} (or OpenAI's {{'type': 'function', "
                f"'function': {{'name': ...}}}}); got {dict(tool)!r}"
            )
        out.append(dict(tool))
    return out


def _validate_params(fields: dict[str, Any]) -> None:
    max_tokens = fields.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0
    ):
        raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    for name in ("temperature", "top_p"):
        value = fields.get(name)
        if value is not None and (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
        if value is not None and not _RANGES[name][0] <= value <= _RANGES[name][1]:
            low, high = _RANGES[name]
            raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    n = fields.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConfigurationError(f"n must be an integer >= 1, got {n!r}")
    stop = fields.get("stop")
    if isinstance(stop, str):
        fields["stop"] = [stop]
    elif stop is not None and not (
        isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop)
    ):
        raise ConfigurationError(f"stop must be a string or a list of strings, got {stop!r}")
    response_format = fields.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, dict) and isinstance(response_format.get("type"), str)
    ):
        raise ConfigurationError(
            "response_format must be a dict like {'type': 'json_object'} or "
            "{'type': 'json_schema', 'json_schema': {...}}"
        )
