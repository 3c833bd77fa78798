"""Property tests for the Responses API and Gemini parsers (no trio, no sockets).

Hypothesis writes whole streams in each wire format straight from ``json.dumps`` (not
from the fake server's writers), then feeds them through the real SSE decoder and
parser, cut at arbitrary byte positions. Whatever the text, reasoning, tool-call
fragments, usage and cuts, the parser must give back exactly what was sent; for the
Responses API, events repeated from earlier in the stream (as a resumed stream may
repeat them) change nothing.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import SSEDecoder, StreamDeltaEvent, StreamEvent
from steer_trio._providers._gemini import GeminiParser
from steer_trio._providers._responses import OpenAIResponsesParser

# Any text a model may write: every plane, newlines, quotes, lone backslashes.
pieces = st.lists(st.text(min_size=1, max_size=12), max_size=10)
fragments = st.lists(st.text(max_size=8), min_size=1, max_size=6)
tokens = st.integers(min_value=0, max_value=10**7)
cuts_strategy = st.none() | st.lists(st.integers(min_value=0), max_size=40)


def feed(parser: Any, events: list[bytes], cuts: list[int] | None) -> list[StreamDeltaEvent]:
    """One event per read when ``cuts`` is None, else the wire cut at those positions;
    then the end of the body."""
    decoder = SSEDecoder()
    out: list[StreamEvent] = []
    if cuts is None:
        reads = events
    else:
        wire = b"".join(events)
        bounds = [0, *sorted({c % (len(wire) + 1) for c in cuts}), len(wire)]
        reads = [wire[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    for piece in reads:
        for event in decoder.feed(piece):
            parser.feed(event, out)
    for event in decoder.close():
        parser.feed(event, out)
    parser.at_eof()
    assert all(isinstance(e, StreamDeltaEvent) for e in out)
    return [e for e in out if isinstance(e, StreamDeltaEvent)]


def calls_of(deltas: list[StreamDeltaEvent]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for event in deltas:
        d = event.delta
        if d.kind != "tool_call":
            continue
        assert d.tool_call_index is not None
        call = calls.setdefault(d.tool_call_index, {"id": None, "name": None, "arguments": ""})
        if d.tool_name is not None:
            assert call["name"] is None and call["arguments"] == ""  # name comes first
            call["id"], call["name"] = d.tool_call_id, d.tool_name
        call["arguments"] += d.value
    assert sorted(calls) == list(range(len(calls)))
    return [calls[i] for i in sorted(calls)]


def joined(deltas: list[StreamDeltaEvent], kind: str) -> str:
    return "".join(
        e.delta.value for e in deltas if e.delta.kind == kind and not e.delta.is_signature
    )


# -- OpenAI Responses API -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    text=pieces,
    reasoning_parts=st.lists(
        st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5), max_size=3
    ),
    refusal=pieces,
    calls=st.lists(fragments, max_size=3),
    order=st.randoms(use_true_random=False),
    usage=st.tuples(tokens, tokens, tokens, tokens),
    incomplete=st.booleans(),
    repeats=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0)), max_size=6),
    cuts=cuts_strategy,
    ascii_only=st.booleans(),
)
def test_responses_parser_returns_what_was_sent(
    text: list[str],
    reasoning_parts: list[list[str]],
    refusal: list[str],
    calls: list[list[str]],
    order: Any,
    usage: tuple[int, int, int, int],
    incomplete: bool,
    repeats: list[tuple[int, int]],
    cuts: list[int] | None,
    ascii_only: bool,
) -> None:
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        body = {"type": kind, "sequence_number": len(events), **fields}
        events.append(
            f"event: {kind}\ndata: {json.dumps(body, ensure_ascii=ascii_only)}\n\n".encode()
        )

    response = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5-2025-08-07",
        "status": "in_progress",
    }
    emit("response.created", response=response)
    index = 0
    for part_number, part in enumerate(reasoning_parts):
        for piece in part:
            emit(
                "response.reasoning_summary_text.delta",
                item_id="rs_1",
                output_index=index,
                summary_index=part_number,
                delta=piece,
            )
    index += 1
    for piece in text:
        emit(
            "response.output_text.delta",
            item_id="msg_1",
            output_index=index,
            content_index=0,
            delta=piece,
        )
    for piece in refusal:
        emit(
            "response.refusal.delta",
            item_id="msg_1",
            output_index=index,
            content_index=1,
            delta=piece,
        )
    index += 1
    # Parallel calls: all opened, then their argument deltas interleaved at random.
    first_call = index
    for number in range(len(calls)):
        item = {
            "type": "function_call",
            "id": f"fc_{number}",
            "call_id": f"call_{number}",
            "name": f"f{number}",
            "arguments": "",
        }
        emit("response.output_item.added", output_index=first_call + number, item=item)
    queue = [list(pieces_) for pieces_ in calls]
    while any(queue):
        number = order.choice([n for n, left in enumerate(queue) if left])
        emit(
            "response.function_call_arguments.delta",
            item_id=f"fc_{number}",
            output_index=first_call + number,
            delta=queue[number].pop(0),
        )
    prompt, cached, output, reasoning_tokens = usage
    cached, reasoning_tokens = min(cached, prompt), min(reasoning_tokens, output)
    final = {
        **response,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": prompt + output,
        },
    }
    emit("response.incomplete" if incomplete else "response.completed", response=final)
    # Events already delivered, delivered again (a resumed stream may repeat them).
    for at, which in repeats:
        position = 1 + at % len(events)
        events.insert(position, events[which % position])

    parser = OpenAIResponsesParser("openai", "gpt-5")
    deltas = feed(parser, events, cuts)

    assert parser.done
    assert joined(deltas, "text") == "".join(text)
    assert joined(deltas, "refusal") == "".join(refusal)
    assert joined(deltas, "reasoning") == "\n\n".join("".join(part) for part in reasoning_parts)
    got = calls_of(deltas)
    assert [c["arguments"] for c in got] == ["".join(p) for p in calls]
    assert [(c["id"], c["name"]) for c in got] == [
        (f"call_{n}", f"f{n}") for n in range(len(calls))
    ]
    assert parser.usage is not None
    assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (prompt, output)
    assert (parser.usage.cache_read_tokens, parser.usage.reasoning_tokens) == (
        cached,
        reasoning_tokens,
    )
    if incomplete:
        assert parser.finish_reasons == {0: "length"}
        assert parser.raw_finish_reasons == {0: "max_output_tokens"}
    else:
        assert parser.finish_reasons == {0: "tool_calls" if calls else "stop"}
    assert parser.model == "gpt-5-2025-08-07" and parser.response_id == "resp_1"
    assert parser.last_sequence_number == max(
        json.loads(e.split(b"data: ", 1)[1])["sequence_number"] for e in events
    )


# -- Gemini ---------------------------------------------------------------------------------

keys = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
# Vertex's streamed arguments: a flat or one-level-nested object whose strings arrive in
# fragments, with numbers and booleans whole.
leaf = fragments | st.integers(-(10**6), 10**6) | st.booleans()
streamed_args = st.dictionaries(
    keys, leaf | st.dictionaries(keys, leaf, min_size=1, max_size=3), max_size=4
)
whole_call = st.tuples(st.just("whole"), st.dictionaries(keys, json_values, max_size=4))
streamed_call = st.tuples(st.just("streamed"), streamed_args)
usage_metadata = st.fixed_dictionaries(
    {"promptTokenCount": tokens},
    optional={
        "candidatesTokenCount": tokens,
        "thoughtsTokenCount": tokens,
        "cachedContentTokenCount": tokens,
        "toolUsePromptTokenCount": tokens,
    },
)


def value_of(leaf_value: Any) -> Any:
    if isinstance(leaf_value, list):
        return "".join(leaf_value)
    if isinstance(leaf_value, dict):
        return {k: value_of(v) for k, v in leaf_value.items()}
    return leaf_value


def partial_args(
    args: dict[str, Any], close_with_empty: bool, prefix: str = "$"
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, value in args.items():
        path = f"{prefix}.{key}"
        if isinstance(value, dict):
            out += partial_args(value, close_with_empty, path)
        elif isinstance(value, list):
            for position, piece in enumerate(value):
                last = position == len(value) - 1
                arg: dict[str, Any] = {"jsonPath": path, "stringValue": piece}
                if not last or close_with_empty:
                    arg["willContinue"] = True
                out.append(arg)
            if close_with_empty:
                out.append({"jsonPath": path, "stringValue": ""})
        elif isinstance(value, bool):
            out.append({"jsonPath": path, "boolValue": value})
        else:
            out.append({"jsonPath": path, "numberValue": value})
    return out


@settings(max_examples=150, deadline=None)
@given(
    text=pieces,
    thoughts=pieces,
    calls=st.lists(whole_call | streamed_call, max_size=3),
    group=st.integers(min_value=1, max_value=3),
    close_with_empty=st.booleans(),
    usages=st.lists(usage_metadata, min_size=1, max_size=4),
    finish=st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION"]),
    signed=st.booleans(),
    crlf=st.booleans(),
    cuts=cuts_strategy,
    ascii_only=st.booleans(),
)
def test_gemini_parser_returns_what_was_sent(
    text: list[str],
    thoughts: list[str],
    calls: list[tuple[str, dict[str, Any]]],
    group: int,
    close_with_empty: bool,
    usages: list[dict[str, int]],
    finish: str,
    signed: bool,
    crlf: bool,
    cuts: list[int] | None,
    ascii_only: bool,
) -> None:
    end = "\r\n\r\n" if crlf else "\n\n"
    events: list[bytes] = []

    def chunk(parts: list[dict[str, Any]], last: bool = False) -> None:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = finish
        usage = usages[min(len(events), len(usages) - 1)] if not last else usages[-1]
        payload = {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": "gemini-x",
            "responseId": "r1",
        }
        data = json.dumps(payload, separators=(",", ": "), ensure_ascii=ascii_only)
        events.append(f"data: {data}{end}".encode())

    for piece in thoughts:
        chunk([{"text": piece, "thought": True}])
    for position, piece in enumerate(text):
        part: dict[str, Any] = {"text": piece}
        if signed and position == 0:
            part["thoughtSignature"] = "c2lnbmF0dXJl"
        chunk([part])
    for number, (kind, args) in enumerate(calls):
        name = f"f{number}"
        if kind == "whole":
            chunk([{"functionCall": {"name": name, "args": args, "id": f"id{number}"}}])
            continue
        chunk([{"functionCall": {"name": name, "willContinue": True}}])
        pending = partial_args(args, close_with_empty)
        for start in range(0, len(pending), group):
            chunk(
                [
                    {
                        "functionCall": {
                            "partialArgs": pending[start : start + group],
                            "willContinue": True,
                        }
                    }
                ]
            )
        chunk([{"functionCall": {}}])
    chunk([{"text": ""}], last=True)

    parser = GeminiParser("gemini", "gemini-2.5-flash")
    deltas = feed(parser, events, cuts)

    assert parser.done
    assert joined(deltas, "text") == "".join(text)
    assert joined(deltas, "reasoning") == "".join(thoughts)
    assert [e.delta.value for e in deltas if e.delta.is_signature] == (
        ["c2lnbmF0dXJl"] if signed and text else []
    )
    got = calls_of(deltas)
    assert [c["name"] for c in got] == [f"f{n}" for n in range(len(calls))]
    assert [json.loads(c["arguments"]) for c in got] == [
        args if kind == "whole" else value_of(args) for kind, args in calls
    ]
    assert [c["id"] for c in got] == [
        f"id{n}" if kind == "whole" else None for n, (kind, _) in enumerate(calls)
    ]
    last = usages[-1]
    thoughts_tokens = last.get("thoughtsTokenCount", 0)
    assert parser.usage is not None
    assert parser.usage.prompt_tokens == last["promptTokenCount"] + last.get(
        "toolUsePromptTokenCount", 0
    )
    assert parser.usage.completion_tokens == last.get("candidatesTokenCount", 0) + thoughts_tokens
    assert parser.usage.reasoning_tokens == thoughts_tokens
    assert parser.usage.cache_read_tokens == last.get("cachedContentTokenCount", 0)
    unified = {"STOP": "tool_calls" if calls else "stop", "MAX_TOKENS": "length"}
    assert parser.finish_reasons == {0: unified.get(finish, "content_filter")}
    assert parser.raw_finish_reasons == {0: finish}
    assert parser.model == "gemini-x" and parser.response_id == "r1"


@settings(max_examples=60, deadline=None)
@given(text=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8), cuts=cuts_strategy)
def test_gemini_body_without_a_finish_reason_is_incomplete(
    text: list[str], cuts: list[int] | None
) -> None:
    chunks = [{"candidates": [{"content": {"parts": [{"text": piece}]}}]} for piece in text]
    events = [f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks]
    parser = GeminiParser("gemini", "gemini-2.5-flash")
    deltas = feed(parser, events, cuts)
    assert not parser.done
    assert joined(deltas, "text") == "".join(text)
