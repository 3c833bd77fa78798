"""The SSE decoder against the WHATWG event-stream rules, and any re-chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import ServerSentEvent, SSEDecoder, SSEEventTooLargeError


def decode(*chunks: bytes, max_event_bytes: int = 1 << 24) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def test_basic_fields() -> None:
    events = decode(b"event: add\ndata: 73857293\nid: 7\nretry: 1500\n\n")
    assert events == [ServerSentEvent("add", "73857293", "7", 1500)]


def test_default_event_type_and_id_persists() -> None:
    events = decode(b"id: 1\ndata: a\n\ndata: b\n\n")
    assert events == [ServerSentEvent("message", "a", "1"), ServerSentEvent("message", "b", "1")]


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_line_endings(eol: bytes) -> None:
    body = b"data: x" + eol + b"data: y" + eol + eol
    assert decode(body) == [ServerSentEvent(data="x\ny")]


def test_cr_at_chunk_end_lf_in_next() -> None:
    events = decode(b"data: a\r", b"\ndata: b\r\n\r", b"\n")
    assert events == [ServerSentEvent(data="a\nb")]


def test_lone_cr_then_blank_line_in_next_chunk() -> None:
    # "\r" ends a line; the next chunk's "\r" is a blank line, not the LF of a CRLF.
    assert decode(b"data: a\r", b"\r") == [ServerSentEvent(data="a")]


def test_bom_stripped_once_even_split() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent(data="x")]
    # A second BOM is data, not stripped.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_comments_ignored_and_counted() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": keep-alive\n\n: ping\ndata: x\n\n") == [ServerSentEvent(data="x")]
    assert decoder.comment_count == 2


def test_exactly_one_space_stripped() -> None:
    assert decode(b"data:  two\n\ndata:none\n\n") == [
        ServerSentEvent(data=" two"),
        ServerSentEvent(data="none"),
    ]


def test_empty_data_buffer_not_dispatched() -> None:
    assert decode(b"event: x\n\ndata\n\n") == [ServerSentEvent("message", "")]
    assert decode(b"event: only\nid: 3\n\n") == []


def test_field_without_colon_and_unknown_fields() -> None:
    assert decode(b"data\ndata\n\nfoo: bar\ndata: z\n\n") == [
        ServerSentEvent(data="\n"),
        ServerSentEvent(data="z"),
    ]


def test_id_with_nul_ignored_and_bad_retry_ignored() -> None:
    events = decode(b"id: 1\n\nid: a\x00b\nretry: 12x\ndata: d\n\n")
    assert events == [ServerSentEvent(data="d", id="1", retry=None)]


def test_unterminated_final_event_discarded() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [ServerSentEvent(data="a")]
    assert decode(b"data: a\n\ndata: b") == [ServerSentEvent(data="a")]


def test_multibyte_split_across_chunks() -> None:
    body = "data: héllo 😀 ü\n\n".encode()
    pieces = [body[i : i + 1] for i in range(len(body))]
    assert decode(*pieces) == [ServerSentEvent(data="héllo 😀 ü")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    events = decode(b"data: a\xff\xfeb\n\n")
    assert events == [ServerSentEvent(data="a\ufffd\ufffdb")]


def test_max_event_size() -> None:
    with pytest.raises(SSEEventTooLargeError, match="max_event_bytes"):
        decode(b"data: " + b"x" * 100 + b"\n\n", max_event_bytes=50)
    with pytest.raises(SSEEventTooLargeError):
        decode(*[b"data: "] + [b"y" * 16] * 10, max_event_bytes=100)
    with pytest.raises(SSEEventTooLargeError):
        decode(b"data: " + b"x" * 30 + b"\n" + b"data: " + b"x" * 30 + b"\n\n", max_event_bytes=50)


def test_large_event_in_small_pieces() -> None:
    payload = b"x" * (2 * 1024 * 1024)
    body = b"data: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(body), 16):
        events.extend(decoder.feed(body[i : i + 16]))
    assert len(events) == 1 and len(events[0].data) == len(payload)


# -- any re-chunking yields the same events -------------------------------------------

field_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=20,
)
event_strategy = st.tuples(
    st.one_of(st.none(), field_text.filter(lambda s: s != "")),
    st.lists(field_text, min_size=1, max_size=3),
    st.one_of(st.none(), field_text),
    st.booleans(),
)


def serialise(events: list, eol: str, bom: bool) -> tuple[bytes, list[ServerSentEvent]]:
    parts = ["\ufeff"] if bom else []
    expected = []
    last_id = None
    for name, data_lines, ident, comment in events:
        if comment:
            parts.append(":keep-alive" + eol)
        if name is not None:
            parts.append(f"event: {name}{eol}")
        for line in data_lines:
            parts.append(f"data: {line}{eol}")
        if ident is not None:
            parts.append(f"id: {ident}{eol}")
            last_id = ident
        parts.append(eol)
        expected.append(ServerSentEvent(name or "message", "\n".join(data_lines), last_id))
    return "".join(parts).encode(), expected


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(event_strategy, max_size=6),
    eol=st.sampled_from(["\n", "\r", "\r\n"]),
    bom=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_any_rechunking_gives_the_same_events(events, eol, bom, cuts) -> None:
    body, expected = serialise(events, eol, bom)
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert decode(body) == expected
    assert decode(*pieces) == expected
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == expected
