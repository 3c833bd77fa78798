"""Leaving a stream early: ``break`` out of a plain ``async for`` (a), or leaving an
``async with`` block (b). The server sees the connection closed at once, ``response``
is the partial, nobody is told of an error (leaving was the caller's choice), and the
pool slot is free for the next call."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import trio

from steer_trio import SteerClient, TextStream
from steer_trio.testing import FakeProvider, Scenario

from ._support import FORMATS, Recorder, make_client, pool_of_one, wait_closed

LONG = [f"w{i} " for i in range(200)]


def long_story(**kwargs: Any) -> Scenario:
    """200 words, one a second: whatever the test waits for, the server is mid-stream."""
    return Scenario(text=LONG, delay=1.0, **kwargs)


async def next_call_works(client: SteerClient, server: FakeProvider) -> None:
    """With a pool of one, the next call only gets a connection if the slot was freed."""
    server.enqueue(Scenario(text=["ok"]))
    with trio.fail_after(5):
        assert (await client.stream_with_usage("again", model="gpt-4o")).text == "ok"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_break_out_of_plain_async_for(
    fake_provider: FakeProvider, recorder: Recorder, fmt: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(long_story())
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        got = []
        stream = client.stream("x", **FORMATS[fmt], **recorder.callbacks())
        async for chunk in stream:
            got.append(chunk)
            if len(got) == 3:
                break
        left_at = trio.current_time()
        # Right after the loop, with no await in between: the partial is there.
        response = stream.response
        assert response is not None and response.is_partial and response.error is None
        assert response.text == "".join(LONG[:3]) == "".join(got)
        assert response.usage_info is not None and response.usage["is_estimated"]
        closed_at = await wait_closed(fake_provider)
        assert closed_at == left_at  # at once: no trio time passed
        assert recorder.count("on_error") == recorder.count("on_complete") == 0
        await next_call_works(client, fake_provider)
    gc.collect()  # an unclosed resource would warn here (warnings are errors)


async def test_break_without_a_reference_to_the_stream(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(long_story())
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        async for chunk in client.stream("x", model="gpt-4o"):
            assert chunk == "w0 "
            break
        left_at = trio.current_time()
        assert await wait_closed(fake_provider) == left_at
        await next_call_works(client, fake_provider)
        assert len(fake_provider.requests) == 2


async def test_break_then_close_the_client_releases_everything(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    """The slot of an abandoned stream is released by the client's close as well."""
    fake_provider.enqueue(long_story())
    client = make_client(fake_provider, limits=pool_of_one())
    async for _ in client.stream("x", model="gpt-4o"):
        break
    await wait_closed(fake_provider)
    with trio.fail_after(5):
        await client.aclose()
    gc.collect()


async def test_break_when_the_caller_keeps_the_iterator(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    """An iterator the caller keeps keeps the stream: ``aclose()`` (or ``async with``)
    is then the way to close it; the partial is set by it."""
    fake_provider.enqueue(long_story())
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        stream = client.stream("x", model="gpt-4o")
        iterator = aiter(stream)
        assert await anext(iterator) == "w0 "
        assert not stream.ended and fake_provider.closed_events == []
        await stream.aclose()
        closed_at = trio.current_time()
        assert await wait_closed(fake_provider) == closed_at
        assert stream.ended and stream.response.text == "w0 "
        assert stream.response.is_partial
        with pytest.raises(StopAsyncIteration):
            await anext(iterator)  # a closed stream ends; it does not read again
        await next_call_works(client, fake_provider)


@pytest.mark.parametrize("how", ["break", "return", "own_error"])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_leaving_async_with_early_closes_before_the_block_is_left(
    fake_provider: FakeProvider, recorder: Recorder, fmt: str, how: str, autojump_clock: Any
) -> None:
    class Mine(Exception):
        pass

    fake_provider.enqueue(long_story())
    async with make_client(fake_provider, limits=pool_of_one()) as client:
        got: list[str] = []
        holder: list[TextStream] = []

        async def consume() -> None:
            async with client.stream("x", **FORMATS[fmt], **recorder.callbacks()) as stream:
                holder.append(stream)
                async for chunk in stream:
                    got.append(chunk)
                    if len(got) == 2:
                        if how == "return":
                            return
                        if how == "own_error":
                            raise Mine("the caller's own error")
                        break
                # Still inside the block after a break: not closed yet.
                assert not stream.ended

        if how == "own_error":
            with pytest.raises(Mine):  # untouched, not wrapped
                await consume()
        else:
            await consume()
        left_at = trio.current_time()
        # Closed before the block was left: the server has already seen it.
        assert await wait_closed(fake_provider) == left_at
        (stream,) = holder
        response = stream.response
        assert response is not None and response.is_partial and response.error is None
        assert response.text == "".join(got) == "".join(LONG[:2])
        assert recorder.count("on_error") == recorder.count("on_complete") == 0
        await next_call_works(client, fake_provider)


async def test_async_with_closes_before_the_block_is_left(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    """Strictly: the shutdown is sent before ``__aexit__`` returns (the server needs
    one scheduling round to notice, and no trio time)."""
    fake_provider.enqueue(long_story())
    async with make_client(fake_provider) as client:
        async with client.stream("x", model="gpt-4o") as stream:
            async for _ in stream:
                break
        left_at = trio.current_time()
        await trio.testing.wait_all_tasks_blocked()
        assert fake_provider.closed_events == [left_at]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunking", ["event", "whole"])
async def test_second_async_for_continues_where_the_first_stopped(
    fake_provider: FakeProvider, fmt: str, chunking: str
) -> None:
    """In one ``async with`` block, a second ``async for`` continues: no text lost or
    repeated, even when the break fell inside one network read of many texts."""
    text = [f"t{i} " for i in range(12)]
    fake_provider.enqueue(Scenario(text=text, chunking=chunking))  # type: ignore[arg-type]
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            async with client.stream("x", **FORMATS[fmt]) as stream:
                first, second, third = [], [], []
                async for chunk in stream:
                    first.append(chunk)
                    if len(first) == 3:
                        break
                async for chunk in stream:
                    second.append(chunk)
                    if len(second) == 4:
                        break
                async for chunk in stream:
                    third.append(chunk)
            assert first + second + third == text
            assert stream.ended and stream.response.text == "".join(text)
            assert not stream.response.is_partial


async def test_a_stream_is_consumed_once(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["a"]))
    async with make_client(fake_provider) as client:
        stream = client.stream("x", model="gpt-4o")
        async for _ in stream:
            pass
        with pytest.raises(RuntimeError, match="once"):
            async for _ in stream:
                pass
        with pytest.raises(RuntimeError, match="once"):
            async with stream:
                pass
    assert len(fake_provider.requests) == 1


async def test_break_frees_the_slot_for_a_call_already_waiting(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(long_story(), Scenario(text=["ok"]))
    got: list[str] = []
    async with make_client(fake_provider, limits=pool_of_one()) as client:

        async def waiting() -> None:
            await trio.sleep(1.5)  # the first stream holds the only connection
            got.append((await client.stream_with_usage("x", model="gpt-4o")).text)

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiting)
                async for chunk in client.stream("x", model="gpt-4o"):
                    if chunk == LONG[3]:
                        break
    assert got == ["ok"]
