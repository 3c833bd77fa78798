"""Rate limits in force while a batch runs: token buckets on trio's clock.

Waiting never polls: the first waiter (a fair ``trio.Lock`` queues the rest in
order) computes the exact time its reservation fits and sleeps until then, and is
woken early when capacity comes back (a reservation corrected down, a limit
learned from the provider). Buckets:

* the batch's own ``requests_per_minute`` and ``tokens_per_minute``, for everything;
* per provider and model, the limits learned from response headers (requests,
  tokens, and Anthropic's input and output tokens), with a shared cooldown: one 429
  pauses every new start for that model for its ``retry-after``.

A reservation takes one request and the item's estimated tokens (prompt by the
tokenizer plus ``max_tokens``, or the expected output); :meth:`RateLimiter.settle`
corrects it with the real usage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from ._bucket import TokenBucket
from ._headers import DIMENSIONS, LimitReading, read_rate_limits

__all__ = ["RateLimiter", "Reservation"]

#: Cooldown after a 429 that says nothing about when to come back: doubled for each
#: 429 in a row, capped.
DEFAULT_COOLDOWN = 1.0
MAX_COOLDOWN = 60.0


@attrs.define(slots=True)
class Reservation:
    group: str
    amounts: dict[str, float]
    at: float


@attrs.define(slots=True)
class _Group:
    buckets: dict[str, TokenBucket] = attrs.field(factory=dict)
    cooldown_until: float = -math.inf
    rate_limited_in_a_row: int = 0


class RateLimiter:
    """Fair, exact waiting for the batch's buckets and each model's learned ones.

    ``share``: the part of each learned limit this process may use (1/N for one of
    N worker processes sharing a key)."""

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        share: float = 1.0,
        learn: bool = True,
    ) -> None:
        now = trio.current_time()
        self._global: dict[str, TokenBucket] = {}
        if requests_per_minute is not None:
            self._global["requests"] = TokenBucket(requests_per_minute, now=now)
        if tokens_per_minute is not None:
            self._global["tokens"] = TokenBucket(tokens_per_minute, now=now)
        self._groups: dict[str, _Group] = {}
        self._share = share
        self._learn = learn
        self._lock = trio.Lock()
        self._changed = trio.Event()

    # -- waiting -----------------------------------------------------------------------

    def _group(self, key: str) -> _Group:
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        return group

    def _buckets(self, group: _Group) -> list[tuple[str, TokenBucket]]:
        return [*self._global.items(), *group.buckets.items()]

    def _wait(self, group: _Group, amounts: Mapping[str, float], now: float) -> float:
        wait = max(0.0, group.cooldown_until - now)
        for dimension, bucket in self._buckets(group):
            amount = amounts.get(dimension, 0.0)
            if amount > 0:
                bucket.fit(amount)
                wait = max(wait, bucket.wait_for(amount, now))
        return wait

    async def acquire(self, key: str, amounts: Mapping[str, float]) -> Reservation:
        """Wait (in arrival order) until ``amounts`` fit every bucket, then take them.

        A checkpoint even when nothing waits: a cancelled caller takes nothing."""
        group = self._group(key)
        await trio.lowlevel.checkpoint()
        if not self._lock.locked():
            # Nobody is waiting: if it fits now, take it without queueing.
            now = trio.current_time()
            if self._wait(group, amounts, now) <= 0:
                self._take(group, amounts, now)
                return Reservation(key, dict(amounts), now)
        async with self._lock:
            while True:
                now = trio.current_time()
                wait = self._wait(group, amounts, now)
                if wait <= 0:
                    self._take(group, amounts, now)
                    return Reservation(key, dict(amounts), now)
                changed = self._changed
                with trio.move_on_at(now + wait):
                    await changed.wait()

    def _take(self, group: _Group, amounts: Mapping[str, float], now: float) -> None:
        for dimension, bucket in self._buckets(group):
            amount = amounts.get(dimension, 0.0)
            if amount > 0:
                bucket.take(amount, now)

    def next_start_in(self, key: str, amounts: Mapping[str, float]) -> float:
        """Seconds until a reservation of ``amounts`` would fit (for estimates)."""
        return self._wait(self._group(key), amounts, trio.current_time())

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- corrections -------------------------------------------------------------------

    def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        """Correct a reservation with what the request really used."""
        group = self._group(reservation.group)
        now = trio.current_time()
        gave_back = False
        for dimension, bucket in self._buckets(group):
            if dimension == "requests" or dimension not in actual:
                continue
            extra = actual[dimension] - reservation.amounts.get(dimension, 0.0)
            if extra:
                bucket.adjust(extra, now)
                gave_back = gave_back or extra < 0
        if gave_back:
            self._notify()

    def learn(self, key: str, headers: Mapping[str, str], *, observed_at: float) -> dict[str, Any]:
        """Adopt the limits in a response's headers; returns those that changed."""
        if not self._learn or not headers:
            return {}
        snapshot = read_rate_limits(headers, now_wall=time.time())
        if snapshot.empty:
            return {}
        group = self._group(key)
        now = trio.current_time()
        changed: dict[str, Any] = {}
        for dimension in DIMENSIONS:
            reading = snapshot.get(dimension)
            if reading is None:
                continue
            if self._share != 1.0:
                reading = LimitReading(
                    limit=max(1, int(reading.limit * self._share)),
                    remaining=None
                    if reading.remaining is None
                    else int(reading.remaining * self._share),
                    reset_seconds=reading.reset_seconds,
                )
            bucket = group.buckets.get(dimension)
            if bucket is None:
                bucket = group.buckets[dimension] = TokenBucket(reading.limit, now=now)
            if bucket.learn(reading, observed_at=observed_at, now=now):
                changed[dimension] = reading.limit
        if changed:
            self._notify()
        return changed

    def rate_limited(
        self, key: str, retry_after: float | None, headers: Mapping[str, str]
    ) -> float:
        """A 429: pause new starts for ``key``; returns the cooldown in seconds."""
        group = self._group(key)
        group.rate_limited_in_a_row += 1
        seconds = retry_after
        if seconds is None:
            snapshot = read_rate_limits(headers, now_wall=time.time())
            resets = [
                r.reset_seconds
                for d in DIMENSIONS
                if (r := snapshot.get(d)) is not None
                and r.remaining == 0
                and r.reset_seconds is not None
            ]
            seconds = max(resets) if resets else None
        if seconds is None:
            seconds = DEFAULT_COOLDOWN * 2 ** (group.rate_limited_in_a_row - 1)
        seconds = min(MAX_COOLDOWN, max(0.0, seconds))
        group.cooldown_until = max(group.cooldown_until, trio.current_time() + seconds)
        return seconds

    def succeeded(self, key: str) -> None:
        self._group(key).rate_limited_in_a_row = 0

    # -- reporting ---------------------------------------------------------------------

    def cooldown_left(self) -> float:
        now = trio.current_time()
        return max([0.0, *(g.cooldown_until - now for g in self._groups.values())])

    def describe(self) -> dict[str, Any]:
        """The limits in force, per minute: the batch's own and those learned."""
        out: dict[str, Any] = {}
        for dimension, bucket in self._global.items():
            out[f"{dimension}_per_minute"] = bucket.per_minute
        learned = {
            key: {d: b.per_minute for d, b in group.buckets.items()}
            for key, group in self._groups.items()
            if group.buckets
        }
        if learned:
            out["learned"] = learned
        return out
