"""Fields of the wrong JSON type: a clear ``StreamProtocolError``, never a raw exception.

Each case is one valid payload with one field replaced. The error must be exactly
``StreamProtocolError`` (not a raw ``AttributeError``/``TypeError``/``KeyError``...),
carry the data line (or, for a whole body, the body as JSON) as ``raw``, and name the
field and what was expected. Deltas appended before the bad field stay appended.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from steer_trio import (
    StreamDeltaEvent,
    StreamEvent,
    StreamProtocolError,
)
from steer_trio._providers._anthropic import AnthropicParser
from steer_trio._providers._openai import OpenAIChatParser
from steer_trio._sse import ServerSentEvent
from steer_trio._usage import Usage

# -- helpers ---------------------------------------------------------------------------


def with_value(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` with the field at ``path`` set to ``value``."""
    out = copy.deepcopy(payload)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def deltas(out: list[StreamEvent]) -> list[tuple[str, str]]:
    assert all(isinstance(e, StreamDeltaEvent) for e in out)
    return [(e.delta.kind, e.delta.value) for e in out if isinstance(e, StreamDeltaEvent)]


def check_error(
    err: StreamProtocolError, provider: str, where: str, kind: str, expected: str
) -> None:
    assert type(err) is StreamProtocolError
    assert err.message.startswith(f"{provider} sent {where} as {kind}"), err.message
    assert err.message.endswith(f"where {expected} was expected"), err.message


# What the messages say was expected.
COUNT = "a non-negative integer"
TEXT_OR_PARTS = "a string or a list of content parts"
JSON_TEXT = "a string (JSON text)"
PART = "an object (a content part)"


# -- OpenAI Chat: streamed chunks ----------------------------------------------------------

CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "model": "gpt-4o",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
TOOL_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "delta": {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ]
            },
            "finish_reason": None,
        }
    ],
}
MISTRAL_CHUNK: dict[str, Any] = {
    "id": "m1",
    "model": "magistral-medium-2509",
    "choices": [
        {
            "index": 0,
            "delta": {
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                    {"type": "text", "text": "ok"},
                ]
            },
            "finish_reason": None,
        }
    ],
}
USAGE_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "choices": [],
    "usage": {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
GROQ_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    "x_groq": {"id": "req_1", "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
}

D = ("choices", 0, "delta")
CALL = (*D, "tool_calls", 0)
PARTS = (*D, "content")
OPENAI_CASES: list[tuple[dict[str, Any], tuple[Any, ...], Any, str, str, str]] = [
    # (valid payload, path, value, where, kind of the value, expected)
    (CHUNK, ("choices",), "abc", "choices", 'a string ("abc")', "a list"),
    (CHUNK, ("choices",), {"0": {}}, "choices", "an object", "a list"),
    (CHUNK, ("choices", 0), 1, "choices[0]", "a number (1)", "an object"),
    (CHUNK, ("choices", 0), [2], "choices[0]", "a list", "an object"),
    (CHUNK, D, "text", "choices[0].delta", 'a string ("text")', "an object"),
    (CHUNK, D, ["content"], "choices[0].delta", "a list", "an object"),
    (CHUNK, (*D, "content"), 5, "choices[0].delta.content", "a number (5)", TEXT_OR_PARTS),
    (
        CHUNK,
        (*D, "content"),
        {"a": 1},
        "choices[0].delta.content",
        'an object ({"a": 1})',
        TEXT_OR_PARTS,
    ),
    (CHUNK, (*D, "content"), False, "choices[0].delta.content", "a boolean (false)", TEXT_OR_PARTS),
    (CHUNK, ("choices", 0, "index"), "0", "choices[0].index", 'a string ("0")', COUNT),
    (CHUNK, ("choices", 0, "index"), -1, "choices[0].index", "a number (-1)", COUNT),
    (CHUNK, ("choices", 0, "index"), True, "choices[0].index", "a boolean (true)", COUNT),
    (CHUNK, ("choices", 0, "index"), 1.5, "choices[0].index", "a number (1.5)", COUNT),
    (CHUNK, ("choices", 0, "finish_reason"), 5, "choices[0].finish_reason", "a number", "a string"),
    (
        CHUNK,
        (*D, "reasoning_content"),
        5,
        "choices[0].delta.reasoning_content",
        "a number",
        "a string",
    ),
    (CHUNK, (*D, "reasoning"), ["x"], "choices[0].delta.reasoning", "a list", "a string"),
    (CHUNK, (*D, "refusal"), {}, "choices[0].delta.refusal", "an object", "a string"),
    (CHUNK, ("model",), 5, "model", "a number", "a string"),
    (CHUNK, ("id",), 5, "id", "a number", "a string"),
    (CHUNK, ("usage",), [1], "usage", "a list", "an object"),
    (CHUNK, ("usage",), "12", "usage", "a string", "an object"),
    (USAGE_CHUNK, ("usage", "prompt_tokens"), "3", "usage.prompt_tokens", 'a string ("3")', COUNT),
    (
        USAGE_CHUNK,
        ("usage", "completion_tokens"),
        4.5,
        "usage.completion_tokens",
        "a number (4.5)",
        COUNT,
    ),
    (USAGE_CHUNK, ("usage", "total_tokens"), -7, "usage.total_tokens", "a number (-7)", COUNT),
    (USAGE_CHUNK, ("usage", "prompt_tokens"), True, "usage.prompt_tokens", "a boolean", COUNT),
    (
        USAGE_CHUNK,
        ("usage", "prompt_tokens_details"),
        [],
        "usage.prompt_tokens_details",
        "a list",
        "an object",
    ),
    (
        USAGE_CHUNK,
        ("usage", "prompt_tokens_details", "cached_tokens"),
        "0",
        "usage.prompt_tokens_details.cached_tokens",
        "a string",
        COUNT,
    ),
    (
        USAGE_CHUNK,
        ("usage", "completion_tokens_details"),
        0,
        "usage.completion_tokens_details",
        "a number",
        "an object",
    ),
    (
        USAGE_CHUNK,
        ("usage", "completion_tokens_details", "reasoning_tokens"),
        {},
        "usage.completion_tokens_details.reasoning_tokens",
        "an object",
        COUNT,
    ),
    (
        TOOL_CHUNK,
        (*D, "tool_calls"),
        {"index": 0},
        "choices[0].delta.tool_calls",
        "an object",
        "a list",
    ),
    (TOOL_CHUNK, (*D, "tool_calls"), "call", "choices[0].delta.tool_calls", "a string", "a list"),
    (TOOL_CHUNK, CALL, 7, "choices[0].delta.tool_calls[0]", "a number (7)", "an object"),
    (
        TOOL_CHUNK,
        (*CALL, "function"),
        "f",
        "choices[0].delta.tool_calls[0].function",
        "a string",
        "an object",
    ),
    (
        TOOL_CHUNK,
        (*CALL, "function", "arguments"),
        5,
        "choices[0].delta.tool_calls[0].function.arguments",
        "a number",
        JSON_TEXT,
    ),
    (
        TOOL_CHUNK,
        (*CALL, "function", "arguments"),
        {"a": 1},
        "choices[0].delta.tool_calls[0].function.arguments",
        "an object",
        JSON_TEXT,
    ),
    (
        TOOL_CHUNK,
        (*CALL, "function", "name"),
        5,
        "choices[0].delta.tool_calls[0].function.name",
        "a number",
        "a string",
    ),
    (TOOL_CHUNK, (*CALL, "id"), ["x"], "choices[0].delta.tool_calls[0].id", "a list", "a string"),
    (TOOL_CHUNK, (*CALL, "index"), "0", "choices[0].delta.tool_calls[0].index", "a string", COUNT),
    (TOOL_CHUNK, (*CALL, "index"), -2, "choices[0].delta.tool_calls[0].index", "a number", COUNT),
    (MISTRAL_CHUNK, (*PARTS, 0), "hmm", "choices[0].delta.content[0]", "a string", PART),
    (
        MISTRAL_CHUNK,
        (*PARTS, 1, "text"),
        5,
        "choices[0].delta.content[1].text",
        "a number",
        "a string",
    ),
    (
        MISTRAL_CHUNK,
        (*PARTS, 0, "thinking"),
        "hmm",
        "choices[0].delta.content[0].thinking",
        "a string",
        "a list of parts",
    ),
    (
        MISTRAL_CHUNK,
        (*PARTS, 0, "thinking", 0),
        3,
        "choices[0].delta.content[0].thinking[0]",
        "a number",
        "an object (a part)",
    ),
    (
        MISTRAL_CHUNK,
        (*PARTS, 0, "thinking", 0, "text"),
        [],
        "choices[0].delta.content[0].thinking[0].text",
        "a list",
        "a string",
    ),
    (GROQ_CHUNK, ("x_groq",), "req_1", "x_groq", "a string", "an object"),
    (GROQ_CHUNK, ("x_groq", "usage"), [3, 4], "x_groq.usage", "a list", "an object"),
    (
        GROQ_CHUNK,
        ("x_groq", "usage", "prompt_tokens"),
        "3",
        "x_groq.usage.prompt_tokens",
        "a string",
        COUNT,
    ),
]


@pytest.mark.parametrize(
    ("payload", "path", "value", "where", "kind", "expected"),
    OPENAI_CASES,
    ids=[f"{c[3]}={json.dumps(c[2])}" for c in OPENAI_CASES],
)
def test_openai_chunk_field_of_the_wrong_type(
    payload: dict[str, Any], path: tuple[Any, ...], value: Any, where: str, kind: str, expected: str
) -> None:
    parser = OpenAIChatParser("openai", "gpt-4o")
    parser.feed(ServerSentEvent(None, json.dumps(payload)), [])  # the valid chunk parses
    data = json.dumps(with_value(payload, path, value))
    fresh = OpenAIChatParser("openai", "gpt-4o")
    with pytest.raises(StreamProtocolError) as info:
        fresh.feed(ServerSentEvent(None, data), [])
    check_error(info.value, "openai", where, kind, expected)
    assert info.value.raw == data


def test_openai_deltas_before_the_bad_field_stay_and_nothing_after_is_read() -> None:
    payload = {
        "id": "chatcmpl-1",
        "choices": [
            {"index": 0, "delta": {"content": "kept"}},
            {
                "index": 1,
                "delta": {
                    "content": "also kept",
                    "refusal": 5,
                    "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}],
                },
                "finish_reason": "stop",
            },
            {"index": 2, "delta": {"content": "never read"}},
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2},
    }
    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    with pytest.raises(StreamProtocolError, match=r"choices\[1\]\.delta\.refusal as a number"):
        parser.feed(ServerSentEvent(None, json.dumps(payload)), out)
    assert deltas(out) == [("text", "kept"), ("text", "also kept")]
    assert [e.delta.choice_index for e in out if isinstance(e, StreamDeltaEvent)] == [0, 1]
    # The finish reason and the usage come after the bad field: not taken.
    assert parser.finish_reasons == {} and parser.usage is None and parser.raw_usage is None
    assert parser.response_id == "chatcmpl-1"  # read before it


def test_openai_tool_call_fragments_before_a_bad_one_stay() -> None:
    calls = [
        {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}},
        {"index": 1, "id": "b", "function": {"name": "g", "arguments": 1}},
    ]
    payload = {"choices": [{"index": 0, "delta": {"tool_calls": calls}}]}
    parser = OpenAIChatParser("openai", "gpt-4o")
    out: list[StreamEvent] = []
    with pytest.raises(StreamProtocolError, match=r"tool_calls\[1\]\.function\.arguments"):
        parser.feed(ServerSentEvent(None, json.dumps(payload)), out)
    assert deltas(out) == [("tool_call", "{}")]


def test_openai_bad_usage_leaves_the_earlier_usage() -> None:
    parser = OpenAIChatParser("openai", "gpt-4o")
    good = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6}}
    parser.feed(ServerSentEvent(None, json.dumps(good)), [])
    bad = {
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": "8", "total_tokens": 15},
    }
    with pytest.raises(StreamProtocolError, match="usage.completion_tokens"):
        parser.feed(ServerSentEvent(None, json.dumps(bad)), [])
    assert parser.usage == Usage.build(5, 6)
    assert parser.raw_usage == good["usage"]


def test_openai_wrong_type_in_an_error_chunk_still_raises_the_typed_error() -> None:
    from steer_trio import RateLimitError

    payload = {"error": {"code": 429, "message": "slow down"}, "choices": "nonsense"}
    with pytest.raises(RateLimitError, match="slow down"):
        OpenAIChatParser("openrouter", "m").feed(ServerSentEvent(None, json.dumps(payload)), [])


# -- OpenAI Chat: a whole non-streaming body -----------------------------------------------

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hello",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}
M = ("choices", 0, "message")
COMPLETION_CASES: list[tuple[tuple[Any, ...], Any, str, str, str]] = [
    (("choices",), {}, "choices", "an object", "a list"),
    (("choices", 0), "x", "choices[0]", "a string", "an object"),
    (M, "hello", "choices[0].message", "a string", "an object"),
    ((*M, "content"), 3, "choices[0].message.content", "a number", TEXT_OR_PARTS),
    ((*M, "content"), [1], "choices[0].message.content[0]", "a number", PART),
    ((*M, "tool_calls"), {}, "choices[0].message.tool_calls", "an object", "a list"),
    ((*M, "tool_calls", 0), None, "choices[0].message.tool_calls[0]", "null", "an object"),
    (
        (*M, "tool_calls", 0, "function", "arguments"),
        {"x": 1},
        "choices[0].message.tool_calls[0].function.arguments",
        "an object",
        JSON_TEXT,
    ),
    (("choices", 0, "index"), "0", "choices[0].index", "a string", COUNT),
    (("choices", 0, "finish_reason"), ["stop"], "choices[0].finish_reason", "a list", "a string"),
    (("usage",), "3", "usage", "a string", "an object"),
    (("usage", "total_tokens"), "3", "usage.total_tokens", "a string", COUNT),
    (("model",), {}, "model", "an object", "a string"),
]


@pytest.mark.parametrize(
    ("path", "value", "where", "kind", "expected"),
    COMPLETION_CASES,
    ids=[f"{c[2]}={json.dumps(c[1])}" for c in COMPLETION_CASES],
)
def test_openai_completion_field_of_the_wrong_type(
    path: tuple[Any, ...], value: Any, where: str, kind: str, expected: str
) -> None:
    OpenAIChatParser("openai", "gpt-4o").feed_completion(copy.deepcopy(COMPLETION), [])
    body = with_value(COMPLETION, path, value)
    parser = OpenAIChatParser("openai", "gpt-4o")
    with pytest.raises(StreamProtocolError) as info:
        parser.feed_completion(body, [])
    check_error(info.value, "openai", where, kind, expected)
    assert isinstance(info.value.raw, str) and json.loads(info.value.raw) == body
    assert not parser.done


# -- Anthropic Messages: streamed events ----------------------------------------------------

MESSAGE_START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "model": "claude-x",
        "content": [],
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1,
            "output_tokens_details": {"thinking_tokens": 0},
        },
    },
}
TEXT_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": "a"},
}
TOOL_START = {
    "type": "content_block_start",
    "index": 1,
    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
}
THINKING_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "thinking", "thinking": "t", "signature": "s"},
}
TEXT_DELTA = {
    "type": "content_block_delta",
    "index": 0,
    "delta": {"type": "text_delta", "text": "b"},
}
JSON_DELTA = {
    "type": "content_block_delta",
    "index": 1,
    "delta": {"type": "input_json_delta", "partial_json": "{}"},
}
THINKING_DELTA = {
    "type": "content_block_delta",
    "index": 0,
    "delta": {"type": "thinking_delta", "thinking": "t"},
}
SIGNATURE_DELTA = {
    "type": "content_block_delta",
    "index": 0,
    "delta": {"type": "signature_delta", "signature": "s"},
}
MESSAGE_DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {"output_tokens": 5},
}
U = ("message", "usage")
ANTHROPIC_CASES: list[tuple[dict[str, Any], tuple[Any, ...], Any, str, str, str]] = [
    (MESSAGE_START, ("message",), [1], "message", "a list", "an object"),
    (MESSAGE_START, ("message",), "msg", "message", "a string", "an object"),
    (MESSAGE_START, ("message", "id"), 5, "message.id", "a number", "a string"),
    (MESSAGE_START, ("message", "model"), ["claude"], "message.model", "a list", "a string"),
    (MESSAGE_START, U, "10", "message.usage", "a string", "an object"),
    (MESSAGE_START, (*U, "input_tokens"), "10", "message.usage.input_tokens", "a string", COUNT),
    (MESSAGE_START, (*U, "output_tokens"), -1, "message.usage.output_tokens", "a number", COUNT),
    (
        MESSAGE_START,
        (*U, "cache_read_input_tokens"),
        1.5,
        "message.usage.cache_read_input_tokens",
        "a number",
        COUNT,
    ),
    (
        MESSAGE_START,
        (*U, "cache_creation_input_tokens"),
        True,
        "message.usage.cache_creation_input_tokens",
        "a boolean",
        COUNT,
    ),
    (
        MESSAGE_START,
        (*U, "cache_creation"),
        [],
        "message.usage.cache_creation",
        "a list",
        "an object",
    ),
    (
        MESSAGE_START,
        (*U, "cache_creation", "ephemeral_1h_input_tokens"),
        "0",
        "message.usage.cache_creation.ephemeral_1h_input_tokens",
        "a string",
        COUNT,
    ),
    (
        MESSAGE_START,
        (*U, "output_tokens_details"),
        0,
        "message.usage.output_tokens_details",
        "a number",
        "an object",
    ),
    (
        MESSAGE_START,
        (*U, "output_tokens_details", "thinking_tokens"),
        {},
        "message.usage.output_tokens_details.thinking_tokens",
        "an object",
        COUNT,
    ),
    (TEXT_START, ("content_block",), "text", "content_block", "a string", "an object"),
    (TEXT_START, ("content_block",), [], "content_block", "a list", "an object"),
    (TEXT_START, ("index",), "0", "index", "a string", COUNT),
    (TEXT_START, ("content_block", "text"), 5, "content_block.text", "a number", "a string"),
    (TOOL_START, ("content_block", "name"), 5, "content_block.name", "a number", "a string"),
    (TOOL_START, ("content_block", "id"), {}, "content_block.id", "an object", "a string"),
    (TOOL_START, ("index",), -1, "index", "a number", COUNT),
    (
        THINKING_START,
        ("content_block", "thinking"),
        5,
        "content_block.thinking",
        "a number",
        "a string",
    ),
    (
        THINKING_START,
        ("content_block", "signature"),
        [],
        "content_block.signature",
        "a list",
        "a string",
    ),
    (TEXT_DELTA, ("delta",), "b", "delta", "a string", "an object"),
    (TEXT_DELTA, ("delta", "text"), 5, "delta.text", "a number", "a string"),
    (TEXT_DELTA, ("delta", "text"), {"t": 1}, "delta.text", "an object", "a string"),
    (JSON_DELTA, ("delta", "partial_json"), 5, "delta.partial_json", "a number", "a string"),
    (JSON_DELTA, ("index",), "1", "index", "a string", COUNT),
    (JSON_DELTA, ("index",), 1.0, "index", "a number", COUNT),
    (THINKING_DELTA, ("delta", "thinking"), 5, "delta.thinking", "a number", "a string"),
    (SIGNATURE_DELTA, ("delta", "signature"), False, "delta.signature", "a boolean", "a string"),
    (MESSAGE_DELTA, ("delta",), "end_turn", "delta", "a string", "an object"),
    (MESSAGE_DELTA, ("delta", "stop_reason"), 5, "delta.stop_reason", "a number", "a string"),
    (MESSAGE_DELTA, ("usage",), "5", "usage", "a string", "an object"),
    (MESSAGE_DELTA, ("usage",), [5], "usage", "a list", "an object"),
    (MESSAGE_DELTA, ("usage", "output_tokens"), "5", "usage.output_tokens", "a string", COUNT),
]


def anthropic_event(payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(payload["type"], json.dumps(payload))


@pytest.mark.parametrize(
    ("payload", "path", "value", "where", "kind", "expected"),
    ANTHROPIC_CASES,
    ids=[f"{c[0]['type']}:{c[3]}={json.dumps(c[2])}" for c in ANTHROPIC_CASES],
)
def test_anthropic_event_field_of_the_wrong_type(
    payload: dict[str, Any], path: tuple[Any, ...], value: Any, where: str, kind: str, expected: str
) -> None:
    def started() -> AnthropicParser:
        parser = AnthropicParser("anthropic", "claude")
        parser.feed(anthropic_event(MESSAGE_START), [])
        parser.feed(anthropic_event(TOOL_START), [])
        return parser

    started().feed(anthropic_event(payload), [])  # the valid event parses
    bad = with_value(payload, path, value)
    event = ServerSentEvent(payload["type"], json.dumps(bad))
    parser = AnthropicParser("anthropic", "claude") if payload is MESSAGE_START else started()
    with pytest.raises(StreamProtocolError) as info:
        parser.feed(event, [])
    check_error(info.value, "anthropic", where, kind, expected)
    assert info.value.raw == event.data


def test_anthropic_thinking_before_a_bad_signature_stays() -> None:
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    bad = with_value(THINKING_START, ("content_block", "signature"), 5)
    with pytest.raises(StreamProtocolError, match="content_block.signature"):
        parser.feed(anthropic_event(bad), out)
    assert deltas(out) == [("reasoning", "t")]


def test_anthropic_bad_usage_leaves_the_earlier_usage() -> None:
    parser = AnthropicParser("anthropic", "claude")
    parser.feed(anthropic_event(MESSAGE_START), [])
    before_usage, before_raw = parser.usage, copy.deepcopy(parser.raw_usage)
    bad = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 9, "input_tokens": "many"},
    }
    with pytest.raises(StreamProtocolError, match="usage.input_tokens"):
        parser.feed(anthropic_event(bad), [])
    assert parser.usage == before_usage and parser.raw_usage == before_raw
    assert not parser.usage_final
    assert parser.finish_reasons == {0: "stop"}  # the stop reason came before the usage


def test_anthropic_tolerates_absent_and_null_parts() -> None:
    """null (or absent) means "not sent": nothing to read, no error."""
    parser = AnthropicParser("anthropic", "claude")
    out: list[StreamEvent] = []
    for payload in (
        {"type": "message_start", "message": None},
        {"type": "message_start"},
        {"type": "content_block_start", "index": 0, "content_block": None},
        {"type": "content_block_start", "index": None, "content_block": {"type": "text"}},
        {"type": "content_block_delta", "index": 0},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": None}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta"}},
        {"type": "content_block_delta", "delta": {"type": "input_json_delta"}},
        {"type": "message_delta", "delta": None, "usage": None},
        {"type": "message_delta"},
    ):
        parser.feed(anthropic_event(payload), out)
    assert out == [] and parser.usage is None and parser.finish_reasons == {}
    assert parser.response_id is None and parser.model == "claude"


# -- Anthropic Messages: a whole non-streaming body ------------------------------------------

MESSAGE: dict[str, Any] = {
    "id": "msg_2",
    "type": "message",
    "model": "claude-x",
    "content": [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 1, "output_tokens": 2},
}
MESSAGE_CASES: list[tuple[tuple[Any, ...], Any, str, str, str]] = [
    (("content",), "hi", "content", "a string", "a list"),
    (("content", 0), 5, "content[0]", "a number", "an object"),
    (("content", 0, "text"), ["hi"], "content[0].text", "a list", "a string"),
    (("content", 1, "input"), "{}", "content[1].input", "a string", "an object"),
    (("content", 1, "name"), 1, "content[1].name", "a number", "a string"),
    (("stop_reason",), 1, "stop_reason", "a number", "a string"),
    (("usage",), [], "usage", "a list", "an object"),
    (("usage", "output_tokens"), "2", "usage.output_tokens", "a string", COUNT),
    (("id",), 2, "id", "a number", "a string"),
    (("model",), False, "model", "a boolean", "a string"),
]


@pytest.mark.parametrize(
    ("path", "value", "where", "kind", "expected"),
    MESSAGE_CASES,
    ids=[f"{c[2]}={json.dumps(c[1])}" for c in MESSAGE_CASES],
)
def test_anthropic_message_field_of_the_wrong_type(
    path: tuple[Any, ...], value: Any, where: str, kind: str, expected: str
) -> None:
    AnthropicParser("anthropic", "claude").feed_message(copy.deepcopy(MESSAGE), [])
    body = with_value(MESSAGE, path, value)
    parser = AnthropicParser("anthropic", "claude")
    with pytest.raises(StreamProtocolError) as info:
        parser.feed_message(body, [])
    check_error(info.value, "anthropic", where, kind, expected)
    assert isinstance(info.value.raw, str) and json.loads(info.value.raw) == body
    assert not parser.done and not parser.usage_final


# -- the messages themselves -------------------------------------------------------------------


def test_a_long_value_is_cut_in_the_message() -> None:
    payload = with_value(CHUNK, (*D, "content"), {"k": "v" * 500})
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("xai", "grok").feed(ServerSentEvent(None, json.dumps(payload)), [])
    message = info.value.message
    assert message.startswith('xai sent choices[0].delta.content as an object ({"k": "vvv')
    assert '..."' not in message and "v" * 60 not in message
    assert "vvv...) where a string or a list of content parts was expected" in message


@pytest.mark.parametrize(("length", "cut"), [(60, False), (61, True)])
def test_values_are_shown_up_to_60_characters(length: int, cut: bool) -> None:
    value = "é" * (length - 2)  # with its quotes, `length` characters of JSON
    payload = with_value(CHUNK, ("choices", 0, "index"), value)
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("openai", "m").feed(ServerSentEvent(None, json.dumps(payload)), [])
    shown = json.dumps(value, ensure_ascii=False)
    expected = f"({shown[:60]}...)" if cut else f"({shown})"
    assert info.value.message == (
        f"openai sent choices[0].index as a string {expected} where {COUNT} was expected"
    )


def test_a_body_raw_keeps_its_text_unescaped() -> None:
    body = with_value(COMPLETION, (*M, "content"), {"città": "Zürich"})
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("openai", "m").feed_completion(body, [])
    assert info.value.raw == json.dumps(body, ensure_ascii=False)
    assert 'an object ({"città": "Zürich"})' in info.value.message


# -- reading a data line as JSON ---------------------------------------------------------------


@pytest.mark.parametrize("data", [' {"choices": []}', '{"choices": []}  ', '\t{"choices": []}\n'])
def test_whitespace_around_the_json_is_fine(data: str) -> None:
    parser = OpenAIChatParser("openai", "m")
    parser.feed(ServerSentEvent(None, data), [])
    assert parser.usage is None and not parser.done


@pytest.mark.parametrize("data", ['{"choices": []} trailing', '{"a": 1}{"b": 2}', "{"])
def test_more_than_one_json_value_is_not_json(data: str) -> None:
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("openai", "m").feed(ServerSentEvent(None, data), [])
    assert info.value.message == f"openai sent a data line that is not JSON: {data!r}"
    assert info.value.raw == data


def test_a_long_line_that_is_not_json_is_cut_at_120_characters() -> None:
    data = "x" * 200
    with pytest.raises(StreamProtocolError) as info:
        AnthropicParser("anthropic", "c").feed(ServerSentEvent(None, data), [])
    assert info.value.message == f"anthropic sent a data line that is not JSON: {data[:120]!r}"
    assert info.value.raw == data


@pytest.mark.parametrize(("data", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int")])
def test_json_that_is_not_an_object(data: str, kind: str) -> None:
    with pytest.raises(StreamProtocolError) as info:
        OpenAIChatParser("openai", "m").feed(ServerSentEvent(None, data), [])
    assert info.value.message == f"openai sent a JSON {kind} where an object was expected"
    assert info.value.raw == data


# -- the internal error that carries a field's path --------------------------------------------


def test_wrong_field_type_path_and_text() -> None:
    from steer_trio._providers._decode import WrongFieldType, in_context

    inner = WrongFieldType("", "an object", 5)
    assert inner.within("choices[1]").where == "choices[1]"
    deeper = WrongFieldType("delta.content", "a string", [1]).within("choices[0]")
    assert deeper.where == "choices[0].delta.content" and deeper.value == [1]
    assert (
        str(deeper)
        == deeper.message
        == ("choices[0].delta.content as a list ([1]) where a string was expected")
    )
    assert not isinstance(deeper, StreamProtocolError)  # internal: converted at the edge
    public = in_context("openai", deeper, {"k": "é"})
    assert type(public) is StreamProtocolError
    assert public.message == f"openai sent {deeper.message}" and public.raw == '{"k": "é"}'


# -- error chunks: the typed error wins, and names the provider --------------------------------


def test_error_event_with_a_bad_field_raises_the_typed_error() -> None:
    from steer_trio import ServerError

    payload = {"message": "model crashed", "choices": [{"delta": {"content": 5}}]}
    with pytest.raises(ServerError) as info:
        OpenAIChatParser("vllm", "m").feed(ServerSentEvent("error", json.dumps(payload)), [])
    assert info.value.provider == "vllm" and info.value.message == "model crashed"


def test_typed_errors_from_chunks_name_the_provider() -> None:
    from steer_trio import RateLimitError

    payload = {"error": {"code": 429, "message": "slow down"}, "choices": "nonsense"}
    with pytest.raises(RateLimitError) as info:
        OpenAIChatParser("openrouter", "m").feed(ServerSentEvent(None, json.dumps(payload)), [])
    assert info.value.provider == "openrouter"
    payload["choices"] = []
    with pytest.raises(RateLimitError) as info:
        OpenAIChatParser("openrouter", "m").feed(ServerSentEvent(None, json.dumps(payload)), [])
    assert info.value.provider == "openrouter"


def test_usage_normalisers_name_the_field_under_usage_by_default() -> None:
    from steer_trio._providers._anthropic import normalise_anthropic_usage
    from steer_trio._providers._decode import WrongFieldType
    from steer_trio._providers._openai import normalise_openai_usage

    with pytest.raises(WrongFieldType) as anthropic:
        normalise_anthropic_usage({"input_tokens": "1"})
    assert anthropic.value.where == "usage.input_tokens"
    with pytest.raises(WrongFieldType) as openai:
        normalise_openai_usage({"prompt_tokens": "1"})
    assert openai.value.where == "usage.prompt_tokens"


def test_anthropic_usage_is_not_final_until_message_delta() -> None:
    parser = AnthropicParser("anthropic", "c")
    assert parser.usage_final is False
    parser.feed(anthropic_event(MESSAGE_START), [])
    assert parser.usage_final is False
    parser.feed(anthropic_event(MESSAGE_DELTA), [])
    assert parser.usage_final is True
