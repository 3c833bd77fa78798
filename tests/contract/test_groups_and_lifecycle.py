"""Exception groups the caller made come out untouched; a closed client refuses to
work; a client under asyncio says so clearly; an unknown keyword is caught before
anything is sent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import trio

from steer_trio import ClientClosedError, ConfigurationError, SteerClient
from steer_trio.testing import FakeProvider, Scenario, open_fake_provider

from ._support import ALL_PATHS, STREAM_PATHS, TEXT, make_client, run_path

# -- exception groups ------------------------------------------------------------------


def my_group() -> ExceptionGroup[ValueError]:
    return ExceptionGroup("mine", [ValueError(2), ValueError(1)])


@pytest.mark.parametrize("where", ["before_reading", "mid_stream", "after_the_end"])
async def test_callers_group_inside_async_with_comes_out_untouched(
    fake_provider: FakeProvider, where: str
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    group = my_group()
    children = group.exceptions
    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(ExceptionGroup) as caught:
            async with client.stream("x", model="gpt-4o") as stream:
                if where == "before_reading":
                    raise group
                async for _ in stream:
                    if where == "mid_stream":
                        raise group
                raise group
    assert caught.value is group
    assert caught.value.exceptions == children
    assert [str(e) for e in caught.value.exceptions] == ["2", "1"]
    assert group.__cause__ is None and group.__context__ is None


async def test_callers_group_inside_open_fake_provider_comes_out_untouched() -> None:
    group = my_group()
    with pytest.raises(ExceptionGroup) as caught:
        async with open_fake_provider():
            raise group
    assert caught.value is group
    assert [str(e) for e in caught.value.exceptions] == ["2", "1"]


async def test_callers_group_inside_open_fake_provider_keeps_its_leaves() -> None:
    """What does hold: the same leaf exceptions, in order, and no group around it."""
    group = my_group()
    with pytest.raises(ExceptionGroup) as caught:
        async with open_fake_provider():
            raise group
    assert caught.value.message == "mine"
    assert list(caught.value.exceptions) == list(group.exceptions)  # the same objects


async def test_callers_error_with_a_cause_inside_open_fake_provider_keeps_it() -> None:
    cause = KeyError("why")
    error = RuntimeError("what")
    with pytest.raises(RuntimeError) as caught:
        async with open_fake_provider():
            raise error from cause
    assert caught.value is error
    assert caught.value.__cause__ is cause, "the block's own exception lost its __cause__"


async def test_keyboard_interrupt_inside_open_fake_provider_is_alone() -> None:
    with pytest.raises(KeyboardInterrupt):
        async with open_fake_provider():
            raise KeyboardInterrupt


async def test_callers_group_in_the_loop_body_of_a_plain_async_for(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    group = my_group()
    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(ExceptionGroup) as caught:
            async for _ in client.stream("x", model="gpt-4o"):
                raise group
    assert caught.value is group


# -- a closed client -------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_call_after_aclose_raises_client_closed(
    fake_provider: FakeProvider, path: str
) -> None:
    client = make_client(fake_provider)
    async with client:
        pass
    opened = fake_provider.connections_opened
    with trio.fail_after(5):
        outcome = await run_path(path, client)
    assert isinstance(outcome.error, ClientClosedError), repr(outcome.error)
    assert "closed" in str(outcome.error)
    assert fake_provider.requests == []
    assert fake_provider.connections_opened == opened
    await client.aclose()  # idempotent


async def test_client_used_without_async_with_then_closed(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=TEXT))
    client = make_client(fake_provider)
    assert (await client.stream_with_usage("x", model="gpt-4o")).text == "".join(TEXT)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.stream_with_usage("x", model="gpt-4o")
    with pytest.raises(ClientClosedError):
        async with client:
            pass
    assert len(fake_provider.requests) == 1


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_closing_the_client_during_a_call(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    """aclose() while a call is mid-stream: the call ends (with an error or its partial),
    nothing hangs, and later calls are refused."""
    fake_provider.enqueue(Scenario(text=["w "] * 100, delay=1.0))
    client = make_client(fake_provider)
    async with trio.open_nursery() as nursery:

        async def close_soon() -> None:
            await trio.sleep(3.5)
            await client.aclose()

        nursery.start_soon(close_soon)
        with trio.fail_after(30):
            outcome = await run_path(path, client)
    assert outcome.error is not None, "a call on a closed pool cannot complete"
    assert not isinstance(outcome.error, BaseExceptionGroup)
    with pytest.raises(ClientClosedError):
        await client.stream_with_usage("x", model="gpt-4o")


# -- asyncio ---------------------------------------------------------------------------


def test_under_asyncio_a_clear_configuration_error() -> None:
    client = SteerClient(api_keys={"openai": "k"}, base_urls={"openai": "http://127.0.0.1:9/v1"})

    async def main() -> list[str]:
        messages = []
        with pytest.raises(ConfigurationError) as caught:
            await client.stream_with_usage("x", model="gpt-4o")
        messages.append(str(caught.value))
        with pytest.raises(ConfigurationError) as caught:
            await client.generate("x", model="gpt-4o")
        messages.append(str(caught.value))
        with pytest.raises(ConfigurationError) as caught:
            async for _ in client.stream("x", model="gpt-4o"):
                pass
        messages.append(str(caught.value))
        with pytest.raises(ConfigurationError) as caught:
            async with client.stream("x", model="gpt-4o"):
                pass
        messages.append(str(caught.value))
        with pytest.raises(ConfigurationError) as caught:
            async with client:
                pass
        messages.append(str(caught.value))
        return messages

    messages = asyncio.run(main())
    assert len(messages) == 5
    for message in messages:
        assert "asyncio" in message and "trio" in message


def test_under_anyio_asyncio_backend_a_clear_configuration_error() -> None:
    script = textwrap.dedent(
        """
        import anyio
        from steer_trio import ConfigurationError, SteerClient

        async def main():
            client = SteerClient(api_keys={"openai": "k"},
                                 base_urls={"openai": "http://127.0.0.1:9/v1"})
            try:
                await client.stream_with_usage("x", model="gpt-4o")
            except ConfigurationError as exc:
                print("ConfigurationError:", exc)

        anyio.run(main, backend="asyncio")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ConfigurationError:")
    assert "asyncio" in result.stdout and "backend='trio'" in result.stdout


# -- unknown keywords ------------------------------------------------------------------

TYPOS = [
    ("max_token", 5, "max_tokens"),
    ("on_compelte", lambda e: None, "on_complete"),
    ("streaming_option", None, "streaming_options"),
    ("temprature", 0.5, "temperature"),
]


@pytest.mark.parametrize(
    ("path", "keyword", "value", "meant"),
    [
        (path, *typo)
        for path in ALL_PATHS
        for typo in TYPOS
        # generate() takes no callbacks: see test_generate_callback_typo below.
        if not (path == "generate" and typo[0].startswith("on_"))
    ],
)
async def test_unknown_keyword_is_caught_before_anything_is_sent(
    fake_provider: FakeProvider, path: str, keyword: str, value: Any, meant: str
) -> None:
    async with make_client(fake_provider) as client:
        with trio.fail_after(5):
            outcome = await run_path(path, client, **{keyword: value})
    error = outcome.error
    assert isinstance(error, ConfigurationError), repr(error)
    assert keyword in str(error) and f"did you mean {meant!r}" in str(error)
    assert fake_provider.requests == []
    assert fake_provider.connections_opened == 0


async def test_generate_with_a_callback_says_it_takes_none(fake_provider: FakeProvider) -> None:
    async with make_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match="takes no on_complete"):
            await client.generate("x", model="gpt-4o", on_complete=print)  # type: ignore[call-arg]
    assert fake_provider.requests == []


async def test_generate_callback_typo(fake_provider: FakeProvider) -> None:
    async with make_client(fake_provider) as client:
        with pytest.raises(ConfigurationError) as caught:
            await client.generate("x", model="gpt-4o", on_compelte=print)  # type: ignore[call-arg]
    assert "on_complete" in str(caught.value)
    assert "extra_body" not in str(caught.value)


async def test_stream_raises_a_typo_at_the_call_not_at_iteration(
    fake_provider: FakeProvider,
) -> None:
    async with make_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match="did you mean 'max_tokens'"):
            client.stream("x", model="gpt-4o", max_token=5)  # type: ignore[call-arg]
    assert fake_provider.requests == []
