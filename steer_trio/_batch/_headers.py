"""Rate limits read from a provider's response headers (sans-IO).

Two families:

* ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``: OpenAI, xAI and most
  OpenAI-compatible servers. ``reset`` is a duration until the bucket is full again:
  Go-style (``6m0s``, ``1s``, ``20ms``, ``1h2m3.5s``) or plain seconds.
* ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``:
  ``reset`` is an RFC 3339 time when the bucket is full again.

The result is a :class:`RateLimitSnapshot`: per dimension, the limit, what remains
and seconds until full. Nothing here guesses a window: the buckets derive the refill
rate from these three numbers (see ``_bucket``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

import attrs

__all__ = ["DIMENSIONS", "LimitReading", "RateLimitSnapshot", "parse_duration", "read_rate_limits"]

#: The dimensions a provider may limit: requests, all tokens, input and output tokens.
DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@attrs.define(frozen=True, slots=True)
class LimitReading:
    """One dimension as the provider reported it."""

    limit: int
    remaining: int | None = None
    #: Seconds until the bucket is full again, if said.
    reset_seconds: float | None = None


@attrs.define(frozen=True, slots=True)
class RateLimitSnapshot:
    requests: LimitReading | None = None
    tokens: LimitReading | None = None
    input_tokens: LimitReading | None = None
    output_tokens: LimitReading | None = None

    def get(self, dimension: str) -> LimitReading | None:
        value: LimitReading | None = getattr(self, dimension)
        return value

    @property
    def empty(self) -> bool:
        return all(self.get(d) is None for d in DIMENSIONS)


def parse_duration(text: str) -> float | None:
    """Seconds in ``6m0s``, ``1s``, ``20ms``, ``1h2m3.5s`` or ``0.5``; None if unreadable."""
    value = text.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or position == 0:
        return None
    return total


def _parse_time_until(text: str, now_wall: float) -> float | None:
    """Seconds from ``now_wall`` (a Unix time) to an RFC 3339 time; never negative."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        try:
            number = float(text.strip())
        except ValueError:
            return None
        if number != number or number in (float("inf"), float("-inf")):
            return None
        value = int(number)
    return value if value >= 0 else None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def read_rate_limits(headers: Mapping[str, str], *, now_wall: float) -> RateLimitSnapshot:
    """The limits in ``headers`` (any case); ``now_wall`` is the Unix time of reading,
    for Anthropic's absolute reset times."""
    h = _lower(headers)
    found: dict[str, LimitReading] = {}
    for dimension, suffix in (("requests", "requests"), ("tokens", "tokens")):
        limit = _int(h.get(f"x-ratelimit-limit-{suffix}"))
        if limit is None or limit == 0:
            continue
        reset_text = h.get(f"x-ratelimit-reset-{suffix}")
        found[dimension] = LimitReading(
            limit=limit,
            remaining=_int(h.get(f"x-ratelimit-remaining-{suffix}")),
            reset_seconds=parse_duration(reset_text) if reset_text else None,
        )
    for dimension in DIMENSIONS:
        prefix = "anthropic-ratelimit-" + dimension.replace("_", "-")
        limit = _int(h.get(prefix + "-limit"))
        if limit is None or limit == 0:
            continue
        reset_text = h.get(prefix + "-reset")
        found[dimension] = LimitReading(
            limit=limit,
            remaining=_int(h.get(prefix + "-remaining")),
            reset_seconds=_parse_time_until(reset_text, now_wall) if reset_text else None,
        )
    return RateLimitSnapshot(**found)
