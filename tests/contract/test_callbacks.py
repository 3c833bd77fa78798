"""The caller's own code failing inside the stream: a callback or an event-processor
transformer that raises becomes ONE ``CallbackError`` whose ``__cause__`` is the
original exception object, whose ``callback`` names it and whose ``partial`` is the
response so far; ``on_error`` is told. An ``on_error`` that raises keeps the stream's
error on ``stream_error``; one that never returns is bounded."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from steer_trio import CallbackError, ProviderError, StreamEvent
from steer_trio.testing import FakeProvider, Fault, Scenario, ToolCallSpec

from ._support import FORMATS, STREAM_PATHS, TEXT, Recorder, make_client, run_path


class Boom(Exception):
    pass


JSON_PIECES = ['{"name": ', '"Ada", ', '"age": ', "36}"]
CALL = ToolCallSpec(id="call_1", name="lookup", arguments=json.dumps({"city": "Paris", "n": 3}))


def scenario_for(callback: str) -> tuple[Scenario, dict[str, Any]]:
    """A scenario on which ``callback`` fires, and the call's extra keywords."""
    if callback == "on_json":
        return Scenario(text=JSON_PIECES), {"response_format": {"type": "json_object"}}
    if callback == "on_tool_call":
        return Scenario(text=["Let me look. "], tool_calls=[CALL]), {}
    return Scenario(text=TEXT), {}


#: The text the partial holds when the callback raises the first time it is called.
FIRST_CALL_TEXT = {
    "on_start": "",
    "on_delta": TEXT[0],
    "on_usage": "".join(TEXT),
    "on_complete": "".join(TEXT),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "callback", ["on_start", "on_delta", "on_json", "on_tool_call", "on_usage", "on_complete"]
)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_callback_that_raises(
    fake_provider: FakeProvider, recorder: Recorder, path: str, callback: str, fmt: str
) -> None:
    scenario, extra = scenario_for(callback)
    fake_provider.enqueue(scenario)
    boom = Boom("the caller's bug")
    calls = 0

    def failing(event: Any) -> None:
        nonlocal calls
        calls += 1
        raise boom

    callbacks = recorder.callbacks("on_start", "on_usage", "on_complete", "on_error")
    callbacks[callback] = failing
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt, **extra, **callbacks)
    error = outcome.error
    assert type(error) is CallbackError, repr(error)
    if path != "background" or callback == "on_start":  # see test_background_keeps_cause
        assert error.__cause__ is boom
    assert error.callback == callback
    assert calls == 1  # never called again after it raised
    partial = outcome.partial
    assert partial.is_partial and partial.error is error
    if callback == "on_json":
        assert partial.text and "".join(JSON_PIECES).startswith(partial.text)
    elif callback in FIRST_CALL_TEXT:
        assert partial.text == FIRST_CALL_TEXT[callback]
    else:
        assert partial.text == "Let me look. "
    assert recorder.count("on_error") == 1
    (event,) = recorder.events("on_error")
    assert event.error is error and event.partial is partial
    assert event.error_type == "CallbackError"
    if callback != "on_complete":
        assert recorder.count("on_complete") == 0
    assert len(fake_provider.requests) == 1
    with trio.fail_after(1):
        await fake_provider.wait_connection_closed(1)


class RaiseOnNthDelta:
    """A transformer that raises on the ``n``-th text delta (1-based)."""

    def __init__(self, n: int, error: BaseException) -> None:
        self.n = n
        self.seen = 0
        self.error = error

    def transform(self, event: StreamEvent) -> StreamEvent | None:
        if event.event_type == "delta":
            self.seen += 1
            if self.seen == self.n:
                raise self.error
        return event


@pytest.mark.parametrize("mode", ["event", "whole"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_transformer_that_raises(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str, mode: str
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, chunking=mode))  # type: ignore[arg-type]
    boom = Boom("transformer bug")
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(
                path,
                client,
                fmt,
                transformers=(RaiseOnNthDelta(3, boom),),
                **recorder.callbacks(),
            )
    error = outcome.error
    assert type(error) is CallbackError, repr(error)
    assert error.callback == "event_processor"
    if path != "background":  # see test_background_keeps_cause
        assert error.__cause__ is boom
    if outcome.stream is not None and mode == "event":  # see test_texts_before_a_callback_error
        assert outcome.chunks == TEXT[:2]
    # The two deltas the transformer passed were received: they are in the partial.
    if not (path == "background" and mode == "whole"):  # see test_background_batch_kept
        assert outcome.partial.text == "".join(TEXT[:2])
    (event,) = recorder.events("on_error")
    assert event.error is error
    assert recorder.count("on_complete") == 0


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_on_error_that_raises_keeps_the_stream_error(
    fake_provider: FakeProvider, path: str
) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("in_stream_error", after_events=2, error_type="api_error"))
    )
    boom = Boom("on_error's own bug")
    told: list[Any] = []

    def on_error(event: Any) -> None:
        told.append(event)
        raise boom

    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, on_error=on_error)
    error = outcome.error
    assert type(error) is CallbackError, repr(error)
    assert error.callback == "on_error"
    if path in ("stream_with_usage", "background"):  # see test_on_error_error_keeps_its_cause
        assert error.__cause__ is boom
    (event,) = told
    stream_error = event.error
    assert isinstance(stream_error, ProviderError) and stream_error.in_stream
    assert error.stream_error is stream_error and error.__context__ is stream_error
    assert error.partial is not None and error.partial.text == "".join(TEXT[:2])
    assert stream_error.partial is error.partial


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_on_error_that_raises_on_a_provider_refusal(
    fake_provider: FakeProvider, path: str
) -> None:
    fake_provider.enqueue(Scenario(fault=Fault("http_error", status=401, body="{}")))
    boom = Boom("on_error's own bug")

    def on_error(event: Any) -> None:
        raise boom

    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, on_error=on_error)
    error = outcome.error
    assert type(error) is CallbackError and error.__cause__ is boom
    assert type(error.stream_error).__name__ == "AuthenticationError"
    assert error.__context__ is error.stream_error


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_on_error_that_never_returns_is_bounded(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("in_stream_error", after_events=2, error_type="api_error"))
    )

    async def on_error(event: Any) -> None:
        await trio.sleep_forever()

    async with make_client(fake_provider) as client:
        start = trio.current_time()
        with trio.fail_after(60):
            outcome = await run_path(path, client, on_error=on_error)
        took = trio.current_time() - start
    assert isinstance(outcome.error, ProviderError)  # the stream's error, after the bound
    assert took == pytest.approx(10, abs=0.01)


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_callback_raising_an_exception_group(
    fake_provider: FakeProvider, recorder: Recorder, path: str
) -> None:
    """A callback's own exception group is the cause, untouched."""
    fake_provider.enqueue(Scenario(text=TEXT))
    group = ExceptionGroup("mine", [ValueError(2), ValueError(1)])

    def on_delta(event: Any) -> None:
        raise group

    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, on_delta=on_delta, **recorder.callbacks())
    error = outcome.error
    assert type(error) is CallbackError
    if path != "background":  # see test_background_keeps_cause
        assert error.__cause__ is group
    assert [str(e) for e in group.exceptions] == ["2", "1"]
    assert recorder.count("on_error") == 1


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_async_callbacks_are_awaited_and_errors_wrapped(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    boom = Boom("async")
    seen: list[str] = []

    async def on_delta(event: Any) -> None:
        await trio.sleep(1)
        seen.append(event.delta.value)
        if len(seen) == 4:
            raise boom

    async with make_client(fake_provider) as client:
        with trio.fail_after(60):
            outcome = await run_path(path, client, on_delta=on_delta)
    assert type(outcome.error) is CallbackError
    if path != "background":  # see test_background_keeps_cause
        assert outcome.error.__cause__ is boom
    assert seen == TEXT[:4]
    assert outcome.partial.text == "".join(TEXT[:4])


# -- bugs found ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["on_delta", "on_usage", "on_complete", "transformer"])
async def test_background_keeps_cause(fake_provider: FakeProvider, where: str) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    boom = Boom("lost?")

    def failing(event: Any) -> None:
        raise boom

    kwargs: dict[str, Any] = {}
    if where == "transformer":
        kwargs["transformers"] = (RaiseOnNthDelta(2, boom),)
    else:
        kwargs[where] = failing
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path("background", client, **kwargs)
    assert type(outcome.error) is CallbackError
    assert outcome.error.__cause__ is boom


@pytest.mark.parametrize("path", ["iterate", "async_with"])
async def test_on_error_error_keeps_its_cause(fake_provider: FakeProvider, path: str) -> None:
    fake_provider.enqueue(
        Scenario(text=TEXT, fault=Fault("in_stream_error", after_events=2, error_type="api_error"))
    )
    boom = Boom("on_error's own bug")

    def on_error(event: Any) -> None:
        raise boom

    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, on_error=on_error)
    assert type(outcome.error) is CallbackError
    assert outcome.error.__cause__ is boom


@pytest.mark.parametrize("where", ["on_delta", "transformer"])
@pytest.mark.parametrize("path", ["iterate", "async_with"])
async def test_texts_before_a_callback_error(
    fake_provider: FakeProvider, path: str, where: str
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, chunking="whole"))
    boom = Boom("third")
    seen: list[str] = []

    def on_delta(event: Any) -> None:
        seen.append(event.delta.value)
        if len(seen) == 3:
            raise boom

    kwargs: dict[str, Any] = (
        {"on_delta": on_delta}
        if where == "on_delta"
        else {"transformers": (RaiseOnNthDelta(3, boom),)}
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, **kwargs)
    assert type(outcome.error) is CallbackError
    assert outcome.partial.text.startswith("".join(TEXT[:2]))
    assert outcome.chunks == TEXT[:2]  # the two texts that passed were received


@pytest.mark.parametrize("fmt", FORMATS)
async def test_background_batch_kept(fake_provider: FakeProvider, fmt: str) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, chunking="whole"))
    seen: list[str] = []
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(
                "background",
                client,
                fmt,
                transformers=(RaiseOnNthDelta(3, Boom("third")),),
                on_delta=lambda e: seen.append(e.delta.value),
            )
    assert type(outcome.error) is CallbackError
    assert outcome.partial.text == "".join(TEXT[:2])
    assert seen == TEXT[:2]
