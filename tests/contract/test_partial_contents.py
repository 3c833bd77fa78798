"""What a partial holds: everything received, not only text. Reasoning, tool calls
(id, name, the arguments so far), usage, cost; with the body cut anywhere, including
in the middle of an event."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from steer_trio import ProviderError, SteerError
from steer_trio.testing import FakeProvider, Fault, Scenario, ToolCallSpec

from ._support import FORMATS, STREAM_PATHS, TEXT, make_client, run_path

#: Formats whose fake stream carries reasoning (OpenAI chat completions has none; xAI's
#: reasoning_content stands for it).
REASONING_FORMATS = {
    "xai": {"model": "grok-3-mini"},
    "anthropic": FORMATS["anthropic"],
    "responses": FORMATS["responses"],
    "gemini": FORMATS["gemini"],
}
THOUGHTS = ["Let ", "me ", "think. "]


@pytest.mark.parametrize("mode", ["event", "whole"])
@pytest.mark.parametrize("fmt", REASONING_FORMATS)
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_partial_keeps_reasoning_and_text(
    fake_provider: FakeProvider, path: str, fmt: str, mode: str
) -> None:
    # Content events: 3 of reasoning, then text; the error after 2 words of text.
    fault = Fault("in_stream_error", after_events=len(THOUGHTS) + 2)
    fake_provider.enqueue(
        Scenario(text=TEXT, reasoning=THOUGHTS, fault=fault, chunking=mode)  # type: ignore[arg-type]
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, prompt="x", **REASONING_FORMATS[fmt])
    assert isinstance(outcome.error, ProviderError), repr(outcome.error)
    partial = outcome.partial
    assert partial.reasoning == "".join(THOUGHTS)
    assert partial.text == "".join(TEXT[:2])
    assert partial.usage_info is not None and partial.cost_usd is not None


ARGUMENTS = '{"city": "Paris", "days": 3, "units": "metric"}'


@pytest.mark.parametrize("mode", ["event", "whole"])
@pytest.mark.parametrize("fmt", ["openai", "anthropic", "responses"])
@pytest.mark.parametrize("path", STREAM_PATHS)
async def test_partial_keeps_a_tool_call_cut_in_its_arguments(
    fake_provider: FakeProvider, path: str, fmt: str, mode: str
) -> None:
    """The error falls after the call's first argument pieces (8 characters each)."""
    call = ToolCallSpec(id="call_abc", name="weather", arguments=ARGUMENTS)
    # Content events: one text word, then (OpenAI) the call's head and its pieces, or
    # (Anthropic, Responses) its pieces.
    head = 1 if fmt == "openai" else 0
    fault = Fault("in_stream_error", after_events=1 + head + 2)
    fake_provider.enqueue(
        Scenario(text=["Checking. "], tool_calls=[call], fault=fault, chunking=mode)  # type: ignore[arg-type]
    )
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(path, client, fmt)
    assert isinstance(outcome.error, ProviderError), repr(outcome.error)
    partial = outcome.partial
    assert partial.text == "Checking. "
    (got,) = partial.tool_calls
    assert got.id == "call_abc" and got.name == "weather"
    assert got.arguments == ARGUMENTS[:16]  # two pieces of eight


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["in_stream_error", "truncate_after", "malformed_json_after"])
async def test_faults_with_the_body_cut_at_random_places(
    fake_provider: FakeProvider, fmt: str, kind: str, seed: int
) -> None:
    """Random TCP writes (events split anywhere): the partial is still exact."""
    fault = Fault(kind, after_events=4)  # type: ignore[arg-type]
    fake_provider.enqueue(Scenario(text=TEXT, fault=fault, chunking="random", seed=seed))
    deltas: list[str] = []
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path(
                "iterate", client, fmt, on_delta=lambda e: deltas.append(e.delta.value)
            )
    assert isinstance(outcome.error, SteerError), repr(outcome.error)
    assert outcome.partial.text == "".join(TEXT[:4])
    assert outcome.chunks == deltas == TEXT[:4]
    assert len(fake_provider.requests) == 1


@pytest.mark.parametrize("fmt", FORMATS)
async def test_break_in_a_batch_keeps_what_was_received(
    fake_provider: FakeProvider, fmt: str, autojump_clock: Any
) -> None:
    """A ``break`` after the first of many texts read at once: the caller got one, the
    partial holds what arrived (the others of that read included), nothing invented."""
    fake_provider.enqueue(Scenario(text=TEXT, chunking="whole"))
    async with make_client(fake_provider) as client:
        stream = client.stream("x", **FORMATS[fmt])
        async for chunk in stream:
            assert chunk == TEXT[0]
            break
        assert stream.ended
        text = stream.response.text
        assert text.startswith(TEXT[0]) and "".join(TEXT).startswith(text)
