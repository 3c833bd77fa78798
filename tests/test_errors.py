"""Mapping HTTP statuses and in-stream payloads to the typed error tree."""

from __future__ import annotations

import json

import pytest

from steer_trio import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    SteerError,
)
from steer_trio._errors import error_from_payload, error_from_status


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (409, BadRequestError, False),
        (413, BadRequestError, False),
        (422, BadRequestError, False),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
        (529, OverloadedError, True),
    ],
)
def test_status_mapping(status: int, cls: type[ProviderError], retryable: bool) -> None:
    body = json.dumps({"error": {"message": "nope", "type": "some_type"}}).encode()
    err = error_from_status("openai", status, body, request_id="req_1")
    assert type(err) is cls
    assert isinstance(err, SteerError)
    assert err.status_code == status
    assert err.is_retryable is retryable
    assert err.request_id == "req_1"
    assert err.message == "nope"
    assert not err.in_stream


def test_quota_429_is_not_retryable() -> None:
    body = (
        b'{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}'
    )
    err = error_from_status("openai", 429, body)
    assert isinstance(err, RateLimitError)
    assert not err.is_retryable


def test_html_body_gives_readable_snippet() -> None:
    html = (
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><h1>502 Bad Gateway</h1></body></html>"
    )
    err = error_from_status("anthropic", 502, html)
    assert isinstance(err, ServerError)
    assert "<" not in err.message
    assert "502 Bad Gateway" in err.message


def test_should_retry_header_overrides() -> None:
    assert error_from_status("openai", 400, b"{}", should_retry=True).is_retryable
    assert not error_from_status("openai", 503, b"{}", should_retry=False).is_retryable


def test_empty_body() -> None:
    err = error_from_status("openai", 500, b"")
    assert "500" in err.message


def test_anthropic_in_stream_overloaded() -> None:
    payload = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    err = error_from_payload("anthropic", payload)
    assert isinstance(err, OverloadedError)
    assert err.in_stream and err.is_retryable
    assert err.status_code == 529
    assert "in stream" in str(err)


def test_anthropic_in_stream_rate_limit() -> None:
    payload = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    err = error_from_payload("anthropic", payload)
    assert isinstance(err, RateLimitError) and err.is_retryable


def test_openai_in_stream_server_error() -> None:
    err = error_from_payload("openai", {"error": {"message": "boom", "type": "server_error"}})
    assert isinstance(err, ServerError) and err.in_stream


def test_unknown_in_stream_error_is_server_error() -> None:
    err = error_from_payload("openai", {"error": {"message": "?"}})
    assert isinstance(err, ServerError)
