"""Every public async function, and each ``__aenter__``/``__aexit__``, executes a trio
checkpoint: it can be cancelled and lets other tasks run, even when it has nothing to
wait for. (A function that raises at once, such as a ``ConfigurationError`` for a
misspelt keyword, need not: trio's own rule.)"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from steer_trio.testing import FakeProvider, Scenario

from ._support import TEXT, make_client


async def test_client_enter_exit_and_aclose(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    client = make_client(fake_provider)
    with trio.testing.assert_checkpoints():
        await client.__aenter__()
    await client.stream_with_usage("x", model="gpt-4o")  # a connection in the pool
    with trio.testing.assert_checkpoints():
        await client.__aexit__(None, None, None)
    with trio.testing.assert_checkpoints():
        await client.aclose()  # already closed: still a checkpoint


async def test_exit_of_an_unused_client(fake_provider: FakeProvider) -> None:
    client = make_client(fake_provider)
    await client.__aenter__()
    with trio.testing.assert_checkpoints():
        await client.__aexit__(None, None, None)


async def test_aclose_of_a_client_that_never_opened(fake_provider: FakeProvider) -> None:
    client = make_client(fake_provider)
    with trio.testing.assert_checkpoints():
        await client.aclose()


async def test_calls(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT), Scenario(text=TEXT))
    async with make_client(fake_provider) as client:
        with trio.testing.assert_checkpoints():
            await client.stream_with_usage("x", model="gpt-4o")
        with trio.testing.assert_checkpoints():
            await client.generate("x", model="gpt-4o")


async def test_stream_enter_exit_and_aclose(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT), Scenario(text=TEXT))
    async with make_client(fake_provider) as client:
        stream = client.stream("x", model="gpt-4o")
        with trio.testing.assert_checkpoints():
            await stream.__aenter__()
        async for _ in stream:
            pass
        with trio.testing.assert_checkpoints():
            await stream.__aexit__(None, None, None)  # finished and closed already
        with trio.testing.assert_checkpoints():
            await stream.aclose()
        early = client.stream("x", model="gpt-4o")
        async with early:
            async for _ in early:
                break
            with trio.testing.assert_checkpoints():
                await early.aclose()  # unfinished: closes now


async def test_anext_from_the_network_and_at_the_end(
    fake_provider: FakeProvider, autojump_clock: object
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, delay=1.0))  # one event per network read
    async with make_client(fake_provider) as client:
        iterator = aiter(client.stream("x", model="gpt-4o"))
        for _ in TEXT:
            with trio.testing.assert_checkpoints():
                await anext(iterator)
        with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
            await anext(iterator)
        with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
            await anext(iterator)  # after the end, too


async def test_anext_checkpoints_once_per_read_not_per_text(fake_provider: FakeProvider) -> None:
    """As documented: every network read is a checkpoint; the other texts of the same
    read are handed out without a trip through the scheduler (each is still a cancel
    point: the next test)."""
    fake_provider.enqueue(Scenario(text=TEXT, chunking="whole"))
    async with make_client(fake_provider) as client:
        iterator = aiter(client.stream("x", model="gpt-4o"))
        with trio.testing.assert_checkpoints():
            await anext(iterator)  # the read brought every text at once
        steps = _StepCounter(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(steps)
        try:
            second = await anext(iterator)
        finally:
            trio.lowlevel.remove_instrument(steps)
        assert second == TEXT[1]
        assert steps.count == 0  # this task was never rescheduled for it


class _StepCounter(trio.abc.Instrument):
    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.count += 1


async def test_cancelled_scope_stops_the_next_chunk(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, chunking="whole"))
    got: list[str] = []
    async with make_client(fake_provider) as client:
        with trio.CancelScope() as scope:
            async for chunk in client.stream("x", model="gpt-4o"):
                got.append(chunk)
                scope.cancel()
    assert got == TEXT[:1]


async def test_fake_provider_enter_and_wait(fake_provider: FakeProvider) -> None:
    from steer_trio.testing import open_fake_provider

    manager = open_fake_provider()
    with trio.testing.assert_checkpoints():
        server = await manager.__aenter__()
    with trio.testing.assert_checkpoints():
        await manager.__aexit__(None, None, None)
    del server


async def test_wait_connection_closed_when_already_closed(fake_provider: FakeProvider) -> None:
    with trio.testing.assert_checkpoints():
        await fake_provider.wait_connection_closed(0)
