"""Ctrl-C: one ``KeyboardInterrupt``, never an exception group, and the connection
closed. In-process, a callback or the loop body raises ``KeyboardInterrupt`` (what
trio does when Ctrl-C lands in unprotected code); in a subprocess, a real SIGINT is
delivered by trio to the main task while it waits inside the library."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import trio

from steer_trio.testing import FakeProvider, Scenario

from ._support import ALL_PATHS, STREAM_PATHS, Outcome, Recorder, make_client, run_path

LONG = [f"w{i} " for i in range(200)]


async def next_call_works(client: Any, server: FakeProvider) -> None:
    server.enqueue(Scenario(text=["ok"]))
    with trio.fail_after(5):
        assert (await client.stream_with_usage("again", model="gpt-4o")).text == "ok"


@pytest.mark.parametrize("callback", ["on_start", "on_delta", "on_usage", "on_complete"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_ctrl_c_in_a_callback(
    fake_provider: FakeProvider, recorder: Recorder, path: str, callback: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=LONG[:6]))
    interrupt = KeyboardInterrupt()
    delivered: list[str] = []

    def press(event: Any) -> None:
        if callback != "on_delta" or len(delivered) == 2:
            raise interrupt
        delivered.append(event.delta.value)

    callbacks = recorder.callbacks("on_error")
    callbacks[callback] = press
    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(KeyboardInterrupt) as caught:
            await run_path(path, client, catch=(), **callbacks)
        assert caught.value is interrupt  # itself: not a group, not a copy
        if callback in ("on_start", "on_delta"):
            with trio.fail_after(1):
                await fake_provider.wait_connection_closed(1)
        # (After the body ended, the connection went back to the pool, healthy.)
        (event,) = recorder.events("on_error")
        assert event.error_type == "cancelled" and event.error is interrupt
        assert event.partial.is_partial
        if callback == "on_delta":
            assert event.partial.text.startswith("".join(delivered))
        await next_call_works(client, fake_provider)


@pytest.mark.parametrize("path", ["iterate", "async_with"])
async def test_ctrl_c_in_the_loop_body(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=LONG, delay=1.0))
    outcome = Outcome([])

    def press(chunk: str) -> None:
        if len(outcome.chunks) == 3:
            raise KeyboardInterrupt

    async with make_client(fake_provider) as client:
        with trio.fail_after(30), pytest.raises(KeyboardInterrupt):
            await run_path(path, client, per_chunk=press, catch=(), outcome=outcome)
        left_at = trio.current_time()
        with trio.fail_after(0.05):
            await fake_provider.wait_connection_closed(1)
        assert fake_provider.closed_events == [left_at]
        assert outcome.stream is not None and outcome.stream.ended
        assert outcome.stream.response.text == "".join(LONG[:3])
        await next_call_works(client, fake_provider)


async def test_ctrl_c_in_a_background_transformer(
    fake_provider: FakeProvider, recorder: Recorder
) -> None:
    """Raised in the processor's own task: it still comes out alone, and the stream is
    not taken as complete."""

    class PressOnThird:
        seen = 0

        def transform(self, event: Any) -> Any:
            if event.event_type == "delta":
                self.seen += 1
                if self.seen == 3:
                    raise KeyboardInterrupt
            return event

    fake_provider.enqueue(Scenario(text=LONG[:10]))
    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(KeyboardInterrupt):
            await run_path(
                "background",
                client,
                catch=(),
                transformers=(PressOnThird(),),
                **recorder.callbacks("on_complete", "on_error"),
            )
        assert recorder.count("on_complete") == 0
        (event,) = recorder.events("on_error")
        assert event.error_type == "cancelled"


async def test_ctrl_c_wins_over_another_error(fake_provider: FakeProvider) -> None:
    """With a background processor, a transformer fails on the third delta while the
    caller's task is interrupted on the second: the interrupt is what comes out."""

    class FailOnThird:
        seen = 0

        def transform(self, event: Any) -> Any:
            if event.event_type == "delta":
                self.seen += 1
                if self.seen == 3:
                    raise ValueError("transformer")
            return event

    def press(event: Any) -> None:
        if event.delta.value == LONG[1]:
            raise KeyboardInterrupt

    fake_provider.enqueue(Scenario(text=LONG[:10]))
    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(KeyboardInterrupt):
            await run_path(
                "background", client, catch=(), transformers=(FailOnThird(),), on_delta=press
            )


# -- a real SIGINT, in a subprocess --------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json, signal, sys
    import trio, trio.testing
    from steer_trio import SteerClient, StreamingOptions, create_event_processor
    from steer_trio.testing import Fault, Scenario, open_fake_provider

    PATH = WHERE = ""
    report = {}


    async def ctrl_c_after(seconds):
        # A system task is protected from KeyboardInterrupt: trio delivers this SIGINT
        # to the main task, at the checkpoint where it waits, as it does a real Ctrl-C.
        await trio.sleep(seconds)
        signal.raise_signal(signal.SIGINT)


    async def slow_on_delta(event):
        await trio.sleep(100)


    async def call(client):
        kwargs = {"model": "gpt-4o", "on_error": lambda e: report["told"].append(e.error_type)}
        if WHERE == "callback":
            kwargs["on_delta"] = slow_on_delta
        if PATH == "iterate":
            async for _ in client.stream("x", **kwargs):
                pass
        elif PATH == "async_with":
            async with client.stream("x", **kwargs) as stream:
                async for _ in stream:
                    pass
        elif PATH == "stream_with_usage":
            await client.stream_with_usage("x", **kwargs)
        elif PATH == "background":
            options = StreamingOptions(event_processor=create_event_processor(background=True))
            await client.stream_with_usage("x", streaming_options=options, **kwargs)
        else:
            del kwargs["on_error"]
            await client.generate("x", **kwargs)


    async def main():
        async with open_fake_provider() as fake:
            if PATH == "generate":
                fake.enqueue(Scenario(fault=Fault("stall_before_headers", seconds=600)))
            else:
                fake.enqueue(Scenario(text=["w "] * 100, delay=1.0))
            urls = {"openai": fake.openai_base_url}
            async with SteerClient(api_keys={"openai": "k"}, base_urls=urls) as client:
                trio.lowlevel.spawn_system_task(ctrl_c_after, 3.5)
                try:
                    await call(client)
                except BaseException as exc:
                    report["raised"] = type(exc).__name__
                    report["group"] = isinstance(exc, BaseExceptionGroup)
                    with trio.move_on_after(1):
                        await fake.wait_connection_closed(1)
                    report["closed"] = len(fake.closed_events)
                    if not isinstance(exc, KeyboardInterrupt):
                        raise
                else:
                    report["raised"] = None


    for case in sys.argv[1:]:
        PATH, WHERE = case.split(":")
        report = {"case": case, "told": []}
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        print(json.dumps(report), flush=True)
    """
)


# generate() takes no callbacks.
SIGINT_CASES = [
    f"{path}:{where}"
    for path in ALL_PATHS
    for where in ("network", "callback")
    if (path, where) != ("generate", "callback")
]


@pytest.fixture(scope="module")
def sigint_reports() -> dict[str, dict[str, Any]]:
    """One subprocess runs every case, each in its own ``trio.run``."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *SIGINT_CASES],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {report["case"]: report for report in reports}


@pytest.mark.parametrize("case", SIGINT_CASES)
def test_real_sigint(sigint_reports: dict[str, dict[str, Any]], case: str) -> None:
    report = sigint_reports[case]
    assert report["raised"] == "KeyboardInterrupt" and report["group"] is False
    assert report["closed"] == 1
    if not case.startswith("generate"):
        assert report["told"] == ["cancelled"]


@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_on_error_raising_does_not_swallow_ctrl_c(
    fake_provider: FakeProvider, path: str
) -> None:
    fake_provider.enqueue(Scenario(text=LONG[:10]))

    def press(event: Any) -> None:
        if event.chunk_index == 2:
            raise KeyboardInterrupt

    def on_error(event: Any) -> None:
        raise ValueError("on_error's own bug")

    async with make_client(fake_provider) as client:
        with trio.fail_after(10), pytest.raises(KeyboardInterrupt):
            await run_path(path, client, catch=(), on_delta=press, on_error=on_error)
