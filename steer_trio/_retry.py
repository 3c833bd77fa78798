"""When to wait and for how long before trying a request again (sans-IO).

``RetryPolicy`` is exponential backoff with jitter, capped, honouring the provider's
``retry-after`` within reason; ``parse_retry_after`` reads ``retry-after-ms`` and
``retry-after`` (seconds or an HTTP date) from any case-insensitive header mapping.
Imports neither trio nor httpx2.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping

__all__ = ["RetryPolicy", "parse_retry_after", "should_retry_header"]


class RetryPolicy:
    """Exponential backoff with jitter, capped; ``retry-after`` honoured within reason."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 8.0,
        max_retry_after: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self.max_retry_after = max_retry_after
        self._rng = rng

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): full jitter in [d/2, d]."""
        delay = min(self.cap, self.base * (2.0 ** (attempt - 1)))
        return float(delay * (0.5 + 0.5 * self._rng()))

    def delay_for(self, attempt: int, retry_after: float | None) -> float:
        """The delay before retry ``attempt``: the server's ``retry_after`` when it is
        sane, else the backoff."""
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return retry_after
        return self.backoff(attempt)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or HTTP-date).

    A value that is not a finite number of seconds >= 0 is ignored (None): the caller
    then backs off on its own. A date in the past means "now" (0.0).
    """
    ms = _seconds(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None
