"""Reading provider JSON defensively (sans-IO), shared by the wire parsers.

A payload is JSON from the network: any field may hold any JSON type. The parsers check
each field they read with a cheap type test on the path already taken, and a field of
the wrong type raises ``WrongFieldType`` naming the field and what was expected. It is
raised deep in a parser, which knows neither its provider's name nor the raw line at
that point; the parser's entry point turns it into the ``StreamProtocolError`` the caller
sees, with both (``in_context``).
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import StreamProtocolError

__all__ = [
    "WrongFieldType",
    "count",
    "decode_object",
    "in_context",
    "json_kind",
    "raw_text",
]

# json.loads without its per-call checks: the SSE data is already a str.
_raw_decode = json.JSONDecoder().raw_decode


def decode_object(provider: str, data: str) -> dict[str, Any]:
    """The payload as a dict, or ``StreamProtocolError`` carrying the raw line."""
    try:
        payload, end = _raw_decode(data)
        if end != len(data):
            payload = json.loads(data)  # surrounding whitespace is fine; more is not
    except ValueError:
        try:
            payload = json.loads(data)  # leading whitespace, which raw_decode refuses
        except ValueError:
            raise StreamProtocolError(
                f"{provider} sent a data line that is not JSON: {data[:120]!r}", raw=data
            ) from None
    if not isinstance(payload, dict):
        raise StreamProtocolError(
            f"{provider} sent a JSON {type(payload).__name__} where an object was expected",
            raw=data,
        )
    return payload


class WrongFieldType(Exception):
    """A field of the wrong JSON type, raised inside a parser.

    Internal, and deliberately not a ``SteerError``: every parser entry point catches it
    and raises ``in_context(...)``, the ``StreamProtocolError`` the caller sees.
    """

    def __init__(self, where: str, expected: str, value: Any) -> None:
        super().__init__()
        #: The field's path in the payload, e.g. ``choices[0].delta.content``.
        self.where = where
        self.expected = expected
        self.value = value

    @property
    def message(self) -> str:
        return f"{self.where} as {json_kind(self.value)} where {self.expected} was expected"

    def __str__(self) -> str:
        return self.message

    def within(self, prefix: str) -> WrongFieldType:
        """The same error with its path below ``prefix`` (raised where the path is known);
        an empty path is the value at ``prefix`` itself."""
        where = f"{prefix}.{self.where}" if self.where else prefix
        return WrongFieldType(where, self.expected, self.value)


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, for a message, with a short excerpt."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int | float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list):
        kind = "a list"
    else:
        kind = "an object"
    shown = json.dumps(value, ensure_ascii=False)
    return f"{kind} ({shown[:60]}{'...' if len(shown) > 60 else ''})"


def in_context(provider: str, error: WrongFieldType, raw: Any) -> StreamProtocolError:
    """``error`` as the provider's fault, carrying the raw line (or the body, as text)."""
    return StreamProtocolError(f"{provider} sent {error.message}", raw=raw_text(raw))


def raw_text(raw: Any) -> str:
    """The offending data as text: an SSE data line as is, a decoded body as JSON."""
    return raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)


def count(value: Any, where: str) -> int:
    """A token count: a non-negative integer, 0 when absent (None)."""
    if value.__class__ is int and value >= 0:
        return int(value)
    if value is None:
        return 0
    raise WrongFieldType(where, "a non-negative integer", value)
