"""The SSE decoder against the WHATWG event-stream rules, under any re-chunking.

Concrete cases pin each rule; property tests check that the bytes can be split
anywhere (the decoder's fast paths see whole events, one-byte feeds see none) and that
the result equals both the expected events and an independent, spec-literal reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import ServerSentEvent, SSEDecoder, SSEEventTooLargeError
from steer_trio._errors import StreamProtocolError

BOM = b"\xef\xbb\xbf"
E = ServerSentEvent


def decode(*chunks: bytes, max_event_bytes: int = 1 << 24) -> list[ServerSentEvent]:
    """Feed the chunks, then close; all events in order."""
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def per_event(body: bytes) -> list[bytes]:
    """Cut after every LF LF: chunks that look like whole events (the fast paths)."""
    return split_at(body, [m.end() for m in re.finditer(b"\n\n", body)])


def per_line(body: bytes) -> list[bytes]:
    """Cut after every LF except the first of LF LF: lines, and lines ending an event."""
    return split_at(body, [m.end() for m in re.finditer(b"\n(?!\n)", body)])


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


# -- the event type ------------------------------------------------------------------


def test_event_defaults_and_frozen() -> None:
    event = ServerSentEvent()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", None, None)
    with pytest.raises(AttributeError):
        event.data = "x"  # type: ignore[misc]


def test_decoded_events_are_plain_equal_hashable_events() -> None:
    # The decoder builds events without calling __init__ (for speed): they must be
    # indistinguishable from ones built normally.
    (fast,) = SSEDecoder().feed(b"data: x\n\n")
    (general,) = decode(b"id: 1\nretry: 5\nevent: e\ndata: x\n\n")
    assert type(fast) is ServerSentEvent
    assert fast == E("message", "x", None, None)
    assert hash(fast) == hash(E(data="x"))
    assert general == E("e", "x", "1", 5)
    assert repr(general) == "ServerSentEvent(event='e', data='x', id='1', retry=5)"


# -- fields --------------------------------------------------------------------------


def test_all_fields() -> None:
    assert decode(b"event: add\ndata: 73857293\nid: 7\nretry: 1500\n\n") == [
        E("add", "73857293", "7", 1500)
    ]


def test_default_event_type_is_message() -> None:
    assert decode(b"data: a\n\n") == [E("message", "a")]
    # An empty event name also means "message".
    assert decode(b"event:\ndata: a\n\nevent: \ndata: b\n\n") == [E(data="a"), E(data="b")]


def test_event_type_applies_to_one_event_only() -> None:
    assert decode(b"event: ping\ndata: 1\n\ndata: 2\n\n") == [E("ping", "1"), E("message", "2")]


def test_field_order_within_an_event_does_not_matter() -> None:
    assert decode(b"data: a\nevent: x\nid: 9\n\n") == [E("x", "a", "9")]


def test_a_repeated_field_keeps_the_last_value() -> None:
    assert decode(b"event: a\nevent: b\nretry: 1\nretry: 2\ndata: d\n\n") == [E("b", "d", None, 2)]


def test_multiline_data_joined_with_newline() -> None:
    assert decode(b"data: first\ndata: second\ndata: third\n\n") == [E(data="first\nsecond\nthird")]


def test_empty_data_lines_keep_their_newlines() -> None:
    assert decode(b"data\ndata\n\n") == [E(data="\n")]
    assert decode(b"data: a\ndata:\ndata: b\n\n") == [E(data="a\n\nb")]
    # One empty data line is still an event, with empty data.
    assert decode(b"data:\n\n") == [E(data="")]


def test_exactly_one_space_after_the_colon_is_stripped() -> None:
    assert decode(b"data:  two\n\ndata:none\n\ndata: \n\ndata:\t tab\n\n") == [
        E(data=" two"),
        E(data="none"),
        E(data=""),
        E(data="\t tab"),
    ]
    assert decode(b"event:  spaced\ndata: x\n\n") == [E(" spaced", "x")]


def test_only_the_first_colon_separates_name_and_value() -> None:
    assert decode(b"data: a: b:c\n\n") == [E(data="a: b:c")]
    assert decode(b'data: {"k": "v"}\n\n') == [E(data='{"k": "v"}')]


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    assert decode(b"event\ndata\n\n") == [E("message", "")]
    assert decode(b"id\ndata: x\n\n") == [E(data="x", id="")]
    assert decode(b"retry\ndata: x\n\n") == [E(data="x", retry=None)]


def test_unknown_fields_are_ignored() -> None:
    body = b"foo: bar\nData: no\n data: leading-space\ndata : space-before-colon\ndata: yes\n\n"
    assert decode(body) == [E(data="yes")]
    # An event made only of unknown fields dispatches nothing.
    assert decode(b"foo: bar\n\n") == []


# -- id ------------------------------------------------------------------------------


def test_id_is_none_until_set_then_persists() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    events = decoder.feed(b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid: 2\ndata: d\n\n")
    assert events == [E(data="a"), E(data="b", id="1"), E(data="c", id="1"), E(data="d", id="2")]
    assert decoder.last_event_id == "2"


def test_id_can_be_reset_to_empty() -> None:
    assert decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n") == [
        E(data="a", id="1"),
        E(data="b", id=""),
    ]


def test_id_set_by_an_event_without_data_still_applies() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"
    assert decoder.feed(b"data: x\n\n") == [E(data="x", id="5")]


def test_id_containing_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\n\nid: a\x00b\ndata: d\n\n")
    assert events == [E(data="d", id="1")]
    assert decoder.last_event_id == "1"


def test_id_is_text() -> None:
    assert decode("id: é😀\ndata: x\n\n".encode()) == [E(data="x", id="é😀")]


# -- retry ---------------------------------------------------------------------------


def test_retry_ascii_digits_only() -> None:
    assert decode(b"retry: 0\ndata: a\n\nretry: 007\ndata: b\n\n") == [
        E(data="a", retry=0),
        E(data="b", retry=7),
    ]
    for bad in [b"12x", b"-1", b"+1", b"1.5", b"", b" 1", b"1 ", b"\xef\xbc\x93", b"\xd9\xa3"]:
        # (the last two are a fullwidth and an Arabic-Indic digit: str.isdigit() says yes)
        assert decode(b"retry: " + bad + b"\ndata: x\n\n") == [E(data="x", retry=None)], bad


def test_retry_belongs_to_the_event_that_set_it() -> None:
    assert decode(b"retry: 10\ndata: a\n\ndata: b\n\n") == [
        E(data="a", retry=10),
        E(data="b", retry=None),
    ]
    # A retry in an event without data is dropped with that event.
    assert decode(b"retry: 10\n\ndata: b\n\n") == [E(data="b", retry=None)]


def test_invalid_retry_keeps_an_earlier_valid_one() -> None:
    assert decode(b"retry: 10\nretry: x\ndata: a\n\n") == [E(data="a", retry=10)]


def test_huge_retry_value() -> None:
    assert decode(b"retry: " + b"9" * 40 + b"\ndata: a\n\n") == [E(data="a", retry=int("9" * 40))]


# -- dispatch ------------------------------------------------------------------------


def test_no_dispatch_without_data_but_event_type_resets() -> None:
    assert decode(b"event: only\n\ndata: b\n\n") == [E("message", "b")]
    assert decode(b"event: only\nid: 3\n\n") == []


def test_consecutive_blank_lines_dispatch_nothing_extra() -> None:
    assert decode(b"\n\n\ndata: a\n\n\n\n") == [E(data="a")]


def test_unterminated_final_event_is_discarded() -> None:
    assert decode(b"data: a\n\ndata: b\n") == [E(data="a")]
    assert decode(b"data: a\n\ndata: b") == [E(data="a")]
    assert decode(b"data: a\n\nevent: x\ndata: b\r") == [E(data="a")]


def test_events_are_returned_by_the_feed_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [E(data="a")]
    assert decoder.feed(b"data: b\n\ndata: c\n\ndata: d") == [E(data="b"), E(data="c")]
    assert decoder.feed(b"\n\n") == [E(data="d")]
    assert decoder.close() == []


def test_close_discards_and_the_decoder_can_continue() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: x\ndata: partial\n") == []
    assert decoder.close() == []
    assert decoder.feed(b"data: after\n\n") == [E(data="after")]


def test_close_drops_a_half_read_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: hal") == []
    assert decoder.close() == []
    # Were "data: hal" kept, this would complete it into an event "half".
    assert decoder.feed(b"f\n") == []
    assert decoder.feed(b"\n") == []


def test_close_forgets_the_event_type_data_and_retry() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: stale\nretry: 5\ndata: old\n") == []
    assert decoder.close() == []
    # Line by line: the general path, which reads the decoder's event state.
    assert decoder.feed(b"data: new\n") == []
    assert decoder.feed(b"\n") == [E("message", "new", None, None)]


def test_close_forgets_the_size_of_a_half_read_event() -> None:
    decoder = SSEDecoder(max_event_bytes=13)
    assert decoder.feed(b"data: 123\n") == []  # 9 bytes of the event so far
    assert decoder.feed(b"data") == []  # and 4 of a line
    assert decoder.close() == []
    # 13 bytes: exactly the limit, unless either stale count were still added.
    assert decoder.feed(b"data: 1234567") == []
    assert decoder.feed(b"\n\n") == [E(data="1234567")]


def test_close_ends_the_start_of_the_stream() -> None:
    # A BOM only counts at the very start; after close() the start has been seen.
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []  # maybe the start of a BOM: held back
    assert decoder.close() == []
    assert decoder.feed(b"data: x\n") == []  # the held bytes were dropped, not prepended
    assert decoder.feed(b"\n") == [E(data="x")]
    fresh = SSEDecoder()
    assert fresh.close() == []
    assert fresh.feed(BOM + b"data: x\n\n") == []  # now the BOM is part of a field name


def test_retry_does_not_outlive_its_event_on_any_path() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 5\n\n") == []  # an event without data: dropped
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [E(data="a", retry=None)]
    assert decoder.feed(b"retry: 7\ndata: b\n\ndata: c\n") == [E(data="b", retry=7)]
    assert decoder.feed(b"\n") == [E(data="c", retry=None)]


def test_empty_chunks_change_nothing() -> None:
    assert decode(b"", b"data: a", b"", b"\n", b"", b"\n", b"") == [E(data="a")]


# -- line ends -----------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_end(eol: bytes) -> None:
    body = b"event: e" + eol + b"data: x" + eol + b"data: y" + eol + eol + b"data: z" + eol + eol
    assert decode(body) == [E("e", "x\ny"), E(data="z")]
    assert decode(*bytewise(body)) == [E("e", "x\ny"), E(data="z")]


def test_mixed_line_ends_in_one_stream() -> None:
    assert decode(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r") == [
        E(data="a\nb\nc"),
        E(data="d"),
    ]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # If the LF were read as a second line end, "a" would dispatch alone.
    assert decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [E(data="a\nb")]


def test_crlf_split_with_empty_chunks_between() -> None:
    assert decode(b"data: a\r", b"", b"", b"\ndata: b\r\n\r\n") == [E(data="a\nb")]


def test_cr_then_cr_is_two_line_ends() -> None:
    assert decode(b"data: a\r", b"\r") == [E(data="a")]
    assert decode(b"data: a\r", b"\r\n") == [E(data="a")]


def test_cr_then_lf_lf_is_one_line_end_then_a_blank_line() -> None:
    assert decode(b"data: a\r", b"\n\n") == [E(data="a")]


def test_lone_cr_dispatches_without_waiting_for_more_bytes() -> None:
    decoder = SSEDecoder()
    # The final CR ends the blank line at once: no need to see whether an LF follows.
    assert decoder.feed(b"data: a\r\r") == [E(data="a")]
    # ... and a following LF is then swallowed as the second half of that CRLF.
    assert decoder.feed(b"\ndata: b\n\n") == [E(data="b")]


def test_close_after_a_trailing_cr() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\r") == [E(data="a")]
    assert decoder.close() == []
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.close() == []  # the event never got its blank line


def test_lf_cr_is_two_line_ends() -> None:
    assert decode(b"data: a\n\rdata: b\n\r") == [E(data="a"), E(data="b")]


# -- BOM -----------------------------------------------------------------------------


def test_bom_is_stripped() -> None:
    assert decode(BOM + b"data: x\n\n") == [E(data="x")]


@pytest.mark.parametrize(
    "chunks",
    [
        [b"\xef", b"\xbb\xbfdata: x\n\n"],
        [b"\xef\xbb", b"\xbfdata: x\n\n"],
        [b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"],
        [b"", b"\xef", b"", b"\xbb\xbf", b"data: x\n\n"],
        [BOM, b"data: x\n\n"],
    ],
)
def test_bom_split_across_chunks(chunks: list[bytes]) -> None:
    assert decode(*chunks) == [E(data="x")]


def test_bom_only_once() -> None:
    # The second BOM is part of the field name, which is then unknown.
    assert decode(BOM + BOM + b"data: x\n\n") == []
    assert decode(BOM, BOM + b"data: x\n\ndata: y\n\n") == [E(data="y")]


def test_bom_only_at_stream_start() -> None:
    assert decode(b"data: a\n\n" + BOM + b"data: b\n\n") == [E(data="a")]
    assert decode(b"data: a\n\n", BOM + b"data: b\n\n") == [E(data="a")]


def test_bom_prefix_that_is_not_a_bom_is_kept() -> None:
    # b"\xef" then "d" is no BOM: the byte stays (as U+FFFD) and spoils the field name.
    assert decode(b"\xef", b"data: x\n\ndata: y\n\n") == [E(data="y")]
    assert decode(b"\xef\xbb", b"\n\xef\xbbdata: y\n\ndata: z\n\n") == [E(data="z")]


def test_bom_before_a_comment() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.feed(b"\xbf: hi\ndata: x\n\n") == [E(data="x")]
    assert decoder.comment_count == 1


# -- comments ------------------------------------------------------------------------


def test_comments_are_ignored_and_counted() -> None:
    decoder = SSEDecoder()
    assert decoder.comment_count == 0
    events = decoder.feed(b": keep-alive\n\n:\n:ping\ndata: x\n: inside an event\ndata: y\n\n")
    assert events == [E(data="x\ny")]
    assert decoder.comment_count == 4


def test_comment_with_colon_and_field_like_text() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b":data: not data\n\n") == []
    assert decoder.comment_count == 1


def test_comment_split_across_chunks_counts_once() -> None:
    decoder = SSEDecoder()
    for piece in bytewise(b": keep-alive\r\n: two\r\n\r\n"):
        assert decoder.feed(piece) == []
    assert decoder.comment_count == 2


# -- text decoding ---------------------------------------------------------------------


def test_multibyte_characters_split_at_every_byte() -> None:
    text = "héllo € 😀 ü 𝄞 日本"
    body = f"event: ✓\ndata: {text}\nid: ï\n\n".encode()
    expected = [E("✓", text, "ï")]
    for i in range(len(body) + 1):
        assert decode(body[:i], body[i:]) == expected, i
    assert decode(*bytewise(body)) == expected


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b"data: a\xff\xfeb\n\n") == [E(data="a\ufffd\ufffdb")]
    # A truncated sequence at the end of a line, an overlong encoding, a lone
    # continuation byte and an encoded surrogate.
    assert decode(b"data: \xe2\x82\ndata: \xc0\xaf\ndata: \x80\ndata: \xed\xa0\x80\n\n") == [
        E(data="\ufffd\n\ufffd\ufffd\n\ufffd\n\ufffd\ufffd\ufffd")
    ]
    assert decode(b"event: \xff\nid: \xff\ndata: x\n\n") == [E("\ufffd", "x", "\ufffd")]


def test_invalid_utf8_split_across_chunks_matches_whole() -> None:
    body = b"data: \xe2\x82 \xf0\x9f\x98\nevent: \xe2\n\n"
    assert decode(*bytewise(body)) == decode(body) == [E("\ufffd", "\ufffd \ufffd")]


def test_nul_in_data_is_kept() -> None:
    assert decode(b"data: a\x00b\n\n") == [E(data="a\x00b")]


# -- the size limit --------------------------------------------------------------------


def test_event_at_the_limit_is_accepted() -> None:
    line = b"data: " + b"x" * 44  # 50 bytes, line end not counted
    assert decode(line + b"\n\n", max_event_bytes=50) == [E(data="x" * 44)]
    assert decode(*bytewise(line + b"\n\n"), max_event_bytes=50) == [E(data="x" * 44)]
    two = b"event: ab\ndata: " + b"x" * 31 + b"\n\n"  # 9 + 37 = 46 bytes
    assert decode(two, max_event_bytes=46) == [E("ab", "x" * 31)]
    with pytest.raises(SSEEventTooLargeError):
        decode(two, max_event_bytes=45)


def test_one_byte_over_the_limit_raises_with_a_helpful_message() -> None:
    body = b"data: " + b"x" * 45 + b"\n\n"  # 51 bytes
    with pytest.raises(SSEEventTooLargeError) as info:
        decode(body, max_event_bytes=50)
    err = info.value
    assert isinstance(err, StreamProtocolError)
    assert "50" in str(err)
    assert "StreamingOptions(max_event_bytes=...)" in str(err)
    assert err.raw == body[:-2]


def test_raw_is_the_first_200_bytes_of_the_event() -> None:
    body = b"event: big\ndata: " + b"0123456789" * 100 + b"\n\n"
    for chunks in ([body], bytewise(body)[:600]):
        with pytest.raises(SSEEventTooLargeError) as info:
            decode(*chunks, max_event_bytes=500)
        assert info.value.raw == b"event: big"  # the event's first line, complete
    body = b"data: " + b"0123456789" * 100 + b"\n\n"
    for chunks in ([body], bytewise(body)):
        with pytest.raises(SSEEventTooLargeError) as info:
            decode(*chunks, max_event_bytes=500)
        assert info.value.raw == body[:200]


def test_raw_comes_from_the_oversized_event_not_an_earlier_one() -> None:
    earlier = b"event: first\ndata: a\n\n"
    for tail in [b"data: " + b"z" * 60, b":" + b"c" * 60 + b"\n"]:
        for chunks in ([earlier + tail], bytewise(earlier + tail)):
            decoder = SSEDecoder(max_event_bytes=50)
            with pytest.raises(SSEEventTooLargeError) as info:
                for chunk in chunks:
                    decoder.feed(chunk)
                decoder.close()
            assert info.value.raw.startswith(tail[:1])


def test_many_lines_add_up_to_one_event() -> None:
    line = b"data: " + b"x" * 30 + b"\n"  # 36 bytes each
    with pytest.raises(SSEEventTooLargeError):
        decode(line * 3 + b"\n", max_event_bytes=100)
    assert decode(line * 2 + b"\n", max_event_bytes=100) == [E(data="\n".join(["x" * 30] * 2))]


def test_the_limit_is_per_event_not_per_stream() -> None:
    body = (b"data: " + b"x" * 30 + b"\n\n") * 100
    assert len(decode(body, max_event_bytes=40)) == 100
    assert len(decode(*bytewise(body), max_event_bytes=40)) == 100


def test_an_unterminated_line_over_the_limit_raises_before_it_ends() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    decoder.feed(b"data: ")
    with pytest.raises(SSEEventTooLargeError) as info:
        for _ in range(20):
            decoder.feed(b"y" * 16)
    assert info.value.raw == b"data: " + b"y" * 96  # everything so far (under 200 bytes)


def test_an_unterminated_line_counts_with_the_lines_before_it() -> None:
    decoder = SSEDecoder(max_event_bytes=50)
    assert decoder.feed(b"event: " + b"e" * 33 + b"\n") == []  # 40 bytes
    assert decoder.feed(b"data: xxxx") == []  # 50: still at the limit
    with pytest.raises(SSEEventTooLargeError) as info:
        decoder.feed(b"x")  # 51, although the line has not ended
    assert info.value.raw == b"event: " + b"e" * 33


def test_a_huge_comment_is_refused_too() -> None:
    with pytest.raises(SSEEventTooLargeError):
        decode(b":" + b"c" * 200 + b"\n\ndata: x\n\n", max_event_bytes=100)
    # Comments under the limit do not add up.
    decoder = SSEDecoder(max_event_bytes=100)
    assert decoder.feed((b":" + b"c" * 60 + b"\n") * 10 + b"data: x\n\n") == [E(data="x")]


def test_events_before_the_oversized_one_are_delivered_first() -> None:
    decoder = SSEDecoder(max_event_bytes=50)
    body = b"data: a\n\ndata: b\n\ndata: " + b"z" * 100 + b"\n\n"
    assert decoder.feed(body) == [E(data="a"), E(data="b")]
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"data: c\n\n")
    # The error is final: every later call raises it again.
    with pytest.raises(SSEEventTooLargeError):
        decoder.close()


@pytest.mark.parametrize(
    "chunk",
    [
        b"data: " + b"x" * 45 + b"\n\n",
        b"event: e\ndata: " + b"x" * 40 + b"\n\n",
        b"data: " + b"x" * 45 + b"\n\ndata: a\n\n",
        b"event: e\ndata: " + b"x" * 40 + b"\n\ndata: a\n\n",
    ],
)
def test_limit_applies_on_the_fast_paths(chunk: bytes) -> None:
    decoder = SSEDecoder(max_event_bytes=50)
    assert decoder.feed(b"data: prime\n\n") == [E(data="prime")]  # enables the fast paths
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(chunk)
    decoder = SSEDecoder(max_event_bytes=50)
    assert decoder.feed(b"data: prime\n\n") == [E(data="prime")]
    assert decoder.feed(b"data: a\n\nevent: b\ndata: b\n\n" + chunk) == [E(data="a"), E("b", "b")]
    with pytest.raises(SSEEventTooLargeError):
        decoder.close()


def test_oversized_event_without_earlier_events_raises_at_once() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"data: 0123456789\n\n")
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"data: ok\n\n")


def test_zero_limit_allows_only_blank_lines() -> None:
    assert decode(b"\n\n\r\n", max_event_bytes=0) == []
    with pytest.raises(SSEEventTooLargeError):
        decode(b"data\n\n", max_event_bytes=0)


def test_large_event_in_small_pieces_is_linear() -> None:
    """2 MB in 16-byte pieces. No timing assertion: instead check the structural
    invariant that makes it linear: the unterminated line is held as the pieces
    themselves (never re-joined per feed), and one join happens at the line end."""
    payload = b"x" * (2 * 1024 * 1024)
    body = b"data: " + payload + b"\n\n"
    *pieces, last = [body[i : i + 16] for i in range(0, len(body), 16)]
    assert b"\n" not in b"".join(pieces)
    decoder = SSEDecoder()
    for count, piece in enumerate(pieces, 1):
        assert decoder.feed(piece) == []
        if count % 16384 == 0:
            pending = decoder._pending
            assert len(pending) == count  # one entry per feed: nothing re-joined
            assert max(map(len, pending)) <= 16
    assert decoder.feed(last) == [E(data=payload.decode())]
    assert decoder._pending == []


def test_large_event_as_many_lines_in_small_pieces() -> None:
    body = b"data: 0123456789abcdef\n" * 20_000 + b"\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(0, len(body), 16):
        events.extend(decoder.feed(body[i : i + 16]))
    assert events == [E(data="\n".join(["0123456789abcdef"] * 20_000))]


# -- fast paths and the general path agree ---------------------------------------------


@pytest.mark.parametrize(
    "chunk",
    [
        b"data: {}\n\n",
        b"data: \n\n",
        b"data: a\ndata: b\n\n",
        b"data: a\n\n\n",
        b"data: a\r\n\r\n",
        b"data: a\n\r\n",
        b"data:a\n\n",
        b"event: e\ndata: a\n\n",
        b"event: \ndata: a\n\n",
        b"event: e\n\n",
        b"event: e\ndata: a\ndata: b\n\n",
        b"event: e\ndata: a\n\ndata: b\n\n",
        b"event: e\r\ndata: a\n\n",
        b"event: e\nid: 1\ndata: a\n\n",
        b"data: a\n\ndata: b\n\nevent: c\ndata: c\n\n",
        b"data: a\n\n: ping\n\ndata: b\n\n",
        b"data: a\n\ndata: b\n\ndata: partial",
        b"data: a\n\ndata: b\n\nid: 7\ndata: c\n\ndata: d\n\n",
        b"data: a\n\nevent: x\n\ndata: b\n\n",
        b"data: a\n\nretry: 5\ndata: b\n\ndata: c\n\n",
    ],
)
def test_whole_chunk_equals_bytewise(chunk: bytes) -> None:
    # Prime the decoder first so the fast paths are enabled, then compare.
    prime = b"data: prime\n\n"
    whole = decode(prime, chunk, chunk)
    assert whole == decode(*bytewise(prime + chunk + chunk))
    assert whole == reference(prime + chunk + chunk)[0]


def test_fast_path_respects_state_left_by_earlier_chunks() -> None:
    assert decode(b"event: e\n", b"data: x\n\n") == [E("e", "x")]
    assert decode(b"id: 4\n\n", b"data: x\n\n") == [E(data="x", id="4")]
    assert decode(b"retry: 4\n", b"data: x\n\n") == [E(data="x", retry=4)]
    assert decode(b"data: a\n", b"data: x\n\n") == [E(data="a\nx")]
    assert decode(b"data: a", b"data: x\n\n") == [E(data="adata: x")]
    assert decode(b"data: a\n\r", b"\ndata: x\n\n") == [E(data="a"), E(data="x")]


# -- an independent reference ----------------------------------------------------------


def reference(body: bytes) -> tuple[list[ServerSentEvent], int, str | None]:
    """The WHATWG algorithm, literally, on the whole stream at once: decode all bytes
    (UTF-8, replacement), drop a leading U+FEFF, split lines, interpret. Returns the
    events, the comment count and the last event id."""
    text = body.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split("\r\n|\r|\n", text)[:-1]  # the last piece has no line end yet
    events: list[ServerSentEvent] = []
    comments = 0
    data, event_type, retry, last_id = "", "", None, None
    for line in lines:
        if line == "":
            if data == "":
                event_type, retry = "", None
                continue
            if data.endswith("\n"):
                data = data[:-1]
            events.append(E(event_type or "message", data, last_id, retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            comments += 1
            continue
        if ":" in line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events, comments, last_id


def reference_events_before_limit(body: bytes, limit: int) -> int | None:
    """How many events dispatch before an event passes ``limit`` bytes (None: never)."""
    if body.startswith(BOM):
        body = body[3:]
    *lines, tail = re.split(rb"\r\n|\r|\n", body)
    size, has_data, dispatched = 0, False, 0
    for line in lines:
        if not line:
            dispatched += has_data
            size, has_data = 0, False
        elif line.startswith(b":"):
            if size + len(line) > limit:
                return dispatched
        else:
            size += len(line)
            if size > limit:
                return dispatched
            has_data = has_data or line.split(b":", 1)[0] == b"data"
    return dispatched if size + len(tail) > limit else None


def run(pieces: list[bytes], limit: int = 1 << 24) -> tuple[list[ServerSentEvent], bool, int]:
    """Feed and close; (events, whether the size limit was hit, comment count)."""
    decoder = SSEDecoder(max_event_bytes=limit)
    events: list[ServerSentEvent] = []
    try:
        for piece in pieces:
            events.extend(decoder.feed(piece))
        events.extend(decoder.close())
    except SSEEventTooLargeError:
        return events, True, decoder.comment_count
    return events, False, decoder.comment_count


# Fragments that make interesting streams: field names, separators, every line end,
# BOMs and broken UTF-8 in odd places, NULs, digits.
TOKENS = st.sampled_from(
    [
        b"data",
        b"event",
        b"id",
        b"retry",
        b"dat",
        b"x",
        b"7",
        b"42",
        b":",
        b": ",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\x00",
        BOM,
        b"\xef",
        b"\xbb\xbf",
        b"\xe2\x82",
        b"\xe2\x82\xac",
        b"\xf0\x9f\x98\x80",
        b"\xff",
        b"data: ",
        b"event: ",
        b"id: ",
        b"retry: ",
        b"data: {}\n\n",
        b"event: e\ndata: 1\n\n",
        b": ping\n",
        b"data:  two spaces",
        b"id: \x00",
        b"retry: \xef\xbc\x93",  # a fullwidth digit: not an ASCII digit
        b"data: " + b"long" * 8 + b"\n\n",
    ]
)
# Streams built line by line: field-shaped lines (right and wrong names, every kind of
# separator, awkward values) and blank lines, each with a random line end.
LINE = st.one_of(
    st.just(b""),
    st.builds(
        lambda name, sep, value: name + sep + value,
        st.sampled_from([b"data", b"event", b"id", b"retry", b"", b"dat", b":", BOM + b"data"]),
        st.sampled_from([b"", b":", b": ", b":  "]),
        st.lists(
            st.sampled_from(
                [b"x", b"7", b"42", b" ", b":", b"\x00", b"\xff", b"\xe2\x82", b"\xe2\x82\xac"]
                + [b"\xef\xbc\x93", b"\xf0\x9f\x98\x80", BOM]
            ),
            max_size=4,
        ).map(b"".join),
    ),
)
LINES = st.lists(st.tuples(LINE, st.sampled_from([b"\n", b"\r", b"\r\n"])), max_size=25).map(
    lambda lines: b"".join(line + eol for line, eol in lines)
)
STREAMS = st.one_of(
    LINES,
    st.builds(bytes.__add__, st.sampled_from([b"", BOM, b"\xef", b"\xef\xbb"]), LINES),
    st.lists(TOKENS, max_size=60).map(b"".join),
    st.binary(max_size=200),
)
CUTS = st.lists(st.integers(min_value=0, max_value=1000), max_size=20)


@settings(max_examples=examples(300), deadline=None)
@given(body=STREAMS, cuts=CUTS)
def test_matches_the_reference_under_any_chunking(body: bytes, cuts: list[int]) -> None:
    events, comments, last_id = reference(body)
    chunkings = [[body], per_event(body), per_line(body), split_at(body, cuts), bytewise(body)]
    for pieces in chunkings:
        decoder = SSEDecoder()
        got = [e for piece in pieces for e in decoder.feed(piece)]
        got += decoder.close()
        assert got == events
        assert decoder.comment_count == comments
        assert decoder.last_event_id == last_id


@settings(max_examples=examples(200), deadline=None)
@given(body=STREAMS, cuts=CUTS, limit=st.integers(min_value=2, max_value=40))
def test_size_limit_is_independent_of_chunking(body: bytes, cuts: list[int], limit: int) -> None:
    events = reference(body)[0]
    before = reference_events_before_limit(body, limit)
    chunkings = [[body], per_event(body), per_line(body), split_at(body, cuts), bytewise(body)]
    for pieces in chunkings:
        got, raised, _ = run(pieces, limit)
        if before is None:
            assert (got, raised) == (events, False)
        else:
            assert (got, raised) == (events[:before], True)


# -- round trip: events -> bytes -> events ---------------------------------------------

# Field values: anything but line ends (they cannot be encoded), with multibyte and
# astral characters, NULs and leading spaces.
VALUE = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_characters="\r\n"),
        st.sampled_from(["é", "€", "😀", "𝄞", " ", ":", "\x00", "\ufeff"]),
    ),
    max_size=12,
)
EOL = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int], list[ServerSentEvent], int, str | None]:
    """A random stream: (bytes, event boundaries, expected events, comments, last id)."""
    lines: list[str] = []  # each line without its line end
    boundaries: list[int] = []
    expected: list[ServerSentEvent] = []
    comments = 0
    last_id: str | None = None

    def field(name: str, value: str) -> str:
        if value == "" and draw(st.booleans()):
            return name  # no colon at all: an empty value
        if value.startswith(" ") or draw(st.booleans()):
            return f"{name}: {value}"  # the one space that is stripped
        return f"{name}:{value}"

    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        # Data lines keep their order; every other line goes anywhere among them.
        data = draw(st.lists(VALUE, max_size=3))
        fields = [field("data", v) for v in data]
        others: list[str] = []
        name = draw(st.one_of(st.none(), VALUE))
        if name is not None:
            others.append(field("event", name))
        ident = draw(st.one_of(st.none(), VALUE.filter(lambda v: "\0" not in v)))
        if ident is not None:
            others.append(field("id", ident))
            last_id = ident
        retry = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)))
        if retry is not None:
            others.append(field("retry", str(retry)))
        if draw(st.booleans()):
            others.append(field("unknown", draw(VALUE)))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            others.append(":" + draw(VALUE))
            comments += 1
        for line in others:
            fields.insert(draw(st.integers(min_value=0, max_value=len(fields))), line)
        lines += [*fields, ""]
        boundaries.append(len(lines))
        if data:
            expected.append(E(name or "message", "\n".join(data), last_id, retry))
    # Line ends, chosen per line. A CR followed by an LF-ended blank line would read as
    # one CRLF, so after a CR a blank line never ends with a bare LF.
    text = "\ufeff" if draw(st.booleans()) else ""
    offsets = [0]  # byte offset after each line
    out = [text.encode()]
    previous = ""
    for line in lines:
        eol = draw(EOL)
        if previous == "\r" and line == "" and eol == "\n":
            eol = "\r\n"
        out.append((line + eol).encode())
        offsets.append(offsets[-1] + len(out[-1]))
        previous = eol
    bom = len(out[0])
    body = b"".join(out)
    cuts = [bom + offsets[i] for i in boundaries]
    return body, cuts, expected, comments, last_id


@settings(max_examples=examples(200), deadline=None)
@given(stream=streams(), cuts=CUTS)
def test_round_trip_under_any_chunking(
    stream: tuple[bytes, list[int], list[ServerSentEvent], int, str | None], cuts: list[int]
) -> None:
    body, boundaries, expected, comments, last_id = stream
    chunkings = [[body], split_at(body, boundaries), split_at(body, cuts), bytewise(body)]
    for pieces in chunkings:
        decoder = SSEDecoder()
        got = [e for piece in pieces for e in decoder.feed(piece)]
        got += decoder.close()
        assert got == expected
        assert decoder.comment_count == comments
        assert decoder.last_event_id == last_id
    assert reference(body) == (expected, comments, last_id)


# -- real recordings -------------------------------------------------------------------


def test_recordings_decode_the_same_in_any_chunking(fixtures_dir: Path) -> None:
    paths = sorted(fixtures_dir.rglob("*.sse"))
    assert paths
    for path in paths:
        body = path.read_bytes()
        expected = reference(body)[0]
        assert expected, path
        assert decode(body) == expected, path
        per_line = body.splitlines(keepends=True)
        assert decode(*per_line) == expected, path
        assert decode(*split_at(body, list(range(0, len(body), 7)))) == expected, path


# -- the coalesced-events path -------------------------------------------------------


@pytest.fixture
def no_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the general path is taken: the shapes below must not need it."""

    def general(self: SSEDecoder, chunk: bytes) -> list[ServerSentEvent]:
        raise AssertionError(f"general path taken for {chunk!r}")

    monkeypatch.setattr(SSEDecoder, "_feed", general)


def test_coalesced_provider_events_take_the_fast_path(no_general_path: None) -> None:
    decoder = SSEDecoder()
    decoder.close()  # the start of the stream is behind: a first chunk may be fast
    chunk = b'data: {"a": 1}\n\nevent: delta\ndata: x\n\nevent: \ndata: y\n\ndata: z\n\n'
    assert decoder.feed(chunk) == [
        E(data='{"a": 1}'),
        E("delta", "x"),
        E("message", "y"),  # an empty event name means "message"
        E(data="z"),
    ]
    assert decoder.feed(b"data: 1\n\ndata: 2\n\n") == [E(data="1"), E(data="2")]


def test_coalesced_events_replace_invalid_utf8(no_general_path: None) -> None:
    decoder = SSEDecoder()
    decoder.close()
    chunk = b"data: a\xffb\n\nevent: e\xfe\ndata: \xc3\n\n"
    assert decoder.feed(chunk) == [E(data="a\ufffdb"), E("e\ufffd", "\ufffd")]


def test_coalesced_events_up_to_the_size_limit(no_general_path: None) -> None:
    decoder = SSEDecoder(max_event_bytes=12)
    decoder.close()
    # "data: 123456" is 12 bytes: exactly the limit, so still the fast path.
    assert decoder.feed(b"data: 1\n\ndata: 123456\n\n") == [E(data="1"), E(data="123456")]


def test_coalesced_events_then_other_shapes_resume_at_the_right_byte() -> None:
    decoder = SSEDecoder()
    decoder.close()
    chunk = b"data: a\n\nevent: e\ndata: b\n\nid: 7\ndata: c\n\ndata: d\n\n"
    assert decoder.feed(chunk) == [
        E(data="a"),
        E("e", "b"),
        E(data="c", id="7"),
        E(data="d", id="7"),
    ]
    assert decoder.feed(b"data: a\n\n: keep-alive\ndata: b\n\n") == [
        E(data="a", id="7"),
        E(data="b", id="7"),
    ]
    assert decoder.comment_count == 1


def test_one_provider_event_per_chunk_takes_the_fastest_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def slower(self: SSEDecoder, chunk: bytes) -> list[ServerSentEvent]:
        raise AssertionError(f"a slower path taken for {chunk!r}")

    decoder = SSEDecoder()
    decoder.close()
    monkeypatch.setattr(SSEDecoder, "_feed", slower)
    monkeypatch.setattr(SSEDecoder, "_feed_simple", slower)
    assert decoder.feed(b'data: {"a": 1}\n\n') == [E(data='{"a": 1}')]
    assert decoder.feed(b"event: ping\ndata: x\n\n") == [E("ping", "x")]
    assert decoder.feed(b"event: \ndata: y\n\n") == [E("message", "y")]
    assert decoder.feed(b"data: \xff\n\n") == [E(data="\ufffd")]


def test_coalesced_events_then_other_shapes_resume_exactly() -> None:
    # Were the general path to resume even a few bytes early, the tail "data" of the
    # first event would read as a data line of its own.
    decoder = SSEDecoder()
    decoder.close()
    assert decoder.feed(b"data: data\n\nid: 7\ndata: c\n\n") == [
        E(data="data"),
        E(data="c", id="7"),
    ]


def test_size_limit_counts_lines_across_chunks() -> None:
    decoder = SSEDecoder(max_event_bytes=15)
    assert decoder.feed(b"data: 12345\n") == []
    with pytest.raises(SSEEventTooLargeError) as info:
        decoder.feed(b"data: 67890\n")  # 11 + 11 bytes in one event
    assert info.value.raw == b"data: 12345"


def test_size_limit_with_comments() -> None:
    ok = SSEDecoder(max_event_bytes=10)
    assert ok.feed(b":123456789\n") == []  # 10 bytes: exactly the limit
    assert ok.comment_count == 1
    assert ok.feed(b"data: 1234\n\n") == [E(data="1234")]
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: 12\n") == []
    with pytest.raises(SSEEventTooLargeError) as info:
        decoder.feed(b":abc\n")  # 8 + 4 bytes: the comment tips the event over
    assert info.value.raw == b"data: 12"  # the event's start, not the comment


# -- the fast paths give what the general path gives ----------------------------------


@pytest.fixture
def fastest_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a chunk holding one provider-shaped event misses the fastest path."""

    def slower(self: SSEDecoder, chunk: bytes) -> list[ServerSentEvent]:
        raise AssertionError(f"a slower path taken for {chunk!r}")

    monkeypatch.setattr(SSEDecoder, "_feed", slower)
    monkeypatch.setattr(SSEDecoder, "_feed_simple", slower)


def warm(max_event_bytes: int = 1 << 24, first: bytes = b"id: 9\ndata: a\n\n") -> SSEDecoder:
    """A decoder that has read a first event by the general path (which sets an id)."""
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    assert decoder.feed(first) == [E(data="a", id="9")]
    return decoder


def test_a_whole_event_after_the_general_path_takes_the_fastest_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoder = warm()
    monkeypatch.setattr(SSEDecoder, "_feed", None)
    monkeypatch.setattr(SSEDecoder, "_feed_simple", None)
    assert decoder.feed(b"data: b\n\n") == [E(data="b", id="9")]


def test_the_fastest_event_path_keeps_the_id_and_replaces_invalid_utf8(
    fastest_only: None,
) -> None:
    decoder = SSEDecoder()
    decoder.last_event_id = "7"  # as set by an earlier event
    decoder.close()  # the start of the stream is behind
    assert decoder.feed(b"event: p\xffq\ndata: x\xfey\n\n") == [E("p\ufffdq", "x\ufffdy", id="7")]
    assert decoder.feed(b"data: z\n\n") == [E(data="z", id="7")]


def test_events_exactly_at_the_limit_take_the_fastest_path(fastest_only: None) -> None:
    decoder = SSEDecoder(max_event_bytes=15)
    decoder.close()
    assert decoder.feed(b"data: 123456789\n\n") == [E(data="123456789")]  # 15 bytes
    assert decoder.feed(b"event: e\ndata: 1\n\n") == [E("e", "1")]  # 8 + 7 bytes


def test_an_event_one_byte_over_the_limit_is_refused_on_the_fast_event_path() -> None:
    decoder = warm(max_event_bytes=14)
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"event: e\ndata: 1\n\n")  # 8 + 7 bytes


def test_a_cr_inside_a_fast_looking_event_ends_its_line() -> None:
    decoder = warm()
    # "b" is a field line of its own (ignored), not part of the data.
    assert decoder.feed(b"data: a\rb\n\n") == [E(data="a", id="9")]


def test_coalesced_events_resume_exactly_where_the_other_shapes_start() -> None:
    # Resuming even two bytes early would read the tail "id" of the first event as an
    # id line, setting the id of the events after it to "".
    decoder = SSEDecoder()
    decoder.close()
    assert decoder.feed(b"data: id\n\n: c\ndata: z\n\n") == [E(data="id"), E(data="z")]
    assert decoder.last_event_id is None


def test_a_first_chunk_too_short_to_be_a_bom_is_read_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b":\n") == []
    assert decoder.comment_count == 1


# -- the size limit on unterminated lines ---------------------------------------------


def test_an_unterminated_line_over_the_limit_is_final() -> None:
    decoder = SSEDecoder(max_event_bytes=50)
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"\n\ndata: ok\n\n")


def test_a_long_unterminated_line_keeps_its_first_200_bytes_as_raw() -> None:
    line = bytes(range(48, 48 + 64)) * 10  # 640 bytes, no line end
    for pieces in ([line], [line[i : i + 16] for i in range(0, len(line), 16)]):
        decoder = SSEDecoder(max_event_bytes=300)
        with pytest.raises(SSEEventTooLargeError) as info:
            for piece in pieces:
                decoder.feed(piece)
        assert info.value.raw == line[:200]


def test_a_line_joined_from_pieces_leaves_no_count_behind() -> None:
    decoder = SSEDecoder(max_event_bytes=10)
    assert decoder.feed(b"data: a") == []
    assert decoder.feed(b"\n\n") == [E(data="a")]
    assert decoder.feed(b"data: 1234") == []  # 10 bytes: exactly the limit
    assert decoder.feed(b"\n\n") == [E(data="1234")]


def test_the_size_error_message_says_what_to_do() -> None:
    with pytest.raises(SSEEventTooLargeError) as info:
        decode(b"data: " + b"x" * 45 + b"\n\n", max_event_bytes=50)
    assert info.value.message == (
        "a server-sent event grew past max_event_bytes=50 bytes; if the provider really "
        "sends events this large, raise the limit with StreamingOptions(max_event_bytes=...)"
    )
