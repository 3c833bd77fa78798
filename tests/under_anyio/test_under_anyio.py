"""steer_trio used from anyio code: task groups, anyio's timeouts and cancel scopes,
and anyio's pytest plugin with the ``fake_provider`` fixture (trio backend)."""

from __future__ import annotations

import anyio
import pytest
import sniffio
import trio

from steer_trio import DeadlineExceeded, SteerClient, StreamingOptions
from steer_trio.testing import FakeProvider, Fault, Scenario

pytestmark = pytest.mark.anyio


def client_for(server: FakeProvider, **kwargs: object) -> SteerClient:
    return SteerClient(
        api_keys={"openai": "sk-test"}, base_urls={"openai": server.openai_base_url}, **kwargs
    )


async def test_runs_under_anyios_runner_with_the_fixture(fake_provider: FakeProvider) -> None:
    # anyio's runner, not pytest-trio's: anyio's trio backend drives this test, and
    # trio runs as a guest of it.
    assert sniffio.current_async_library() == "trio"
    assert trio.lowlevel.current_task().name.endswith("TestRunner._run_tests_and_fixtures")
    fake_provider.enqueue(Scenario(text=["Hello", " from", " anyio"]))
    async with client_for(fake_provider) as client:
        response = await client.stream_with_usage("hi", model="gpt-4o")
    assert response.get_text() == "Hello from anyio"
    assert fake_provider.requests[-1].json["messages"] == [{"role": "user", "content": "hi"}]


async def test_streams_in_a_task_group(fake_provider: FakeProvider) -> None:
    for i in range(3):
        fake_provider.route(f"gpt-4o-{i}", Scenario(text=[f"answer {i}"]))
    results: dict[int, str] = {}
    async with client_for(fake_provider) as client:

        async def one(i: int) -> None:
            chunks = [c async for c in client.stream("hi", model=f"gpt-4o-{i}")]
            results[i] = "".join(chunks)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(one, i)
    assert results == {0: "answer 0", 1: "answer 1", 2: "answer 2"}


async def test_fail_after_cancels_a_stalled_stream_and_closes_it(
    fake_provider: FakeProvider,
) -> None:
    stall = Fault("stall_after", after_events=1, seconds=30)
    fake_provider.enqueue(Scenario(text=["first", " never"], fault=stall))
    kept = []
    async with client_for(fake_provider) as client:
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.5):
                await client.stream_with_usage(
                    "hi", model="gpt-4o", on_error=lambda e: kept.append(e.partial)
                )
        # The connection was closed at once: the server saw the client hang up.
        with anyio.fail_after(5):
            await fake_provider.wait_connection_closed()
    assert [p.get_text() for p in kept] == ["first"]
    assert kept[0].is_partial


async def test_a_cancel_scope_around_async_for_stops_the_stream(
    fake_provider: FakeProvider,
) -> None:
    stall = Fault("stall_after", after_events=1, seconds=30)
    fake_provider.enqueue(Scenario(text=["one", " two", " three"], fault=stall))
    seen = []
    async with client_for(fake_provider) as client:
        with anyio.CancelScope() as scope:
            async for chunk in client.stream("hi", model="gpt-4o"):
                seen.append(chunk)
                scope.cancel()
        assert scope.cancel_called
        with anyio.fail_after(5):
            await fake_provider.wait_connection_closed()
    assert seen == ["one"]


async def test_the_sdks_own_deadline_under_anyio(fake_provider: FakeProvider) -> None:
    stall = Fault("stall_after", after_events=1, seconds=30)
    fake_provider.enqueue(Scenario(text=["first", " never"], fault=stall))
    async with client_for(fake_provider, streaming_options=StreamingOptions(deadline=0.3)) as c:
        with pytest.raises(DeadlineExceeded) as info:
            await c.stream_with_usage("hi", model="gpt-4o")
    assert info.value.partial is not None and info.value.partial.get_text() == "first"


async def test_fake_provider_env_under_anyio(fake_provider_env: FakeProvider) -> None:
    fake_provider_env.enqueue(Scenario(text=["from the environment"]))
    async with SteerClient() as client:
        response = await client.stream_with_usage("hi", model="gpt-4o-mini")
    assert response.get_text() == "from the environment"
