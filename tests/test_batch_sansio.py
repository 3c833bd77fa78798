"""The pure pieces of batch jobs: header parsing, token buckets, the budget, job files,
shards. No trio, no sockets; hypothesis where a property says more than examples."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import BatchInputError, BatchRequest, BatchResult, ModelPrice, Usage
from steer_trio._batch._bucket import TokenBucket
from steer_trio._batch._budget import BudgetGuard, project_cost
from steer_trio._batch._headers import LimitReading, parse_duration, read_rate_limits
from steer_trio._batch._jobfile import (
    HashedIdSet,
    complete_length,
    id_hash,
    iter_lines,
    parse_request_line,
    parse_shard,
    scan_output,
    shard_of,
)

# -- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("17ms", 0.017),
        ("2m30.25s", 150.25),
        ("", None),
        ("soon", None),
        ("5x", None),
        ("1s2", None),
        ("-3", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    got = parse_duration(text)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


@given(
    hours=st.integers(0, 5),
    minutes=st.integers(0, 59),
    millis=st.integers(0, 59_999),
)
def test_parse_duration_reads_what_go_writes(hours: int, minutes: int, millis: int) -> None:
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    text += f"{millis / 1000:g}s"
    assert parse_duration(text) == pytest.approx(hours * 3600 + minutes * 60 + millis / 1000)


def test_openai_headers() -> None:
    snapshot = read_rate_limits(
        {
            "X-RateLimit-Limit-Requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "200000",
            "x-ratelimit-remaining-tokens": "199000",
            "x-ratelimit-reset-tokens": "6m0s",
        },
        now_wall=0.0,
    )
    assert snapshot.requests == LimitReading(500, 499, pytest.approx(0.12))
    assert snapshot.tokens == LimitReading(200000, 199000, 360.0)
    assert snapshot.input_tokens is None and not snapshot.empty


def test_anthropic_headers_read_rfc3339_resets_against_the_wall_clock() -> None:
    # 2025-01-01T00:00:00Z is 1735689600.
    snapshot = read_rate_limits(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:02Z",
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "39000",
            "anthropic-ratelimit-input-tokens-reset": "2025-01-01T00:00:01.500000+00:00",
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-tokens-limit": "48000",
            "anthropic-ratelimit-tokens-reset": "not a time",
        },
        now_wall=1735689600.0,
    )
    assert snapshot.requests == LimitReading(50, 49, 2.0)
    assert snapshot.input_tokens == LimitReading(40000, 39000, 1.5)
    assert snapshot.output_tokens == LimitReading(8000, None, None)
    assert snapshot.tokens == LimitReading(48000, None, None)


def test_garbage_headers_are_ignored() -> None:
    snapshot = read_rate_limits(
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-limit-tokens": "0",
            "anthropic-ratelimit-requests-limit": "-4",
            "content-type": "text/event-stream",
        },
        now_wall=0.0,
    )
    assert snapshot.empty


@given(st.dictionaries(st.text(max_size=40), st.text(max_size=40), max_size=8))
def test_any_headers_parse_without_error(headers: dict[str, str]) -> None:
    read_rate_limits(headers, now_wall=1e9)


# -- token buckets -----------------------------------------------------------------------


def drive(bucket: TokenBucket, amounts: list[float], start: float = 0.0) -> list[float]:
    """Take each amount as soon as the bucket allows; the times of the takes."""
    now = start
    times = []
    for amount in amounts:
        bucket.fit(amount)
        now += bucket.wait_for(amount, now)
        bucket.take(amount, now)
        times.append(now)
    return times


def most_in_window(times: list[float], amounts: list[float], window: float) -> float:
    best = 0.0
    for i, start in enumerate(times):
        best = max(
            best,
            sum(
                a for t, a in zip(times[i:], amounts[i:], strict=True) if t < start + window - 1e-9
            ),
        )
    return best


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.integers(1, 5000),
    amounts=st.lists(st.integers(1, 400), min_size=1, max_size=120),
)
def test_a_bucket_never_hands_out_more_than_its_limit_in_any_minute(
    per_minute: int, amounts: list[int]
) -> None:
    # Exact while one take is at most half the limit (a reservation is far less than a
    # minute's worth in practice).
    fitting = [float(max(1, min(a, per_minute // 2))) for a in amounts]
    if per_minute == 1:
        fitting = [1.0] * len(amounts)
    bucket = TokenBucket(per_minute, now=0.0)
    for amount in fitting:
        bucket.fit(amount)
    times = drive(bucket, fitting)
    assert most_in_window(times, fitting, 60.0) <= per_minute + 1e-6
    assert times == sorted(times)


def test_a_bucket_paces_evenly_at_its_limit() -> None:
    bucket = TokenBucket(60, now=0.0)
    times = drive(bucket, [1.0] * 121)
    # One at once, then one a second (59/60 of the limit after the first unit).
    assert times[0] == 0.0
    assert 119 < times[-1] < 125
    assert most_in_window(times, [1.0] * 121, 60.0) <= 60


def test_wait_is_exact_not_polled() -> None:
    bucket = TokenBucket(600, now=0.0)  # capacity 10, refill (600-10)/60 a second
    bucket.take(10, 0.0)
    wait = bucket.wait_for(5, 0.0)
    assert wait == pytest.approx(5 / (590 / 60))
    assert bucket.wait_for(5, wait) == 0.0


def test_a_refund_makes_room_at_once() -> None:
    bucket = TokenBucket(6000, now=0.0)  # capacity 100
    bucket.take(100, 0.0)
    assert bucket.wait_for(50, 0.0) > 0
    bucket.adjust(-60, 0.0)  # reserved 100, used 40
    assert bucket.wait_for(50, 0.0) == 0.0


def test_an_overrun_is_paid_back_before_anything_else() -> None:
    bucket = TokenBucket(6000, now=0.0)
    bucket.take(100, 0.0)
    bucket.adjust(+100, 0.0)  # used twice what was reserved
    assert bucket.level_at(0.0) == -100
    assert bucket.wait_for(1, 0.0) == pytest.approx(101 / bucket.rate)


def test_learning_a_limit_sets_its_rate_and_what_remains() -> None:
    bucket = TokenBucket(10_000, now=0.0)
    changed = bucket.learn(LimitReading(60, 0, 60.0), observed_at=0.0, now=0.0)
    assert changed and bucket.per_minute == 60 and bucket.learned
    assert bucket.level_at(0.0) == 0.0  # the provider says nothing is left
    assert bucket.wait_for(1, 0.0) == pytest.approx(1 / bucket.rate)
    assert not bucket.learn(LimitReading(60, 0, 60.0), observed_at=0.0, now=0.0)


def test_a_daily_limit_refills_at_its_implied_rate() -> None:
    bucket = TokenBucket(1_000_000, now=0.0)
    # 10,000 a day, 100 used, full again in 864 s: 100 / 864 s = about 6.9 a minute.
    bucket.learn(LimitReading(10_000, 9_900, 864.0), observed_at=0.0, now=0.0)
    assert bucket.per_minute == pytest.approx(100 / 864 * 60)


def test_what_was_taken_after_the_provider_counted_is_subtracted() -> None:
    bucket = TokenBucket(600, now=0.0)
    bucket.take(1, 1.0)
    bucket.take(1, 2.0)
    bucket.take(1, 3.0)
    assert bucket.taken_since(1.5) == 2 and bucket.taken_since(2.5) == 1
    before = bucket.level_at(3.0)
    # The provider counted at 2.5 and said nothing remained; one was taken since, and
    # half a second of refill came back.
    bucket.learn(LimitReading(600, 0, 60.0), observed_at=2.5, now=3.0)
    assert bucket.level_at(3.0) == pytest.approx(0 - 1 + 0.5 * bucket.rate)
    assert bucket.level_at(3.0) < before


def test_bad_limits_are_refused() -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            TokenBucket(bad, now=0.0)


# -- budget ------------------------------------------------------------------------------


def test_budget_admits_until_spend_and_commitments_would_cross_it() -> None:
    guard = BudgetGuard(1.0)
    assert guard.admits(0.4)
    guard.start("a", 0.4)
    assert guard.admits(0.4)
    guard.start("b", 0.4)
    assert not guard.admits(0.4) and guard.tripped
    assert not guard.admits(0.0)  # once tripped, it stays tripped


def test_budget_spend_moves_commitment_to_spent() -> None:
    guard = BudgetGuard(1.0)
    guard.start("a", 0.5)
    guard.spend("a", 0.2)
    assert guard.spent == pytest.approx(0.2) and guard.committed == pytest.approx(0.3)
    guard.finish("a")
    assert guard.committed == 0.0 and guard.spent == pytest.approx(0.2)


def test_budget_trips_when_actual_spend_crosses_it() -> None:
    guard = BudgetGuard(0.1)
    guard.start("a", 0.05)
    guard.spend("a", 0.2)  # the projection was too low
    assert guard.tripped


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=40))
def test_with_exact_projections_spend_never_crosses_the_budget(
    items: list[tuple[float, float]],
) -> None:
    guard = BudgetGuard(3.0)
    for key, (projected, fraction) in enumerate(items):
        if guard.admits(projected):
            guard.start(key, projected)
            guard.spend(key, projected * fraction)
            guard.finish(key)
    assert guard.spent <= 3.0 + 1e-9


def test_no_budget_admits_everything() -> None:
    guard = BudgetGuard(None)
    assert guard.admits(1e9) and not guard.tripped


def test_project_cost_uses_the_price_and_the_discount() -> None:
    price = ModelPrice(input=2.0, output=8.0)
    assert project_cost(price, 1_000_000, 500_000) == pytest.approx(6.0)
    assert project_cost(price, 1_000_000, 500_000, discount=0.5) == pytest.approx(3.0)
    assert project_cost(None, 10, 10) is None


# -- job files ---------------------------------------------------------------------------


def test_request_lines() -> None:
    request = parse_request_line(
        b'{"id": 7, "prompt": "hi", "max_tokens": 5, "model": "gpt-4o"}', 1
    )
    assert isinstance(request, BatchRequest)
    assert request.id == "7" and request.params == {"max_tokens": 5} and request.line == 1
    assert parse_request_line(b"   \n", 2) is None
    bad = {
        b"{not json": "not JSON",
        b"[1, 2]": "JSON object",
        b'{"prompt": "x"}': "'id'",
        b'{"id": "a"}': "exactly one of",
        b'{"id": "a", "prompt": "x", "messages": []}': "exactly one of",
        b'{"id": "a", "prompt": ""}': "non-empty",
        b'{"id": "a", "messages": [{"content": "x"}]}': "'messages'",
        b'{"id": "a", "prompt": "x", "colour": 1}': "colour",
        b'{"id": "", "prompt": "x"}': "'id'",
        b'{"id": true, "prompt": "x"}': "'id'",
    }
    for line, fragment in bad.items():
        error = parse_request_line(line, 9)
        assert isinstance(error, BatchInputError), line
        assert fragment in error.message and error.line == 9 and "line 9" in error.message


@given(
    st.text(min_size=1, max_size=30).filter(str.strip),
    st.text(min_size=1, max_size=200).filter(str.strip),
)
def test_a_request_survives_its_own_line(item_id: str, prompt: str) -> None:
    request = BatchRequest(id=item_id, prompt=prompt, params={"max_tokens": 3})
    line = json.dumps(request.to_record())
    parsed = parse_request_line(line.encode(), 4)
    assert isinstance(parsed, BatchRequest)
    assert (parsed.id, parsed.prompt, parsed.params) == (item_id, prompt, {"max_tokens": 3})


@given(st.binary(max_size=300))
def test_complete_length_keeps_only_whole_lines(data: bytes) -> None:
    end = complete_length(data)
    assert end == 0 or data[end - 1 : end] == b"\n"
    assert b"\n" not in data[end:]


@given(st.lists(st.text(alphabet='abc{}":, ', max_size=20), max_size=20), st.integers(1, 7))
def test_iter_lines_drops_only_a_cut_last_line(lines: list[str], chunk: int) -> None:
    whole = b"".join(line.encode() + b"\n" for line in lines)
    data = whole + b'{"cut'
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert list(iter_lines(chunks)) == [line.encode() for line in lines]


def result_line(item_id: str, status: str, **extra: object) -> bytes:
    result = BatchResult(id=item_id, status=status, usage=Usage.build(3, 4), cost_usd=0.5)  # type: ignore[arg-type]
    record = result.to_record()
    record.update(extra)
    return json.dumps(record).encode()


def test_scan_output_for_resume() -> None:
    lines = [
        result_line("a", "completed"),
        result_line("b", "failed"),
        result_line("c", "cancelled", partial=True),
        result_line("b", "completed"),
        b"garbage",
        json.dumps(
            {"id": None, "status": "failed", "line": 12, "error": {"type": "BatchInputError"}}
        ).encode(),
    ]
    state = scan_output(lines)
    assert "a" in state.completed and "b" in state.completed
    assert "c" not in state.completed and "c" in state.recorded
    assert state.skip("c", keep_failed=True) and not state.skip("c", keep_failed=False)
    assert not state.skip("d", keep_failed=True)
    assert state.bad_lines == {12} and state.unreadable == 1
    assert state.cost_usd == pytest.approx(2.0) and state.tokens == 28


def test_result_records_round_trip() -> None:
    result = BatchResult(
        id="x",
        status="timed_out",
        partial=True,
        text="half",
        usage=Usage.build(5, 6, is_estimated=True, source="character"),
        cost_usd=0.25,
        error_type="DeadlineExceeded",
        error_message="too slow",
        attempts=2,
        latency_ms=1234.5678,
        line=3,
    )
    back = BatchResult.from_record(json.loads(result.to_json()))
    assert back.to_record() == result.to_record()


@given(st.lists(st.text(max_size=12), max_size=200, unique=True))
def test_hashed_id_set_membership(ids: list[str]) -> None:
    half = ids[: len(ids) // 2]
    members = HashedIdSet()
    for item_id in half:
        members.add(item_id)
    members.freeze()
    assert all(i in members for i in half)
    assert not any(i in members for i in ids[len(ids) // 2 :])
    assert members.duplicates() == set() and len(members) == len(half)


def test_hashed_id_set_finds_duplicates_and_costs_8_bytes_an_id() -> None:
    members = HashedIdSet()
    for i in range(10_000):
        members.add(f"id-{i}")
    members.add("id-42")
    assert members.duplicates() == {id_hash("id-42")}
    assert members.nbytes() <= 8 * 10_001 + 256 * 64


@given(st.text(max_size=40), st.integers(1, 50))
def test_shards_are_stable_and_in_range(item_id: str, count: int) -> None:
    shard = shard_of(item_id, count)
    assert 1 <= shard <= count and shard == shard_of(item_id, count)


def test_shards_split_evenly_and_completely() -> None:
    ids = [f"row-{i}" for i in range(20_000)]
    counts = [0, 0, 0, 0]
    for item_id in ids:
        counts[shard_of(item_id, 4) - 1] += 1
    assert sum(counts) == 20_000 and min(counts) > 4_500
    # A known value: the same on every machine, every run.
    assert shard_of("row-0", 4) == shard_of("row-0", 4)
    assert id_hash("row-0") == int.from_bytes(
        __import__("hashlib").blake2b(b"row-0", digest_size=8).digest(), "big"
    )


def test_parse_shard() -> None:
    assert parse_shard("1/4") == (1, 4) and parse_shard("4/4") == (4, 4)
    for bad in ("0/4", "5/4", "x/4", "1-4", "1/0", ""):
        with pytest.raises(BatchInputError):
            parse_shard(bad)
