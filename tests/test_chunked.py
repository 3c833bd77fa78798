"""The chunked-body decoder against h11 (which reads every other HTTP/1.1 body here):
the same bytes accepted and returned, the same bodies refused, however the network
splits the reads."""

from __future__ import annotations

import re

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from steer_trio._chunked import ChunkedDecoder, ChunkedFramingError

HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


def h11_reading(wire: bytes) -> tuple[bytes, str]:
    """(body bytes, "end" | "error" | "more") as h11 reads ``wire`` after the head."""
    connection = h11.Connection(our_role=h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(HEAD + wire)
    body = b""
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return body, "error"
        if isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return body, "end"
        elif event is h11.NEED_DATA:
            return body, "more"


def decoding(wire: bytes, cuts: list[int]) -> tuple[bytes, str, ChunkedDecoder]:
    """Feeds ``wire`` in reads cut at ``cuts``; after the last chunk, ``decoder.rest``
    is extended with the reads it was not fed (h11 would get them from the network)."""
    decoder = ChunkedDecoder()
    bounds = sorted({min(c, len(wire)) for c in cuts})
    body = b""
    for a, b in zip([0, *bounds], [*bounds, len(wire)], strict=True):
        try:
            body += decoder.feed(wire[a:b])
        except ChunkedFramingError:
            return body, "error", decoder
        if decoder.error is not None:
            return body, "error", decoder
        if decoder.done:
            decoder.rest += wire[b:]
            return body, "end", decoder
    return body, "more", decoder


def chunk(data: bytes, ext: bytes = b"", pad: bytes = b"", upper: bool = False) -> bytes:
    size = b"%X" % len(data) if upper else b"%x" % len(data)
    return size + ext + pad + b"\r\n" + data + b"\r\n"


CHUNKS = st.builds(
    chunk,
    st.binary(min_size=1, max_size=40),
    st.sampled_from([b"", b";name=value", b";x"]),
    st.sampled_from([b"", b" ", b"\t "]),
    st.booleans(),
)
LAST = st.sampled_from(
    [b"0\r\n\r\n", b"0;ext\r\n\r\n", b"0\r\nx-trailer: 1\r\n\r\n", b"000\r\n\r\n"]
)


@given(chunks=st.lists(CHUNKS, max_size=8), last=LAST, cuts=st.lists(st.integers(0, 600)))
def test_valid_bodies_read_as_h11_reads_them(
    chunks: list[bytes], last: bytes, cuts: list[int]
) -> None:
    wire = b"".join(chunks) + last + b"NEXT RESPONSE"
    body, how, decoder = decoding(wire, cuts)
    assert (body, how) == h11_reading(wire)[:1] + ("end",)
    assert how == "end" and decoder.rest.startswith(b"0")
    # What follows the last size line is for h11: trailers, and anything after them.
    assert decoder.rest.endswith(b"NEXT RESPONSE") and last.startswith(decoder.rest[:1])


@given(
    chunks=st.lists(CHUNKS, min_size=1, max_size=6),
    at=st.integers(0, 400),
    junk=st.sampled_from([b"z", b"\n", b"\r", b" ", b";", b"-", b"+", b"0x", b"_", b"\x00"]),
    cuts=st.lists(st.integers(0, 600)),
)
def test_damaged_bodies_are_refused_where_h11_refuses_them(
    chunks: list[bytes], at: int, junk: bytes, cuts: list[int]
) -> None:
    clean = b"".join(chunks) + b"0\r\n\r\n"
    at = min(at, len(clean))
    wire = clean[:at] + junk + clean[at:]
    expected_body, expected_how = h11_reading(wire)
    body, how, _ = decoding(wire, cuts)
    if how == "end":
        # The decoder stops at the last size line: the trailers after it are h11's to
        # read (and to refuse) in the real reader, so only the body is compared.
        assert body == expected_body and expected_how in ("end", "more", "error")
        # ... and they differ only when the damage is there, after "0" CR LF.
        assert expected_how == "end" or at >= len(clean) - 2
    else:
        assert (body, how) == (expected_body, expected_how)
    if expected_how == "end":
        assert how == "end"


def test_bytes_before_a_break_come_first_and_the_break_after() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n2\r\nde\r\nzz\r\n") == b"abcde"
    assert isinstance(decoder.error, ChunkedFramingError)
    assert "illegal chunk header: b'zz\\r\\n'" in str(decoder.error)
    with pytest.raises(ChunkedFramingError):
        decoder.feed(b"")


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"g\r\n", "illegal chunk header: b'g\\r\\n'"),
        (b"1" * 21 + b"\r\n", "illegal chunk header"),
        (b"-1\r\n", "illegal chunk header"),
    ],
)
def test_a_break_with_nothing_before_it_raises_at_once(wire: bytes, message: str) -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedFramingError, match=re.escape(message)):
        decoder.feed(wire)


def test_a_chunk_not_ended_by_cr_lf_is_refused() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r") == b"abc"
    with pytest.raises(ChunkedFramingError, match=re.escape("malformed chunk footer: b'X'")):
        decoder.feed(b"X")


def test_an_endless_size_line_is_refused() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"1" + b" " * (ChunkedDecoder.MAX_LINE - 1)) == b""
    with pytest.raises(ChunkedFramingError) as info:
        decoder.feed(b" ")
    assert str(info.value) == "chunk size line too long"


def test_the_size_line_limit_counts_the_line_only() -> None:
    """A long chunk before it in the same read does not count toward the limit."""
    data = b"x" * (ChunkedDecoder.MAX_LINE + 100)
    decoder = ChunkedDecoder()
    assert decoder.feed(b"%x\r\n" % len(data) + data + b"\r\n1;ext") == data
    assert decoder.feed(b"\r\nz\r\n") == b"z"


def test_an_empty_size_line_is_illegal() -> None:
    with pytest.raises(ChunkedFramingError) as info:
        ChunkedDecoder().feed(b"\r\n5\r\nhello\r\n")
    assert str(info.value) == "illegal chunk header: b'\\r\\n'"


def test_the_message_quotes_the_size_line_alone() -> None:
    decoder = ChunkedDecoder()
    with pytest.raises(ChunkedFramingError) as info:
        decoder.feed(b"q1\r\nMORE")
    assert str(info.value) == "illegal chunk header: b'q1\\r\\n'"


def test_a_chunk_split_anywhere_is_held_until_it_comes() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"a") == b""
    assert decoder.feed(b"\r") == b""
    assert decoder.feed(b"\n0123") == b"0123"
    assert decoder.feed(b"456789\r") == b"456789"
    assert decoder.feed(b"\n0\r") == b""
    assert not decoder.done
    assert decoder.feed(b"\n\r\n") == b"" and decoder.done
    assert decoder.rest == b"0\r\n\r\n"
    with pytest.raises(ChunkedFramingError) as info:
        decoder.feed(b"more")
    assert str(info.value) == "data fed after the last chunk"
