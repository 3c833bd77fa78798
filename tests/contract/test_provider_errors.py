"""A provider error: an HTTP error status before any body. The typed error, a partial
with no text, no usage and no cost ("not billed"), retries only for retryable errors,
and ``on_error`` once, with the final error."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from steer_trio import (
    AuthenticationError,
    BadRequestError,
    OverloadedError,
    RateLimitError,
    ServerError,
    SteerError,
)
from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import ALL_PATHS, FORMATS, TEXT, Recorder, make_client, run_path

STATUSES = {
    400: (BadRequestError, "invalid_request_error"),
    401: (AuthenticationError, "authentication_error"),
    429: (RateLimitError, "rate_limit_error"),
    500: (ServerError, "api_error"),
    529: (OverloadedError, "overloaded_error"),
}


def error_body(status: int) -> str:
    _cls, kind = STATUSES[status]
    return json.dumps({"type": "error", "error": {"type": kind, "message": f"status {status}"}})


def refusal(status: int) -> Scenario:
    return Scenario(fault=Fault("http_error", status=status, body=error_body(status)))


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_status_error_is_typed_and_not_billed(
    fake_provider: FakeProvider, recorder: Recorder, path: str, status: int, autojump_clock: Any
) -> None:
    cls, _kind = STATUSES[status]
    fake_provider.route("gpt-4o", refusal(status))
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider) as client:
        with trio.fail_after(60):
            outcome = await run_path(path, client, "openai", **callbacks)
    error = outcome.error
    assert type(error) is cls, repr(error)
    assert isinstance(error, SteerError)
    assert error.status_code == status and not error.in_stream
    assert f"status {status}" in str(error)
    partial = outcome.partial
    assert partial.is_partial and partial.text == "" and partial.error is error
    assert partial.usage_info is None
    assert partial.cost_usd == 0.0
    assert partial.cost_reason is not None and partial.cost_reason.startswith("not billed")
    assert not error.content_delivered
    # Retried (twice, the default) only when the error is retryable.
    assert len(fake_provider.requests) == (3 if error.is_retryable else 1)
    if outcome.stream is not None:
        assert outcome.stream.response is partial
    if path != "generate":
        assert recorder.count("on_error") == 1
        (event,) = recorder.events("on_error")
        assert event.error is error and event.partial is partial
        assert event.error_type == cls.__name__
        assert recorder.count("on_complete") == recorder.count("on_usage") == 0
        assert recorder.count("on_start") == 0  # the stream never started


@pytest.mark.parametrize("fmt", FORMATS)
async def test_each_format_maps_a_429(fake_provider: FakeProvider, fmt: str) -> None:
    fake_provider.enqueue(refusal(429))
    async with make_client(fake_provider, max_retries=0) as client:
        with trio.fail_after(10):
            outcome = await run_path("stream_with_usage", client, fmt)
    assert isinstance(outcome.error, RateLimitError)
    assert outcome.partial.cost_usd == 0.0 and outcome.partial.usage_info is None
    assert len(fake_provider.requests) == 1


@pytest.mark.parametrize("max_retries", [0, 1, 4])
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_max_retries_is_the_number_of_retries(
    fake_provider: FakeProvider,
    recorder: Recorder,
    path: str,
    max_retries: int,
    autojump_clock: Any,
) -> None:
    fake_provider.route("gpt-4o", refusal(500))
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider, max_retries=max_retries) as client:
        with trio.fail_after(120):
            outcome = await run_path(path, client, **callbacks)
    assert isinstance(outcome.error, ServerError)
    assert len(fake_provider.requests) == max_retries + 1
    assert outcome.partial.metrics["attempts"] == max_retries + 1
    # The same request every time (one idempotency key).
    assert len({r.headers["idempotency-key"] for r in fake_provider.requests}) == 1
    if path != "generate":
        assert recorder.count("on_error") == 1  # the final error only


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_retry_then_success_tells_on_error_nothing(
    fake_provider: FakeProvider, recorder: Recorder, path: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(refusal(429), refusal(500), Scenario(text=TEXT))
    callbacks = {} if path == "generate" else recorder.callbacks()
    async with make_client(fake_provider) as client:
        with trio.fail_after(60):
            outcome = await run_path(path, client, **callbacks)
    assert outcome.error is None and outcome.response is not None
    assert outcome.response.text == "".join(TEXT)
    assert outcome.response.metrics["attempts"] == 3
    assert outcome.response.metrics["retry_delays"] == [0.5, 1.0]
    if path != "generate":
        assert recorder.count("on_error") == 0
        assert recorder.count("on_start") == recorder.count("on_complete") == 1


@pytest.mark.parametrize("path", ALL_PATHS)
async def test_retry_policy_delays_are_slept(
    fake_provider: FakeProvider, path: str, autojump_clock: Any
) -> None:
    from steer_trio import RetryPolicy

    fake_provider.route("gpt-4o", refusal(500))
    policy = RetryPolicy(base=2.0, cap=5.0, rng=lambda: 1.0)
    async with make_client(fake_provider, max_retries=3, retry_policy=policy) as client:
        start = trio.current_time()
        with trio.fail_after(60):
            outcome = await run_path(path, client)
        took = trio.current_time() - start
    assert isinstance(outcome.error, ServerError)
    assert outcome.partial.metrics["retry_delays"] == [2.0, 4.0, 5.0]
    assert took == pytest.approx(11.0, abs=0.01)
