"""A stream that completes: the whole text, usage (the provider's, else an estimate),
cost and finish reason; ``on_usage`` and ``on_complete`` once, ``on_error`` never."""

from __future__ import annotations

import pytest
import trio

from steer_trio.testing import FakeProvider, Scenario

from ._support import ALL_PATHS, FORMATS, MODES, STREAM_PATHS, TEXT, Recorder, make_client, run_path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_complete_response(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str, mode: str
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, chunking=mode))  # type: ignore[arg-type]
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt, **callbacks)
    assert outcome.error is None, repr(outcome.error)
    response = outcome.response
    assert response is not None
    assert response.text == "".join(TEXT)
    if path in ("iterate", "async_with"):
        assert outcome.chunks == TEXT  # each delta once, in order
    assert not response.is_partial and response.error is None
    assert response.finish_reason == "stop"
    usage = response.usage
    assert usage is not None and not usage["is_estimated"] and usage["source"] == "provider"
    assert usage["completion_tokens"] == len(TEXT)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert response.cost_usd is not None and response.cost_usd > 0
    assert len(fake_provider.requests) == 1
    if path != "generate":
        assert recorder.count("on_start") == 1
        assert recorder.count("on_usage") == 1
        assert recorder.count("on_complete") == 1
        assert recorder.count("on_error") == 0
        assert recorder.names()[-1] == "on_complete"
        (complete,) = recorder.events("on_complete")
        assert complete.response is response
        (usage_event,) = recorder.events("on_usage")
        assert usage_event.usage == response.usage_info and not usage_event.is_estimated


# Anthropic always reports usage (message_start and message_delta carry it).
@pytest.mark.parametrize("fmt", ["openai", "responses", "gemini"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_no_provider_usage_is_estimated(
    fake_provider: FakeProvider, recorder: Recorder, path: str, fmt: str
) -> None:
    fake_provider.enqueue(Scenario(text=TEXT, send_usage=False))
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt, **recorder.callbacks())
    response = outcome.response
    assert outcome.error is None and response is not None
    assert response.text == "".join(TEXT)
    usage = response.usage
    assert usage is not None and usage["is_estimated"] and usage["source"] != "provider"
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    (usage_event,) = recorder.events("on_usage")
    assert usage_event.is_estimated
    assert recorder.count("on_complete") == 1 and recorder.count("on_error") == 0


@pytest.mark.parametrize("path", ["iterate", "async_with"])
async def test_response_is_set_when_the_loop_ends(fake_provider: FakeProvider, path: str) -> None:
    """``stream.response`` is the complete response right after the ``async for`` (and
    stays None until the stream ended)."""
    fake_provider.enqueue(Scenario(text=TEXT))
    async with make_client(fake_provider) as client:
        stream = client.stream("x", model="gpt-4o")
        assert not stream.ended
        if path == "iterate":
            async for _ in stream:
                assert not stream.ended
        else:
            async with stream as s:
                assert s is stream
                async for _ in s:
                    assert not stream.ended
                assert stream.ended  # set by the end of the iteration
        assert stream.ended and not stream.response.is_partial
        assert stream.response.text == "".join(TEXT)
