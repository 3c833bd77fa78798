"""Token buckets that hold a per-minute limit over any 60-second window (sans-IO).

A bucket for a limit of ``L`` per minute holds at most ``C`` (about one second's
worth, at least the largest single amount asked for) and refills at
``(L - C) / 60`` a second, so that what can be taken in any minute,
``C + 60 * rate``, never exceeds ``L`` (exactly so while single takes are at most
half of ``L``): a burst at the start does not add a second
minute's worth on top. (A bucket of a whole minute's capacity would allow ``2 * L``
in the first minute; OpenAI also enforces its limits over shorter periods.)

Times are plain floats from whatever clock the caller uses (trio's, in the runner),
so everything here is exact arithmetic that tests drive by hand.

Limits learned from headers (:meth:`TokenBucket.learn`) set ``L`` from the
provider's limit and lower the level to what the provider says remains, corrected
for what this bucket handed out after the provider counted (a ledger of takes) and
for the refill since.
"""

from __future__ import annotations

import bisect
import math

from ._headers import LimitReading

__all__ = ["TokenBucket"]

#: Seconds of takes kept for correcting a provider's ``remaining`` (an answer's headers
#: are read when it ends; a stream rarely lasts longer than this).
LEDGER_SECONDS = 600.0


class TokenBucket:
    """``wait_for(amount, now)`` says how long until ``amount`` is there;
    ``take(amount, now)`` takes it. Levels may go below zero after a correction
    (``adjust``): the debt is paid by refill before anything else is taken."""

    def __init__(self, per_minute: float, *, now: float) -> None:
        if not per_minute > 0 or math.isinf(per_minute):
            raise ValueError(f"a per-minute limit must be a positive number, got {per_minute!r}")
        self.per_minute = float(per_minute)
        self.largest = 1.0
        self._shape()
        self.level = self.capacity
        self.updated = now
        self._ledger = _Ledger()
        #: Set when the limit came from the provider's headers.
        self.learned = False

    def _shape(self) -> None:
        limit = self.per_minute
        self.capacity = min(limit, max(limit / 60.0, 1.0, self.largest))
        # What can be taken in any minute is at most capacity + 60 * rate (or, after a
        # take larger than the capacity, that take + 60 * rate): keep it within the
        # limit. Exact while single takes are at most half the limit; tiny limits
        # (a few a minute) are paced a little below.
        self.rate = max(limit - self.capacity, limit / 2.0) / 60.0

    # -- reading ---------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def level_at(self, now: float) -> float:
        self._refill(now)
        return self.level

    def _needed(self, amount: float) -> float:
        # An amount larger than the whole capacity is taken once the bucket is full.
        return min(amount, self.capacity)

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds from ``now`` until ``amount`` can be taken (0.0: now)."""
        self._refill(now)
        missing = self._needed(amount) - self.level
        if missing <= 1e-9:
            return 0.0
        return missing / self.rate

    # -- changing --------------------------------------------------------------------------

    def fit(self, amount: float) -> None:
        """Make room for single takes of ``amount`` (up to the whole limit)."""
        if amount > self.largest:
            self.largest = float(amount)
            self._shape()  # the level grows by refill, never by reshaping

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= amount
        self._ledger.add(now, amount)

    def adjust(self, extra: float, now: float) -> None:
        """Correct an earlier take: ``extra`` > 0 takes more, < 0 gives back."""
        self._refill(now)
        self.level = min(self.capacity, self.level - extra)

    def taken_since(self, when: float) -> float:
        """What was taken after ``when`` (by the ledger of takes)."""
        return self._ledger.since(when)

    def learn(self, reading: LimitReading, *, observed_at: float, now: float) -> bool:
        """Adopt the provider's limit; lower the level to what it says remains.

        ``observed_at`` is when the provider counted (the request was sent). Returns
        True when the limit changed."""
        changed = not self.learned or reading.limit != self.per_minute
        per_minute = float(reading.limit)
        if (
            reading.remaining is not None
            and reading.reset_seconds
            and reading.remaining < reading.limit
        ):
            # The refill rate the provider implies (a daily limit refills far slower
            # than its number per minute would say); never faster than per minute.
            implied = (reading.limit - reading.remaining) / reading.reset_seconds * 60.0
            per_minute = min(per_minute, max(implied, 1e-6))
        if changed or abs(per_minute - self.per_minute) > 1e-9:
            self._refill(now)
            self.per_minute = per_minute
            self._shape()
            self.level = min(self.level, self.capacity)
        self.learned = True
        if reading.remaining is not None and now - observed_at <= LEDGER_SECONDS:
            self._refill(now)
            available = (
                reading.remaining
                - self.taken_since(observed_at)
                + max(0.0, now - observed_at) * self.rate
            )
            if available < self.level:
                self.level = available
        return changed


class _Ledger:
    """Takes by time, as running totals, for "how much since t" in O(log n)."""

    __slots__ = ("_base", "_start", "_times", "_totals")

    def __init__(self) -> None:
        self._times: list[float] = []
        self._totals: list[float] = []
        self._start = 0
        #: The running total before the first kept entry.
        self._base = 0.0

    def add(self, at: float, amount: float) -> None:
        total = (self._totals[-1] if len(self._totals) > self._start else self._base) + amount
        self._times.append(at)
        self._totals.append(total)
        horizon = at - LEDGER_SECONDS
        while self._start < len(self._times) and self._times[self._start] < horizon:
            self._base = self._totals[self._start]
            self._start += 1
        if self._start > 1024 and self._start * 2 > len(self._times):
            del self._times[: self._start], self._totals[: self._start]
            self._start = 0

    def since(self, when: float) -> float:
        end = len(self._times)
        if end == self._start:
            return 0.0
        index = bisect.bisect_right(self._times, when, lo=self._start)
        before = self._totals[index - 1] if index > self._start else self._base
        return self._totals[-1] - before
