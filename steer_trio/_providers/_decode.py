"""Reading one SSE data payload as a JSON object (sans-IO), shared by the wire parsers."""

from __future__ import annotations

import json
from typing import Any

from .._errors import StreamProtocolError

__all__ = ["decode_object"]

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
