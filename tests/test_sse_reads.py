"""The SSE decoder fed as the body reader feeds it: one network read at a time, which
holds several whole events and rarely ends where an event ends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from steer_trio._sse import SSEDecoder, SSEEventTooLargeError

EVENT_SHAPES = [
    b'data: {"i":%d}\n\n',
    b'event: content_block_delta\ndata: {"i":%d}\n\n',
    b": keep-alive %d\n\n",
    b"data: line %d\ndata: two\n\n",
    b"id: %d\ndata: x\n\n",
    b"retry: %d\ndata: r\n\n",
    b"data: a\r\n\r\n",
    b"data: %d\r\r",
]


def decoded(decoder: SSEDecoder, chunks: list[bytes]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for chunk in chunks:
        try:
            events = decoder.feed(chunk)
        except SSEEventTooLargeError:
            out.append(("too large",))
            return out
        out += [(e.event, e.data, e.id, e.retry) for e in events]
    try:
        decoder.close()  # an error recorded behind the last events is raised here
    except SSEEventTooLargeError:
        out.append(("too large",))
    return out


@given(
    shapes=st.lists(st.integers(0, len(EVENT_SHAPES) - 1), max_size=30),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    limit=st.sampled_from([1 << 24, 24]),
)
def test_reads_cut_anywhere_give_the_events_of_a_byte_at_a_time(
    shapes: list[int], cuts: list[int], limit: int
) -> None:
    body = b"".join(
        EVENT_SHAPES[s] % i if b"%d" in EVENT_SHAPES[s] else EVENT_SHAPES[s]
        for i, s in enumerate(shapes)
    )
    bounds = sorted({min(c, len(body)) for c in cuts})
    reads = [body[a:b] for a, b in zip([0, *bounds], [*bounds, len(body)], strict=True)]
    bytewise = decoded(SSEDecoder(max_event_bytes=limit), [bytes([b]) for b in body])
    assert decoded(SSEDecoder(max_event_bytes=limit), reads) == bytewise


def test_a_read_ending_inside_an_event_keeps_its_start_for_the_next() -> None:
    decoder = SSEDecoder()
    first = decoder.feed(b'data: {"a":1}\n\nevent: e\ndata: {"b":2}\n\ndata: {"c"')
    assert [(e.event, e.data) for e in first] == [("message", '{"a":1}'), ("e", '{"b":2}')]
    second = decoder.feed(b':3}\n\ndata: {"d":4}\n\ndata: {')
    assert [e.data for e in second] == ['{"c":3}', '{"d":4}']
    assert [e.data for e in decoder.feed(b'"e":5}\n\n')] == ['{"e":5}']


def test_a_read_starting_inside_an_event_finishes_it_first() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: par") == []
    events = decoder.feed(b"tial\n\ndata: whole\n\ndata: next")
    assert [e.data for e in events] == ["partial", "whole"]
    assert [e.data for e in decoder.feed(b"\n\n")] == ["next"]


@pytest.mark.parametrize("before", [b"", b"data: pend"])
def test_an_oversized_event_in_a_read_comes_after_the_events_before_it(before: bytes) -> None:
    decoder = SSEDecoder(max_event_bytes=32)
    if before:
        assert decoder.feed(before) == []
    events = decoder.feed(b"ing\n\ndata: ok\n\ndata: " + b"x" * 64 + b"\n\ndata: late")
    expected = ["pending", "ok"] if before else []
    if not before:
        # "ing" is a line of its own here: not a field the decoder knows, so no event.
        expected = ["ok"]
    assert [e.data for e in events] == expected
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"\n\n")


def test_whole_events_in_a_split_read_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the unfinished ends of a read go line by line: the end of the event begun
    in the previous read, and the start of the next."""
    general: list[bytes] = []
    lines = SSEDecoder._lines

    def counting(self: SSEDecoder, batch: list[bytes], out: list[object]) -> None:
        general.extend(batch)
        lines(self, batch, out)  # type: ignore[arg-type]

    monkeypatch.setattr(SSEDecoder, "_lines", counting)
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a":') == []
    whole = b"".join(b'data: {"n":%d}\n\n' % i for i in range(50))
    events = decoder.feed(b"1}\n\n" + whole + b'data: {"z"')
    assert [e.data for e in events] == ['{"a":1}'] + [f'{{"n":{i}}}' for i in range(50)]
    # The first event's end (its line and the blank line): nothing of the 50 whole ones.
    assert general == [b'data: {"a":1}', b""]
    general.clear()
    assert [e.data for e in decoder.feed(b":2}\n\n")] == ['{"z":2}']
    assert general == [b'data: {"z":2}', b""]
