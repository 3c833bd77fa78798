"""Property tests for the sans-IO provider parsers (no trio, no sockets).

Hypothesis writes whole streams in each provider's wire format, straight from
``json.dumps`` (not from our fake server's writer), then feeds them through the real
SSE decoder and parser, cut at arbitrary byte positions. Whatever the text, the
fragments and the cuts, the parser must give back exactly what was sent.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import assemble
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import SSEDecoder, StreamDeltaEvent, StreamEvent
from steer_trio._providers._anthropic import AnthropicParser
from steer_trio._providers._openai import OpenAIChatParser

# Any text a model may write: every plane, newlines, quotes, lone backslashes.
texts = st.lists(st.text(min_size=1, max_size=12), max_size=12)
fragments = st.lists(st.text(max_size=8), min_size=1, max_size=6)
tool_calls = st.lists(fragments, max_size=3)
tokens = st.integers(min_value=0, max_value=10**7)


def sse(data: dict[str, Any] | str, *, event: str | None = None, ascii_only: bool) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=ascii_only)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {body}\n\n".encode()


def feed(parser: Any, events: list[bytes], cuts: list[int] | None) -> list[StreamDeltaEvent]:
    """Feed the wire one event per read (as providers send it) when ``cuts`` is None,
    else the whole wire cut at the given byte positions."""
    decoder = SSEDecoder()
    out: list[StreamEvent] = []
    if cuts is None:
        pieces = events
    else:
        wire = b"".join(events)
        bounds = [0, *sorted({c % (len(wire) + 1) for c in cuts}), len(wire)]
        pieces = [wire[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    for piece in pieces:
        for event in decoder.feed(piece):
            parser.feed(event, out)
    for event in decoder.close():
        parser.feed(event, out)
    assert all(isinstance(e, StreamDeltaEvent) for e in out)
    return [e for e in out if isinstance(e, StreamDeltaEvent)]


@settings(max_examples=150, deadline=None)
@given(
    text=texts,
    reasoning=texts,
    calls=tool_calls,
    prompt=tokens,
    completion=tokens,
    cuts=st.none() | st.lists(st.integers(min_value=0), max_size=40),
    ascii_only=st.booleans(),
)
def test_openai_parser_returns_what_was_sent(
    text: list[str],
    reasoning: list[str],
    calls: list[list[str]],
    prompt: int,
    completion: int,
    cuts: list[int] | None,
    ascii_only: bool,
) -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return sse(payload, ascii_only=ascii_only)

    wire = [chunk({"role": "assistant", "content": ""})]
    wire += [chunk({"reasoning_content": piece}) for piece in reasoning]
    wire += [chunk({"content": piece}) for piece in text]
    for index, pieces in enumerate(calls):
        first = {"index": index, "id": f"call_{index}", "type": "function"}
        opening = {"tool_calls": [{**first, "function": {"name": f"f{index}", "arguments": ""}}]}
        wire.append(chunk(opening))
        for piece in pieces:
            wire.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    wire.append(chunk({}, "tool_calls" if calls else "stop"))
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    wire.append(sse({"id": "chatcmpl-1", "choices": [], "usage": usage}, ascii_only=ascii_only))
    wire.append(sse("[DONE]", ascii_only=ascii_only))

    parser = OpenAIChatParser("openai", "gpt-4o")
    got = assemble(feed(parser, wire, cuts))

    assert parser.done
    assert got["text"] == "".join(text)
    assert got["reasoning"] == "".join(reasoning)
    assert [tool["arguments"] for tool in got["tools"]] == ["".join(pieces) for pieces in calls]
    assert [tool["name"] for tool in got["tools"]] == [f"f{i}" for i in range(len(calls))]
    assert parser.finish_reasons[0] == ("tool_calls" if calls else "stop")
    assert parser.usage is not None
    assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (prompt, completion)
    assert parser.model == "gpt-4o-2024-08-06"


@settings(max_examples=150, deadline=None)
@given(
    text=texts,
    thinking=texts,
    calls=tool_calls,
    fresh=tokens,
    cache_read=tokens,
    cache_write=tokens,
    outputs=st.lists(tokens, min_size=1, max_size=3),
    pings=st.lists(st.integers(min_value=0, max_value=60), max_size=5),
    cuts=st.none() | st.lists(st.integers(min_value=0), max_size=40),
    ascii_only=st.booleans(),
)
def test_anthropic_parser_returns_what_was_sent(
    text: list[str],
    thinking: list[str],
    calls: list[list[str]],
    fresh: int,
    cache_read: int,
    cache_write: int,
    outputs: list[int],
    pings: list[int],
    cuts: list[int] | None,
    ascii_only: bool,
) -> None:
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(sse({"type": kind, **fields}, event=kind, ascii_only=ascii_only))

    emit(
        "message_start",
        message={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "usage": {
                "input_tokens": fresh,
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
                "output_tokens": 1,
            },
        },
    )
    block = 0
    if thinking:
        emit("content_block_start", index=block, content_block={"type": "thinking", "thinking": ""})
        for piece in thinking:
            emit(
                "content_block_delta",
                index=block,
                delta={"type": "thinking_delta", "thinking": piece},
            )
        emit(
            "content_block_delta",
            index=block,
            delta={"type": "signature_delta", "signature": "c2ln"},
        )
        emit("content_block_stop", index=block)
        block += 1
    emit("content_block_start", index=block, content_block={"type": "text", "text": ""})
    for piece in text:
        emit("content_block_delta", index=block, delta={"type": "text_delta", "text": piece})
    emit("content_block_stop", index=block)
    for number, pieces in enumerate(calls):
        block += 1
        emit(
            "content_block_start",
            index=block,
            content_block={
                "type": "tool_use",
                "id": f"toolu_{number}",
                "name": f"f{number}",
                "input": {},
            },
        )
        for piece in pieces:
            emit(
                "content_block_delta",
                index=block,
                delta={"type": "input_json_delta", "partial_json": piece},
            )
        emit("content_block_stop", index=block)
    # message_delta usage is cumulative: the last one is the answer, never a sum.
    for output in outputs:
        emit(
            "message_delta",
            delta={"stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None},
            usage={"output_tokens": output},
        )
    emit("message_stop")
    for position in sorted(pings, reverse=True):
        events.insert(
            min(position, len(events) - 1),
            sse({"type": "ping"}, event="ping", ascii_only=ascii_only),
        )

    parser = AnthropicParser("anthropic", "claude-sonnet-4-5")
    got = assemble(feed(parser, events, cuts))

    assert parser.done
    assert got["text"] == "".join(text)
    assert got["reasoning"] == "".join(thinking)
    assert [tool["arguments"] for tool in got["tools"]] == ["".join(pieces) for pieces in calls]
    assert [tool["name"] for tool in got["tools"]] == [f"f{i}" for i in range(len(calls))]
    assert parser.finish_reasons[0] == ("tool_calls" if calls else "stop")
    assert parser.usage is not None
    assert parser.usage.prompt_tokens == fresh + cache_read + cache_write
    assert parser.usage.cache_read_tokens == cache_read
    assert parser.usage.cache_write_tokens == cache_write
    assert parser.usage.completion_tokens == outputs[-1]
