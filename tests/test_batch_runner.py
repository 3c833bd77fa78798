"""``client.batch(...)`` against the fake provider: limits, budget, cancellation, resume.

Time runs on trio's mock clock (``autojump_clock``); when a request was sent is taken
on the server (a route hook records trio's clock), so limits are checked where the
provider would check them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio

from steer_trio import (
    BatchEvent,
    BatchResult,
    ModelPrice,
    StreamingOptions,
    register_price,
)
from steer_trio.testing import FakeProvider, Fault, Scenario
from tests.conftest import steer_client

MODEL = "gpt-4o-mini"


def prompts(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"id": f"item-{i}", "prompt": f"Tell me about number {i}", **extra} for i in range(count)
    ]


def record_send_times(server: FakeProvider) -> list[float]:
    """trio's clock each time the server receives a chat request."""
    times: list[float] = []

    async def hook(method: str, path: str, headers: Any, body: bytes) -> None:
        if path.endswith(("/chat/completions", "/messages")):
            times.append(trio.current_time())
        return None

    server.route_hooks.append(hook)
    return times


def most_in_any_window(
    times: list[float], window: float, weights: list[float] | None = None
) -> float:
    """The largest total in any half-open window [t, t + window)."""
    weights = weights or [1.0] * len(times)
    pairs = sorted(zip(times, weights, strict=True))
    best = 0.0
    for start_index, (start, _) in enumerate(pairs):
        total = sum(w for t, w in pairs[start_index:] if t < start + window)
        best = max(best, total)
    return best


async def collect(batch: Any) -> list[BatchResult]:
    async with batch as results:
        return [result async for result in results]


async def test_every_request_gets_one_result_with_usage_and_cost(
    fake_provider: FakeProvider,
) -> None:
    async with steer_client(fake_provider) as client:
        results = await collect(client.batch(prompts(30), model=MODEL, max_concurrency=7))
    assert sorted(r.id for r in results) == sorted(f"item-{i}" for i in range(30))
    for result in results:
        assert result.status == "completed" and not result.partial
        assert result.text.startswith("Once upon a time")
        assert result.usage is not None and result.usage.total_tokens > 0
        assert result.cost_usd is not None and result.cost_usd > 0
        assert result.attempts == 1 and result.latency_ms is not None
        assert result.time_to_first_token_ms is not None


async def test_concurrency_never_exceeds_the_limit(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=["a "] * 10, delay=0.05))
    in_flight = 0
    peak = 0
    peak_running = 0

    def on_start(event: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    def on_end(event: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    def on_progress(event: BatchEvent) -> None:
        nonlocal peak_running
        peak_running = max(peak_running, event.progress.running)

    async with steer_client(fake_provider) as client:
        batch = client.batch(
            prompts(60),
            model=MODEL,
            max_concurrency=6,
            on_start=on_start,
            on_complete=on_end,
            on_progress=on_progress,
        )
        results = await collect(batch)
    assert len(results) == 60 and all(r.ok for r in results)
    assert peak == 6  # reached, never passed
    assert peak_running == 6


async def test_ordered_results_come_in_input_order(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route("gpt-4o", Scenario(text=["slow "] * 5, delay=0.3))
    fake_provider.route(MODEL, Scenario(text=["fast"]))
    requests = [
        {"id": str(i), "prompt": "hi", "model": "gpt-4o" if i % 3 == 0 else MODEL}
        for i in range(24)
    ]
    async with steer_client(fake_provider) as client:
        ordered = await collect(client.batch(requests, max_concurrency=8, ordered=True))
        unordered = await collect(client.batch(requests, max_concurrency=8))
    assert [r.id for r in ordered] == [str(i) for i in range(24)]
    # Without ordering the fast ones overtake the slow ones.
    assert [r.id for r in unordered] != [str(i) for i in range(24)]
    assert sorted(r.id for r in unordered) == sorted(str(i) for i in range(24))


async def test_requests_per_minute_hold_over_a_simulated_minute(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    sent = record_send_times(fake_provider)
    async with steer_client(fake_provider) as client:
        start = trio.current_time()
        results = await collect(
            client.batch(prompts(75), model=MODEL, max_concurrency=50, requests_per_minute=30)
        )
        elapsed = trio.current_time() - start
    assert all(r.ok for r in results) and len(sent) == 75
    assert most_in_any_window(sent, 60.0) <= 30
    # Paced, not starved: 75 requests at 30 a minute take about two and a half minutes.
    assert 120 < elapsed < 180


async def test_tokens_per_minute_hold_with_reservations_corrected(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=["x "] * 5, prompt_tokens=20, completion_tokens=30))
    sent = record_send_times(fake_provider)
    async with steer_client(fake_provider) as client:
        results = await collect(
            client.batch(
                prompts(40, max_tokens=200), model=MODEL, max_concurrency=40, tokens_per_minute=1000
            )
        )
    assert all(r.ok for r in results)
    real = [float(r.usage.total_tokens) for r in results if r.usage is not None]
    assert real == [50.0] * 40
    # Sent order and result order differ, but every item used the same 50 tokens.
    assert most_in_any_window(sent, 60.0, real) <= 1000
    # Reservations were ~210 tokens each; corrected to 50, twenty fit a minute, not five.
    assert max(sent) - min(sent) < 150


async def test_limits_learned_from_openai_headers_hold(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    headers = {
        "x-ratelimit-limit-requests": "20",
        "x-ratelimit-remaining-requests": "19",
        "x-ratelimit-reset-requests": "3s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "400ms",
    }
    fake_provider.route(MODEL, Scenario(text=["ok"], headers=headers))
    sent = record_send_times(fake_provider)
    learned: list[dict[str, Any]] = []

    def on_progress(event: BatchEvent) -> None:
        if event.kind == "limits":
            learned.append({"at": trio.current_time(), **event.detail})

    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(50), model=MODEL, max_concurrency=5, on_progress=on_progress)
        results = await collect(batch)
    assert all(r.ok for r in results)
    assert learned and learned[0]["learned"]["requests"] == 20
    assert batch.progress.limits["learned"]["openai/gpt-4o-mini"]["requests"] == 20
    after = [t for t in sent if t > learned[0]["at"]]
    assert len(after) > 30
    assert most_in_any_window(after, 60.0) <= 20


async def test_limits_learned_from_anthropic_headers(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    import datetime

    reset = (
        (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=6))
        .isoformat()
        .replace("+00:00", "Z")
    )
    headers = {
        "anthropic-ratelimit-requests-limit": "10",
        "anthropic-ratelimit-requests-remaining": "9",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "8000",
        "anthropic-ratelimit-output-tokens-reset": reset,
    }
    fake_provider.route("claude-haiku-4-5", Scenario(text=["ok"], headers=headers))
    sent = record_send_times(fake_provider)
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(25), model="claude-haiku-4-5", max_concurrency=3)
        results = await collect(batch)
    assert all(r.ok for r in results)
    learned = batch.progress.limits["learned"]["anthropic/claude-haiku-4-5"]
    assert learned["requests"] == 10 and learned["output_tokens"] == 8000
    assert most_in_any_window(sent[3:], 60.0) <= 10


async def test_one_429_pauses_every_new_start_for_its_retry_after(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=["ok "] * 3, delay=0.01))
    fake_provider.enqueue(
        Scenario(
            fault=Fault(
                "http_error",
                status=429,
                headers={"retry-after": "7"},
                body='{"error": {"message": "slow down", "type": "rate_limit_exceeded"}}',
            )
        )
    )
    sent = record_send_times(fake_provider)
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(20), model=MODEL, max_concurrency=5)
        results = await collect(batch)
    assert all(r.ok for r in results)
    # One 429, one extra request: nobody retried on their own.
    assert len(sent) == 21 and batch.progress.rate_limited == 1
    assert sorted(r.attempts for r in results) == [1] * 19 + [2]
    first_429_at = sent[0]
    paused = [t for t in sent if first_429_at + 0.05 < t < first_429_at + 7]
    assert paused == []


def priced_model(server: FakeProvider) -> None:
    """``gpt-budget-test``: $0.001 an output token, 10 tokens an answer in a second."""
    register_price("gpt-budget-test", ModelPrice(input=0.0, output=1000.0))
    server.route("gpt-budget-test", Scenario(text=["w "] * 10, completion_tokens=10, delay=0.1))


@pytest.mark.parametrize("max_tokens_of", ["each request", "the batch"])
async def test_budget_guard_stops_at_the_budget(
    fake_provider: FakeProvider, autojump_clock: Any, max_tokens_of: str
) -> None:
    # 10 output tokens at $0.001 each: four fit in the budget. Projected with the
    # expected output (256 tokens) instead of max_tokens, none would start.
    priced_model(fake_provider)
    per_request = max_tokens_of == "each request"
    async with steer_client(fake_provider) as client:
        batch = client.batch(
            prompts(20, **({"max_tokens": 10} if per_request else {})),
            model="gpt-budget-test",
            max_concurrency=3,
            max_cost_usd=0.045,
            **({} if per_request else {"max_tokens": 10}),
        )
        results = await collect(batch)
    completed = [r for r in results if r.status == "completed"]
    skipped = [r for r in results if r.status == "skipped"]
    spent = sum(r.cost_usd or 0 for r in results)
    assert len(results) == 20
    assert len(completed) == 4 and len(skipped) == 16
    assert spent == pytest.approx(0.04) and spent <= 0.045
    assert batch.stop_reason == "budget" and batch.progress.budget_tripped
    assert all(
        r.error_type == "BatchSkipped" and "budget" in (r.error_message or "") for r in skipped
    )


@pytest.mark.parametrize("on_budget", ["stop", "cancel"])
async def test_budget_cancel_cuts_running_items_and_keeps_their_partials(
    fake_provider: FakeProvider, autojump_clock: Any, on_budget: str
) -> None:
    register_price("gpt-budget-test", ModelPrice(input=0.0, output=1000.0))
    # Streams take (deltas + 4 framing events) x delay: fast 0.6 s, slow 4.4 s. The
    # budget trips when the second fast one ends (1.2 s): the slow ones are mid-stream.
    fast = Scenario(text=["w "] * 2, completion_tokens=10, delay=0.1)
    slow = Scenario(text=["w "] * 40, completion_tokens=10, delay=0.1)
    fake_provider.enqueue(fast, slow, slow, fast)
    async with steer_client(fake_provider) as client:
        batch = client.batch(
            prompts(10, max_tokens=10),
            model="gpt-budget-test",
            max_concurrency=3,
            max_cost_usd=0.045,
            on_budget=on_budget,
        )
        results = await collect(batch)
    by_status: dict[str, list[BatchResult]] = {}
    for result in results:
        by_status.setdefault(result.status, []).append(result)
    assert len(results) == 10
    if on_budget == "stop":
        assert len(by_status["completed"]) == 4 and "cancelled" not in by_status
    else:
        assert len(by_status["completed"]) == 2
        cut = by_status["cancelled"]
        assert len(cut) == 2
        for result in cut:
            assert result.partial and result.text.startswith("w w")
            assert result.usage is not None and result.usage.is_estimated
            assert result.cost_usd is not None and result.cost_usd > 0
    assert len(by_status["skipped"]) == 6
    assert sum(r.cost_usd or 0 for r in results) <= 0.045


async def test_fail_fast_cancels_the_rest(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    fake_provider.route(MODEL, Scenario(text=["w "] * 30, delay=0.1))
    sent = record_send_times(fake_provider)
    fake_provider.enqueue(
        Scenario(
            text=["w "] * 30,
            delay=0.1,
            fault=Fault("in_stream_error", after_events=5, error_type="invalid_request_error"),
        )
    )
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(50), model=MODEL, max_concurrency=4, fail_fast=True)
        results = await collect(batch)
    statuses = sorted(r.status for r in results)
    assert statuses.count("failed") == 1
    assert statuses.count("cancelled") == 3
    assert statuses.count("skipped") == 46
    assert len(sent) == 4  # nothing started after the failure
    assert all(r.partial and r.text for r in results if r.status == "cancelled")
    assert batch.stop_reason == "fail_fast"


async def test_errors_are_collected_by_default(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(
        Scenario(fault=Fault("http_error", status=400, body='{"error": {"message": "bad"}}'))
    )
    async with steer_client(fake_provider) as client:
        results = await collect(client.batch(prompts(10), model=MODEL, max_concurrency=1))
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) == 1 and failed[0].error_type == "BadRequestError"
    assert sum(r.ok for r in results) == 9


async def test_outer_cancel_keeps_every_finished_and_partial_result(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=[f"w{i} " for i in range(20)], delay=0.1))
    seen: list[BatchResult] = []
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(40), model=MODEL, max_concurrency=5)
        with trio.move_on_after(5.05):
            async with batch as results:
                async for result in results:
                    seen.append(result)
    kept = seen + batch.undelivered
    assert {r.status for r in seen} == {"completed"}
    cut = [r for r in kept if r.status == "cancelled"]
    assert len(cut) == 5
    for result in cut:
        assert result.partial and result.text.startswith("w0 w1")
        assert result.usage is not None and result.usage.is_estimated
    assert len({r.id for r in kept}) == len(kept)
    assert batch.progress.started == len([r for r in kept if r.status != "skipped"])


async def test_graceful_cancel_delivers_everything_then_ends(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=[f"w{i} " for i in range(20)], delay=0.1))
    seen: list[BatchResult] = []

    async def cancel_later(results: Any) -> None:
        await trio.sleep(6.05)  # waves take 2.4 s: the third is 1.25 s in
        results.cancel()

    async with (
        steer_client(fake_provider) as client,
        client.batch(prompts(100), model=MODEL, max_concurrency=4) as results,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(cancel_later, results)
        async for result in results:
            seen.append(result)
    statuses = [r.status for r in seen]
    assert statuses.count("completed") == 8  # two waves of four
    cut = [r for r in seen if r.status == "cancelled"]
    assert len(cut) == 4  # the third wave, one second in
    assert all(r.partial and r.text.startswith("w0 w1 w2") for r in cut)
    assert set(statuses) <= {"completed", "cancelled", "skipped"}
    assert results.undelivered == [] and results.stop_reason == "cancel"
    assert len(seen) == results.progress.finished


async def test_item_deadline_times_out_with_the_partial(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=[f"w{i} " for i in range(50)], delay=1.0))
    fake_provider.route(MODEL, Scenario(text=["quick"]))
    async with steer_client(fake_provider) as client:
        results = await collect(
            client.batch(prompts(3), model=MODEL, max_concurrency=1, item_deadline=5.5)
        )
    slow = results[0]
    assert slow.status == "timed_out" and slow.partial
    assert slow.text.startswith("w0 w1 w2") and len(slow.text.split()) < 10
    assert [r.status for r in results[1:]] == ["completed", "completed"]


async def test_batch_deadline_times_out_running_and_skips_waiting(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=[f"w{i} " for i in range(50)], delay=1.0))
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(20), model=MODEL, max_concurrency=2, deadline=10)
        results = await collect(batch)
    statuses = sorted(r.status for r in results)
    assert statuses.count("timed_out") == 2
    assert all(r.partial and r.text for r in results if r.status == "timed_out")
    assert set(statuses) <= {"timed_out", "skipped"}
    assert batch.stop_reason == "deadline"


async def test_retry_failed_requeues_after_in_request_retries(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    error = Scenario(fault=Fault("http_error", status=500, body='{"error": {"message": "oops"}}'))
    fake_provider.enqueue(error, error, error)
    async with steer_client(fake_provider) as client:
        once = await collect(client.batch(prompts(1), model=MODEL))
        fake_provider.enqueue(error, error, error)
        batch = client.batch(prompts(1), model=MODEL, retry_failed=1)
        twice = await collect(batch)
    assert once[0].status == "failed" and once[0].attempts == 3  # 1 + max_retries=2
    assert once[0].error_type == "ServerError"
    assert twice[0].status == "completed" and twice[0].attempts == 4
    assert batch.progress.requeued == 1


async def test_in_request_retries_follow_the_items_options(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    error = Scenario(fault=Fault("http_error", status=503, body="{}"))
    fake_provider.enqueue(error, error)
    async with steer_client(fake_provider) as client:
        results = await collect(
            client.batch(prompts(1), model=MODEL, streaming_options=StreamingOptions(max_retries=0))
        )
    assert results[0].status == "failed" and results[0].attempts == 1


async def test_input_is_pulled_lazily(fake_provider: FakeProvider, autojump_clock: Any) -> None:
    pulled = 0

    def million() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield {"id": str(i), "prompt": f"prompt {i}"}

    async with (
        steer_client(fake_provider) as client,
        client.batch(million(), model=MODEL, max_concurrency=4, buffer_size=4) as results,
    ):
        count = 0
        async for _ in results:
            count += 1
            if count == 25:
                break
    # At most the window (concurrency + buffer) ahead of what was read, plus one.
    assert 25 <= pulled <= 25 + 8 + 1


async def test_async_iterable_input(fake_provider: FakeProvider) -> None:
    async def source() -> Any:
        for i in range(5):
            await trio.lowlevel.checkpoint()
            yield f"prompt {i}"

    async with steer_client(fake_provider) as client:
        results = await collect(client.batch(source(), model=MODEL))
    assert sorted(r.id for r in results) == ["0", "1", "2", "3", "4"]


async def test_bad_requests_become_failed_results_and_the_batch_goes_on(
    fake_provider: FakeProvider,
) -> None:
    requests: list[Any] = [
        {"id": "ok-1", "prompt": "hello"},
        {"id": "no-prompt"},
        {"prompt": "no id"},
        {"id": "typo", "prompt": "x", "temprature": 0.2},
        42,
        {"id": "ok-2", "messages": [{"role": "user", "content": "hi"}]},
    ]
    async with steer_client(fake_provider) as client:
        results = await collect(client.batch(requests, model=MODEL, ordered=True))
    assert [r.status for r in results] == ["completed", *["failed"] * 4, "completed"]
    assert all(r.error_type == "BatchInputError" for r in results[1:5])
    assert "temprature" in (results[3].error_message or "")
    assert len(fake_provider.requests) == 2


async def test_a_failing_input_iterator_raises_one_exception_after_the_results(
    fake_provider: FakeProvider,
) -> None:
    def broken() -> Iterator[str]:
        yield "one"
        yield "two"
        raise ValueError("the input broke")

    seen = []
    async with steer_client(fake_provider) as client:
        with pytest.raises(ValueError, match="the input broke"):
            async with client.batch(broken(), model=MODEL) as results:
                async for result in results:
                    seen.append(result)
    assert sorted(r.id for r in seen) == ["0", "1"]


async def test_per_item_callbacks_and_partials_of_cancelled_items_still_reach_on_error(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=[f"w{i} " for i in range(20)], delay=0.1))
    deltas: list[str] = []
    errors: list[str] = []
    requests = [
        {
            "id": "a",
            "prompt": "hi",
            "on_delta": lambda e: deltas.append(e.delta.value),
            "on_error": lambda e: errors.append(e.error_type),
        }
    ]
    async with steer_client(fake_provider) as client:
        with trio.move_on_after(0.55):
            async with client.batch(requests, model=MODEL) as results:
                async for _ in results:
                    pass
    assert deltas[:2] == ["w0 ", "w1 "] and errors == ["cancelled"]
    assert results.undelivered[0].status == "cancelled"
    assert results.undelivered[0].text == "".join(deltas)


def test_bad_options_are_refused_before_anything_runs() -> None:
    from steer_trio import ConfigurationError, SteerClient

    client = SteerClient(api_keys={"openai": "x"})
    for options in (
        {"max_concurrency": 0},
        {"requests_per_minute": -1},
        {"max_cost_usd": "5"},
        {"on_budget": "explode"},
        {"retry_failed": -1},
        {"on_progress": 3},
    ):
        with pytest.raises(ConfigurationError):
            client.batch([], **options)

    async def async_progress(event: Any) -> None:
        pass

    with pytest.raises(ConfigurationError, match="plain function"):
        client.batch([], on_progress=async_progress)


async def test_keyboard_interrupt_in_the_loop_keeps_partials_and_is_raised_alone(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=[f"w{i} " for i in range(20)], delay=0.1))
    seen: list[BatchResult] = []
    async with steer_client(fake_provider) as client:
        batch = client.batch(prompts(30), model=MODEL, max_concurrency=3)
        with pytest.raises(KeyboardInterrupt):
            async with batch as results:
                async for result in results:
                    seen.append(result)
                    if len(seen) == 3:
                        await trio.sleep(1.05)  # the next wave is a second in
                        raise KeyboardInterrupt
    cut = [r for r in batch.undelivered if r.status == "cancelled"]
    assert len(seen) == 3 and len(cut) == 3
    assert all(r.partial and r.text.startswith("w0 w1") for r in cut)


async def test_a_budget_needs_a_price(fake_provider: FakeProvider) -> None:
    from steer_trio import ConfigurationError

    async with steer_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match="needs a price"):
            async with client.batch(
                prompts(2), model="openai/no-price-model", max_cost_usd=1.0
            ) as results:
                async for _ in results:
                    pass


def test_an_unknown_option_is_refused_with_a_suggestion() -> None:
    from steer_trio import ConfigurationError, SteerClient

    client = SteerClient(api_keys={"openai": "x"})
    with pytest.raises(ConfigurationError, match="did you mean 'max_concurrency'"):
        client.batch([], max_concurency=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="did you mean 'temperature'"):
        client.batch([], temprature=0.5)  # type: ignore[call-arg]
    for options in ({"expected_output_tokens": 0}, {"buffer_size": -1}, {"limit_share": 0}):
        with pytest.raises(ConfigurationError):
            client.batch([], **options)


async def test_batch_callbacks_go_to_every_request_and_a_requests_own_win(
    fake_provider: FakeProvider,
) -> None:
    fake_provider.route("gpt-4o", Scenario(fault=Fault("http_error", status=400)))
    shared: list[str] = []
    own: list[str] = []
    errors: list[str] = []
    requests = [
        {"id": "shared", "prompt": "hi"},
        {"id": "own", "prompt": "hi", "on_delta": lambda e: own.append(e.delta.value)},
        {"id": "broken", "prompt": "hi", "model": "gpt-4o"},
    ]
    async with steer_client(fake_provider) as client:
        results = await collect(
            client.batch(
                requests,
                model=MODEL,
                ordered=True,
                on_delta=lambda e: shared.append(e.delta.value),
                on_error=lambda e: errors.append(e.error_type),
            )
        )
    assert [r.status for r in results] == ["completed", "completed", "failed"]
    assert "".join(shared) == results[0].text and "".join(own) == results[1].text
    assert errors == ["BadRequestError"]


async def test_an_async_source_is_closed_when_the_batch_stops_early(
    fake_provider: FakeProvider, autojump_clock: Any
) -> None:
    fake_provider.route(MODEL, Scenario(text=["slow "] * 5, delay=1.0))
    closed = trio.Event()
    pulled = 0

    async def source() -> Any:
        nonlocal pulled
        try:
            for i in range(1000):
                pulled += 1
                yield f"prompt {i}"
        finally:
            closed.set()

    async with steer_client(fake_provider) as client:
        generator = source()
        async with client.batch(generator, model=MODEL, max_concurrency=2) as results:
            async for _ in results:
                break
        assert closed.is_set()
    assert pulled < 10
