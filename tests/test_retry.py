"""The retry policy and the retry-after headers (sans-IO: no trio, no network)."""

from __future__ import annotations

import email.utils

import pytest

from steer_trio._retry import RetryPolicy, parse_retry_after, should_retry_header

NOW = 1_700_000_000.0


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(NOW + seconds_from_now, usegmt=True)


# -- parse_retry_after ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "0"}, 0.0),  # "0" is a value (retry now), not a missing header
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),  # sub-second: only the ms header can say it
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # ms wins: more precise
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # a bad ms falls through
        ({"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "", "retry-after": "4"}, 4.0),
        ({"retry-after": http_date(30)}, 30.0),
        ({"retry-after": http_date(-30)}, 0.0),  # a date in the past: now
    ],
)
def test_retry_after_values(headers: dict[str, str], seconds: float) -> None:
    assert parse_retry_after(headers, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["", "-1", "-0.5", "inf", "nan", "1e400", "soon", "Wed, 99 Foo 2015 07:28:00 GMT"]
)
def test_retry_after_that_is_not_a_wait_is_ignored(value: str) -> None:
    assert parse_retry_after({"retry-after": value}, now=NOW) is None
    assert parse_retry_after({"retry-after-ms": value}, now=NOW) is None


def test_no_header_no_wait() -> None:
    assert parse_retry_after({}) is None


def test_http_date_uses_the_clock_when_now_is_not_given() -> None:
    import time

    far = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3500 < (parse_retry_after({"retry-after": far}) or 0) <= 3600


# -- should_retry_header ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("TRUE", None), ("1", None), ("", None), (None, None)],
)
def test_should_retry_header(value: str | None, expected: bool | None) -> None:
    headers = {} if value is None else {"x-should-retry": value}
    assert should_retry_header(headers) is expected


# -- RetryPolicy -----------------------------------------------------------------------


def test_backoff_doubles_from_base_with_jitter_between_half_and_whole() -> None:
    low = RetryPolicy(base=0.5, cap=8.0, rng=lambda: 0.0)
    high = RetryPolicy(base=0.5, cap=8.0, rng=lambda: 1.0)
    mid = RetryPolicy(base=0.5, cap=8.0, rng=lambda: 0.5)
    assert [high.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [low.backoff(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert mid.backoff(3) == 1.5  # 2.0 * (0.5 + 0.25)
    assert isinstance(low.backoff(1), float)


def test_backoff_reaches_the_cap_exactly_and_stays() -> None:
    policy = RetryPolicy(base=1.0, cap=4.0, rng=lambda: 1.0)
    assert policy.backoff(3) == 4.0  # 1 * 2**2 == cap
    assert policy.backoff(4) == 4.0
    assert policy.backoff(60) == 4.0


def test_defaults() -> None:
    policy = RetryPolicy(rng=lambda: 1.0)
    assert (policy.base, policy.cap, policy.max_retry_after) == (0.5, 8.0, 60.0)
    assert policy.backoff(1) == 0.5
    assert policy.backoff(10) == 8.0


def test_default_jitter_stays_in_range() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    delays = {policy.backoff(2) for _ in range(200)}
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len(delays) > 1  # it really is random


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (None, 2.0),  # no header: backoff
        (0.0, 0.0),  # "retry now" is honoured, not treated as missing
        (0.25, 0.25),
        (60.0, 60.0),  # exactly at the cap: honoured
        (60.001, 2.0),  # past it: unreasonable, back off instead
        (-1.0, 2.0),
    ],
)
def test_delay_for_honours_retry_after_within_reason(
    retry_after: float | None, expected: float
) -> None:
    policy = RetryPolicy(base=1.0, cap=8.0, max_retry_after=60.0, rng=lambda: 1.0)
    assert policy.delay_for(2, retry_after) == expected
