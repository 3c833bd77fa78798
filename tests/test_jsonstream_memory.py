"""JSON mode keeps the answer's text once: the parser reads it from the response
builder, which keeps it in a few large blocks and, once joined, as one string."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import steer_client as steer

from steer_trio import JSONTruncatedError, StreamDelta, StreamDeltaEvent, StreamingResponse
from steer_trio._response import ResponseBuilder
from steer_trio.testing import FakeProvider, Scenario


def text_event(value: str, choice: int = 0) -> StreamDeltaEvent:
    return StreamDeltaEvent(
        provider="openai",
        model="m",
        delta=StreamDelta(kind="text", value=value, choice_index=choice),
    )


def test_builder_text_in_large_blocks_then_one_string() -> None:
    builder = ResponseBuilder()
    pieces = [f"<{i}>" for i in range(64 * 64 * 2 + 37)]
    for piece in pieces[:5000]:
        builder.add(text_event(piece))
    # 5000 pieces: one block of 4096, 14 of 64, 8 pieces.
    assert [len(part) for part in builder._parts[:1]] == [len("".join(pieces[:4096]))]
    assert len(builder._parts) == 1 + 14 + 8
    middle = builder.text
    assert middle == "".join(pieces[:5000]) and builder._parts == [middle]
    assert builder.text is middle  # joined once
    for piece in pieces[5000:]:
        builder.add(text_event(piece))
    builder.add(text_event("other choice", choice=1))
    # The joined text stays whole: the next blocks are folded from the pieces after it.
    assert builder._parts[0] is middle and len(builder._parts[1]) == len("".join(pieces[5000:5064]))
    whole = builder.text
    assert whole == "".join(pieces) and builder._parts == [whole]
    response = builder.build(StreamingResponse())
    assert response.text is whole and response.choices[1].text == "other choice"


def long_answer(chars: int) -> tuple[str, list[str]]:
    value = {"answer": 'line\n"é" 😀 ' * (chars // 12), "n": 1}
    text = json.dumps(value)
    return text, [text[i : i + 100] for i in range(0, len(text), 100)]


def is_prefix(shown: str, whole: str) -> bool:
    # A pair of escapes cut between its halves shows the first half alone.
    if shown and "\ud800" <= shown[-1] <= "\udbff":
        shown = shown[:-1]
    return whole.startswith(shown)


async def test_json_mode_long_string_read_back_from_the_text(fake_provider: FakeProvider) -> None:
    text, pieces = long_answer(300_000)
    partials: list[Any] = []
    fake_provider.enqueue(Scenario(text=pieces))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage(
            "x",
            model="gpt-4o",
            response_format={"type": "json_object"},
            on_json=lambda event: partials.append(event.partial),
        )
    assert response.text == text
    assert response.json_value == json.loads(text) and response.json_error is None
    shown = [p["answer"] for p in partials if "answer" in p]
    assert len(set(shown)) > 10  # the long string showed as it grew
    assert all(is_prefix(s, response.json_value["answer"]) for s in shown)


async def test_json_mode_cut_answer_has_the_text_as_raw(fake_provider: FakeProvider) -> None:
    text, pieces = long_answer(300_000)
    cut = "".join(pieces[:-3])
    fake_provider.enqueue(Scenario(text=pieces[:-3]))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage(
            "x", model="gpt-4o", response_format={"type": "json_object"}
        )
    assert response.text == cut
    assert isinstance(response.json_error, JSONTruncatedError)
    assert response.json_error.raw == cut
    assert is_prefix(response.json_error.partial["answer"], json.loads(text)["answer"])
    with pytest.raises(JSONTruncatedError):
        response.get_json()
