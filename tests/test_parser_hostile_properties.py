"""Property tests: whatever JSON arrives, a parser parses it or raises a ``SteerError``.

Hypothesis takes valid payloads of each wire format (streamed chunks and events, and
whole non-streaming bodies), puts any JSON value at any field position (one or several,
including fields the payload lacks and the payload itself), and feeds the result to the
real parser, after valid events or alone. Whatever happens, only a ``SteerError`` may
escape, and what the parser produced stays well-typed: deltas of strings, integer
indexes, a ``Usage`` of integers, string ids and finish reasons.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import SteerError, StreamDeltaEvent, StreamEvent
from steer_trio._providers._anthropic import AnthropicParser
from steer_trio._providers._openai import OpenAIChatParser
from steer_trio._sse import ServerSentEvent
from steer_trio._usage import Usage

# Keys the parsers read, so that made-up objects hit the code paths, not only misses.
KEYS = [
    "id", "model", "choices", "index", "delta", "message", "content", "text", "type",
    "thinking", "reasoning", "reasoning_content", "refusal", "tool_calls", "function",
    "name", "arguments", "finish_reason", "usage", "prompt_tokens", "completion_tokens",
    "total_tokens", "prompt_tokens_details", "cached_tokens", "completion_tokens_details",
    "reasoning_tokens", "x_groq", "error", "code", "status_code", "status", "details",
    "content_block", "partial_json", "signature", "stop_reason", "input", "input_tokens",
    "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
    "cache_creation", "ephemeral_1h_input_tokens", "output_tokens_details",
    "thinking_tokens", "request_id",
]  # fmt: skip
WORDS = st.sampled_from(
    ["text", "thinking", "tool_use", "text_delta", "input_json_delta", "thinking_delta",
     "signature_delta", "message_start", "content_block_start", "content_block_delta",
     "message_delta", "message_stop", "error", "stop", "tool_calls", "end_turn",
     "rate_limit_error", "RESOURCE_EXHAUSTED", "", "[DONE]"]
)  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: Python's JSON decoder accepts them
    | st.text(max_size=6)
    | WORDS
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=10,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in ``value`` (the root too), and a new key in every object."""
    found = [prefix]
    if isinstance(value, dict):
        found.append((*prefix, None))  # None: a key the object lacks (drawn later)
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found += paths(item, (*prefix, position))
    return found


def mutate(payload: Any, data: st.DataObject) -> Any:
    """``payload`` with one to three positions given any JSON value."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="how many")):
        path = data.draw(st.sampled_from(paths(payload)), label="path")
        value = data.draw(json_values, label="value")
        if path == ():
            payload = value
            continue
        if path[-1] is None:
            path = (*path[:-1], data.draw(st.sampled_from(KEYS), label="new key"))
        payload = copy.deepcopy(payload)
        target = payload
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return payload


def check_well_typed(parser: Any, out: list[StreamEvent]) -> None:
    for event in out:
        assert isinstance(event, StreamDeltaEvent)
        d = event.delta
        assert type(d.value) is str
        assert d.kind in ("text", "reasoning", "refusal", "tool_call")
        assert type(d.choice_index) is int and d.choice_index >= 0
        assert d.tool_call_index is None or (
            type(d.tool_call_index) is int and d.tool_call_index >= 0
        )
        assert d.tool_call_id is None or type(d.tool_call_id) is str
        assert d.tool_name is None or type(d.tool_name) is str
        assert type(event.model) is str
    assert parser.response_id is None or type(parser.response_id) is str
    assert type(parser.model) is str
    for index, reason in parser.finish_reasons.items():
        assert type(index) is int and type(reason) is str
        assert type(parser.raw_finish_reasons[index]) is str
    if parser.usage is not None:
        assert isinstance(parser.usage, Usage)
        for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(parser.usage, field)
            assert type(value) is int and value >= 0
        assert type(parser.raw_usage) is dict
    else:
        assert parser.raw_usage is None


def feed_events(parser: Any, events: list[ServerSentEvent], out: list[StreamEvent]) -> None:
    try:
        for event in events:
            parser.feed(event, out)
    except SteerError:
        pass


# -- OpenAI Chat ------------------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **top,
    }


OPENAI_CHUNKS: list[dict[str, Any]] = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hello"}),
    chunk({"reasoning_content": "hmm"}),
    chunk({"reasoning": "hmm", "channel": "analysis"}),
    chunk({"refusal": "no"}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        }
    ),  # fmt: skip
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    chunk(
        {
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "think"}]},
                {"type": "text", "text": "answer"},
            ]
        }
    ),
    chunk({}, "stop"),
    {
        "id": "chatcmpl-1",
        "choices": [],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    },
    chunk(
        {},
        "stop",
        x_groq={"id": "req_1", "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ),
    chunk(
        {"content": ""},
        "error",
        error={"code": 502, "message": "upstream", "metadata": {"provider_name": "x"}},
        usage={"prompt_tokens": 43, "completion_tokens": 10, "total_tokens": 53},
    ),
]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_openai_chunk_with_any_value_anywhere(data: st.DataObject) -> None:
    before = data.draw(st.lists(st.sampled_from(OPENAI_CHUNKS), max_size=3), label="before")
    payload = mutate(data.draw(st.sampled_from(OPENAI_CHUNKS), label="chunk"), data)
    event_name = data.draw(st.sampled_from([None, "error", "message"]), label="event")
    events = [ServerSentEvent(None, json.dumps(p)) for p in before]
    events.append(ServerSentEvent(event_name, json.dumps(payload)))
    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    feed_events(parser, events, out)
    check_well_typed(parser, out)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), json_values, max_size=6)
)
def test_openai_any_json_object(payload: dict[str, Any]) -> None:
    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    feed_events(parser, [ServerSentEvent(None, json.dumps(payload))], out)
    check_well_typed(parser, out)
    parser = OpenAIChatParser("openai", "gpt-4o")
    out = []
    try:
        parser.feed_completion(payload, out)
    except SteerError:
        pass
    check_well_typed(parser, out)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_openai_completion_with_any_value_anywhere(data: st.DataObject) -> None:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "hi",
                    "reasoning_content": "hmm",
                    "tool_calls": [
                        {"id": "c", "type": "function",
                         "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }  # fmt: skip
    payload = mutate(body, data)
    if not isinstance(payload, dict):
        return  # the transport only hands a parser a JSON object
    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    try:
        parser.feed_completion(payload, out)
    except SteerError:
        pass
    check_well_typed(parser, out)


# -- Anthropic Messages ------------------------------------------------------------------------

ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "model": "claude-x",
            "content": [],
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 3,
                "cache_creation": {"ephemeral_1h_input_tokens": 1},
                "output_tokens": 1,
                "output_tokens_details": {"thinking_tokens": 0},
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    },
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "thinking_delta", "thinking": "hmm"},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "signature_delta", "signature": "c2ln"},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    },
    {"type": "ping"},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_anthropic_event_with_any_value_anywhere(data: st.DataObject) -> None:
    before = data.draw(st.lists(st.sampled_from(ANTHROPIC_EVENTS), max_size=4), label="before")
    payload = mutate(data.draw(st.sampled_from(ANTHROPIC_EVENTS), label="event"), data)
    event_name = data.draw(st.sampled_from([None, "error", "content_block_delta"]))
    events = [ServerSentEvent(p["type"], json.dumps(p)) for p in before]
    events.append(ServerSentEvent(event_name, json.dumps(payload)))
    json_tool = data.draw(st.sampled_from([None, "f"]), label="json tool")
    parser = AnthropicParser("anthropic", "claude", json_tool_name=json_tool)
    out: list[StreamEvent] = []
    feed_events(parser, events, out)
    check_well_typed(parser, out)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), json_values, max_size=6),
    event_name=st.sampled_from([None, "error", "message_start", "content_block_delta"]),
)
def test_anthropic_any_json_object(payload: dict[str, Any], event_name: str | None) -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    feed_events(parser, [ServerSentEvent(event_name, json.dumps(payload))], out)
    check_well_typed(parser, out)
    parser = AnthropicParser("anthropic", "claude")
    out = []
    try:
        parser.feed_message(payload, out)
    except SteerError:
        pass
    check_well_typed(parser, out)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_anthropic_message_with_any_value_anywhere(data: st.DataObject) -> None:
    body = {
        "id": "msg_2",
        "type": "message",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": "c2ln"},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "cache_read_input_tokens": 2, "output_tokens": 2},
    }
    payload = mutate(body, data)
    if not isinstance(payload, dict):
        return  # the transport only hands a parser a JSON object
    parser = AnthropicParser(
        "anthropic", "claude", json_tool_name=data.draw(st.sampled_from([None, "f"]))
    )
    out: list[StreamEvent] = []
    try:
        parser.feed_message(payload, out)
    except SteerError:
        pass
    check_well_typed(parser, out)
