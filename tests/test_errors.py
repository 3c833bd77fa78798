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
from steer_trio._errors import error_from_json_body, error_from_payload, error_from_status


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
        (499, BadRequestError, False),
        (399, ProviderError, False),
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


# -- OpenRouter's integer error.code, Groq's error.status_code -----------------------------


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (402, BadRequestError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
        (529, OverloadedError, True),
    ],
)
@pytest.mark.parametrize("key", ["code", "status_code"])
def test_in_stream_error_class_from_the_stated_status(
    key: str, status: int, cls: type[ProviderError], retryable: bool
) -> None:
    payload = {"error": {key: status, "message": "upstream said no", "metadata": {"raw": "x"}}}
    err = error_from_payload("openrouter", payload)
    assert type(err) is cls
    assert err.status_code == status and err.is_retryable is retryable
    assert err.in_stream and err.message == "upstream said no" and err.body == payload
    assert err.error_type is None  # no name in the body: the status is not a type


@pytest.mark.parametrize("status", [True, 99, 200, 399, 600, 4290, "429", 429.0, None])
def test_a_stated_status_must_be_an_http_status(status: object) -> None:
    err = error_from_payload("openrouter", {"error": {"code": status, "message": "m"}})
    assert type(err) is ServerError and err.status_code == 500


def test_status_code_is_read_before_code_and_status() -> None:
    payload = {"error": {"status_code": 429, "code": 400, "status": 503, "message": "m"}}
    assert type(error_from_payload("groq", payload)) is RateLimitError
    payload = {"error": {"code": 404, "status": 503, "message": "m"}}
    assert type(error_from_payload("groq", payload)) is NotFoundError
    assert error_from_payload("groq", {"error": {"status": 503}}).status_code == 503


def test_a_name_in_the_body_wins_over_the_stated_status() -> None:
    payload = {"error": {"type": "overloaded_error", "status_code": 503, "message": "busy"}}
    err = error_from_payload("anthropic", payload)
    assert type(err) is OverloadedError and err.status_code == 503
    assert err.error_type == "overloaded_error"
    # A string code is finer than the type: it is read first.
    payload = {"error": {"type": "invalid_request_error", "code": "rate_limit_exceeded"}}
    err = error_from_payload("openai", payload)
    assert type(err) is RateLimitError and err.error_type == "invalid_request_error"


def test_groq_recording_error_keeps_its_fields() -> None:
    payload = {
        "error": {
            "message": "Tool choice is required, but model did not call a tool",
            "type": "invalid_request_error",
            "code": "tool_use_failed",
            "failed_generation": "",
            "status_code": 400,
        }
    }
    err = error_from_payload("openai_compatible", payload)
    assert type(err) is BadRequestError and err.status_code == 400
    assert err.error_type == "invalid_request_error"


def test_string_error_and_missing_message() -> None:
    err = error_from_payload("openai_compatible", {"error": "model crashed", "type": "oops"})
    assert type(err) is ServerError and err.message == "model crashed"
    assert err.error_type == "oops" and err.status_code == 500
    err = error_from_payload("openai", {"error": {"type": "server_error"}})
    assert err.message == "the provider reported an error in the stream"
    assert error_from_payload("openai", None).message == (
        "the provider reported an error in the stream"
    )


# -- Google (Gemini) ---------------------------------------------------------------------------


def google_error(code: int, status: str, message: str = "m", **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


@pytest.mark.parametrize(
    ("code", "status", "cls", "retryable"),
    [
        (400, "INVALID_ARGUMENT", BadRequestError, False),
        (400, "FAILED_PRECONDITION", BadRequestError, False),
        (400, "OUT_OF_RANGE", BadRequestError, False),
        (401, "UNAUTHENTICATED", AuthenticationError, False),
        (403, "PERMISSION_DENIED", PermissionDeniedError, False),
        (404, "NOT_FOUND", NotFoundError, False),
        (429, "RESOURCE_EXHAUSTED", RateLimitError, True),
        (503, "UNAVAILABLE", ServerError, True),
        (500, "INTERNAL", ServerError, True),
        (504, "DEADLINE_EXCEEDED", ServerError, True),
    ],
)
def test_google_status_names(
    code: int, status: str, cls: type[ProviderError], retryable: bool
) -> None:
    body = google_error(code, status)
    for err in (
        error_from_payload("gemini", body),
        error_from_payload("gemini", [body]),
        error_from_status("gemini", code, json.dumps(body).encode()),
        error_from_status("gemini", code, json.dumps([body]).encode()),
    ):
        assert type(err) is cls and err.is_retryable is retryable
        assert err.status_code == code and err.error_type == status and err.message == "m"
    # The name decides even where the stated code would say otherwise.
    assert type(error_from_payload("gemini", google_error(418, status))) is cls


def test_google_name_decides_for_an_http_status_we_do_not_know() -> None:
    body = json.dumps(google_error(499, "RESOURCE_EXHAUSTED")).encode()
    err = error_from_status("gemini", 499, body)
    assert type(err) is RateLimitError and err.status_code == 499


RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [
        ("7s", 7.0),
        ("0.5s", 0.5),
        ("1.500s", 1.5),
        ("0s", 0.0),
        ("7", None),
        ("s", None),
        ("sevens", None),
        ("-1s", None),
        ("infs", None),
        ("nans", None),
        (7, None),
        (None, None),
    ],
)
def test_google_retry_delay(delay: object, seconds: float | None) -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": RETRY_INFO, "retryDelay": delay},
        {"@type": RETRY_INFO, "retryDelay": "99s"},  # the first RetryInfo decides
    ]
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", details=details)
    err = error_from_status("gemini", 429, json.dumps(body).encode())
    assert err.retry_after == seconds
    assert error_from_payload("gemini", body).retry_after == seconds


def test_google_retry_delay_ignored_in_other_shapes() -> None:
    for details in (None, "7s", {"retryDelay": "7s"}, [{"retryDelay": "7s"}], ["7s"]):
        body = google_error(429, "RESOURCE_EXHAUSTED", details=details)
        assert error_from_payload("gemini", body).retry_after is None


def test_retry_after_header_wins_over_google_retry_delay() -> None:
    details = [{"@type": RETRY_INFO, "retryDelay": "7s"}]
    body = json.dumps(google_error(429, "RESOURCE_EXHAUSTED", details=details)).encode()
    assert error_from_status("gemini", 429, body, retry_after=2.0).retry_after == 2.0
    assert error_from_status("gemini", 429, body).retry_after == 7.0


def test_quota_wording_is_not_retryable_unless_google_says_when_to_retry() -> None:
    message = "You exceeded your current quota, please check your plan and billing details."
    body = google_error(429, "RESOURCE_EXHAUSTED", message)
    assert not error_from_status("gemini", 429, json.dumps(body).encode()).is_retryable
    assert not error_from_payload("gemini", body).is_retryable
    # Gemini words its per-minute limits this way too, with a RetryInfo delay.
    body = google_error(
        429, "RESOURCE_EXHAUSTED", message, details=[{"@type": RETRY_INFO, "retryDelay": "7s"}]
    )
    err = error_from_status("gemini", 429, json.dumps(body).encode())
    assert err.is_retryable and err.retry_after == 7.0
    # Quota wording on a class other than a rate limit changes nothing.
    assert error_from_payload(
        "openai", {"error": {"type": "server_error", "message": "quota"}}
    ).is_retryable


@pytest.mark.parametrize("word", ["insufficient_quota", "Quota", "BILLING"])
@pytest.mark.parametrize("field", ["type", "code", "message"])
def test_quota_markers_anywhere(word: str, field: str) -> None:
    error = {"type": "rate_limit_error", "message": "slow down", field: word}
    if field == "type":
        error["code"] = "rate_limit_exceeded"
    err = error_from_payload("openai", {"error": error})
    assert type(err) is RateLimitError and not err.is_retryable


def test_a_rate_limit_without_quota_wording_is_retryable() -> None:
    err = error_from_payload("openai", {"error": {"type": "rate_limit_error", "message": "slow"}})
    assert err.is_retryable


# -- list-wrapped bodies --------------------------------------------------------------------------


def test_list_wrapped_error_found_among_other_items() -> None:
    body = [{"candidates": []}, google_error(503, "UNAVAILABLE", "The model is overloaded.")]
    err = error_from_payload("gemini", body)
    assert type(err) is ServerError and err.message == "The model is overloaded."
    assert err.body == body and err.status_code == 503
    # A list without an error reads its first item; an empty one reads nothing.
    first = [{"message": "first", "type": "rate_limit_error"}, {"message": "second"}]
    err = error_from_payload("gemini", first)
    assert type(err) is RateLimitError and err.message == "first"
    assert type(error_from_payload("gemini", [])) is ServerError


# -- error_from_status: which of the status and the body decides -----------------------------------


def test_a_name_in_the_body_wins_over_the_http_status() -> None:
    body = json.dumps({"error": {"type": "overloaded_error", "message": "busy"}}).encode()
    err = error_from_status("anthropic", 503, body)
    assert type(err) is OverloadedError and err.status_code == 503 and err.is_retryable
    # Gemini: a bad key is INVALID_ARGUMENT on HTTP 400, with an ErrorInfo reason.
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "message": "x"},
    ]
    body = json.dumps(google_error(400, "INVALID_ARGUMENT", "API key not valid.", details=details))
    err = error_from_status("gemini", 400, body.encode())
    assert type(err) is AuthenticationError and not err.is_retryable
    assert err.error_type == "INVALID_ARGUMENT" and err.message == "API key not valid."
    # Another reason, or a reason that is not a string, leaves the status name to decide.
    for reason in ("SERVICE_DISABLED", 5):
        details[0]["reason"] = reason
        body = json.dumps(google_error(400, "INVALID_ARGUMENT", details=details))
        assert type(error_from_status("gemini", 400, body.encode())) is BadRequestError


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (418, BadRequestError),
        (499, BadRequestError),
        (500, ServerError),
        (503, ServerError),
        (599, ServerError),
        (529, OverloadedError),
    ],
)
def test_the_http_status_wins_over_the_status_the_body_states(
    status: int, cls: type[ProviderError]
) -> None:
    body = json.dumps({"error": {"code": 429, "message": "m"}}).encode()
    err = error_from_status("openrouter", status, body)
    assert type(err) is cls and err.status_code == status


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (402, {"error": {"type": "insufficient_quota", "message": "pay up"}}, RateLimitError),
        (402, {"error": {"code": 402, "message": "m"}}, BadRequestError),
        (499, {"error": {"status": "UNAUTHENTICATED"}}, AuthenticationError),
        (302, {"error": {"message": "m"}}, ProviderError),
        (399, {"error": {"message": "m"}}, ProviderError),
        (302, {"error": {"code": 429, "message": "m"}}, RateLimitError),
        (399, {"error": {"status_code": 503, "message": "m"}}, ServerError),
    ],
)
def test_a_name_decides_then_the_http_status_then_a_stated_one(
    status: int, body: object, cls: type[ProviderError]
) -> None:
    err = error_from_status("openrouter", status, json.dumps(body).encode())
    assert type(err) is cls and err.status_code == status and not err.in_stream


def test_402_quota_is_not_retryable() -> None:
    body = json.dumps({"error": {"type": "insufficient_quota", "message": "pay up"}}).encode()
    err = error_from_status("openai", 402, body)
    assert not err.is_retryable and err.error_type == "insufficient_quota"


def test_status_error_keeps_body_headers_and_request_id() -> None:
    body = {
        "type": "error",
        "error": {"type": "not_found_error", "message": "no"},
        "request_id": "req_b",
    }
    raw = json.dumps(body).encode()
    err = error_from_status("anthropic", 404, raw, headers={"x": "1"})
    assert err.body == body and err.headers == {"x": "1"} and err.request_id == "req_b"
    assert err.error_type == "not_found_error" and err.retry_after is None
    assert error_from_status("anthropic", 404, raw, request_id="hdr").request_id == "hdr"
    assert error_from_status("openai", 500, b"plain text").body == "plain text"


# -- error_from_json_body: an HTTP 200 whose JSON body is an error ---------------------------


@pytest.mark.parametrize(
    ("payload", "cls", "status_code", "error_type"),
    [
        # OpenAI
        (
            {"error": {"message": "m", "type": "rate_limit_error", "param": None, "code": None}},
            RateLimitError,
            429,
            "rate_limit_error",
        ),
        # Anthropic
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "m"}},
            OverloadedError,
            529,
            "overloaded_error",
        ),
        # OpenRouter
        (
            {"error": {"code": 502, "message": "m", "metadata": {"provider_name": "p"}}},
            ServerError,
            502,
            None,
        ),
        # Groq
        (
            {"error": {"message": "m", "type": "invalid_request_error", "status_code": 400}},
            BadRequestError,
            400,
            "invalid_request_error",
        ),
        # Google, and Google list-wrapped
        (google_error(429, "RESOURCE_EXHAUSTED"), RateLimitError, 429, "RESOURCE_EXHAUSTED"),
        ([google_error(404, "NOT_FOUND")], NotFoundError, 404, "NOT_FOUND"),
        # Anthropic's type alone, or a bare string error
        ({"type": "error", "message": "m"}, ServerError, 500, "error"),
        ({"error": "m"}, ServerError, 500, None),
    ],
)
def test_json_body_error_shapes(
    payload: object, cls: type[ProviderError], status_code: int, error_type: str | None
) -> None:
    err = error_from_json_body("p", payload, status=200)
    assert err is not None
    assert type(err) is cls and err.status_code == status_code
    assert err.error_type == error_type and err.message == "m"
    assert not err.in_stream and err.body == payload
    assert err.request_id is None and err.retry_after is None and err.headers == {}


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "chatcmpl-1", "choices": []},
        {"id": "msg_1", "type": "message", "content": []},
        {"error": None, "choices": []},
        {"error": "", "choices": []},
        {"error": {}, "choices": []},
        {"type": "message_start"},
        [],
        [{"candidates": []}],
        "error",
        None,
        42,
    ],
)
def test_json_body_that_is_not_an_error(payload: object) -> None:
    assert error_from_json_body("p", payload, status=200) is None


def test_json_body_error_takes_the_http_status_when_the_body_states_none() -> None:
    payload = {"error": {"message": "m"}}
    for status, cls in ((503, ServerError), (418, BadRequestError), (429, RateLimitError)):
        err = error_from_json_body("p", payload, status=status)
        assert err is not None and type(err) is cls and err.status_code == status
    for no_status in (None, 0, 200, 399):
        err = error_from_json_body("p", payload, status=no_status)
        assert err is not None and type(err) is ServerError and err.status_code == 500
    err = error_from_json_body("p", {"error": {"code": 404}}, status=503)
    assert err is not None and type(err) is NotFoundError and err.status_code == 404
    err = error_from_json_body("p", {"error": {"type": "rate_limit_error"}}, status=503)
    assert err is not None and type(err) is RateLimitError and err.status_code == 503
    assert err.message == "the provider reported an error in its response body"


def test_json_body_error_takes_what_the_transport_knows() -> None:
    details = [{"@type": RETRY_INFO, "retryDelay": "3s"}]
    payload = {"request_id": "req_body", **google_error(429, "RESOURCE_EXHAUSTED", details=details)}
    err = error_from_json_body("gemini", payload, status=200)
    assert err is not None and err.request_id == "req_body" and err.retry_after == 3.0
    headers = {"retry-after": "9"}
    err = error_from_json_body(
        "gemini", payload, status=200, request_id="req_hdr", retry_after=9.0, headers=headers
    )
    assert err is not None and err.request_id == "req_hdr" and err.retry_after == 9.0
    assert err.headers == headers and err.headers is not headers


# -- what an error says -------------------------------------------------------------------------


def test_str_names_provider_place_and_type() -> None:
    body = json.dumps({"error": {"message": "m", "type": "rate_limit_error"}}).encode()
    assert str(error_from_status("openai", 429, body)) == "openai HTTP 429 rate_limit_error: m"
    assert str(error_from_status("openai", 500, b'{"error": {"message": "m"}}')) == (
        "openai HTTP 500: m"
    )
    payload = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert str(error_from_payload("anthropic", payload)) == (
        "anthropic in stream overloaded_error: Overloaded"
    )
    assert str(ProviderError("m")) == "provider HTTP None: m"


def test_html_snippet_is_flat_and_cut_at_300_characters() -> None:
    html = b"<html><body><h1>502</h1><p>Bad\n\n   Gateway</p></body></html>"
    assert error_from_status("x", 502, html).message == "502 Bad Gateway"
    exact = b"a" * 300
    assert error_from_status("x", 502, exact).message == "a" * 300
    longer = b"b" * 301
    assert error_from_status("x", 502, longer).message == "b" * 300 + "..."


def test_a_body_that_is_not_utf8_is_read_with_replacements() -> None:
    err = error_from_status("x", 500, b"bad \xff\xfe body")
    assert err.message == "bad \ufffd\ufffd body" and err.body == "bad \ufffd\ufffd body"


def test_every_mapping_keeps_the_provider_and_says_where() -> None:
    body = {"error": {"message": "m"}}
    from_status = error_from_status("openai", 500, json.dumps(body).encode())
    from_payload = error_from_payload("xai", body)
    from_body = error_from_json_body("groq", body, status=400)
    assert from_body is not None
    assert (from_status.provider, from_payload.provider, from_body.provider) == (
        "openai",
        "xai",
        "groq",
    )
    assert from_status.in_stream is False and from_body.in_stream is False
    assert from_payload.in_stream is True
    assert type(from_body) is BadRequestError and from_body.status_code == 400


def test_errors_keep_message_and_partial() -> None:
    from steer_trio import StreamProtocolError

    partial = object()
    for err in (
        SteerError("m", partial=partial),
        ProviderError("m", partial=partial),
        StreamProtocolError("m", partial=partial, raw="line"),
    ):
        assert err.args == ("m",) and err.message == "m" and err.partial is partial
        assert err.content_delivered is False
    assert SteerError("m").partial is None


@pytest.mark.parametrize("request_id", [5, "", None, ["r"]])
def test_a_request_id_in_the_body_must_be_a_non_empty_string(request_id: object) -> None:
    body = {"type": "error", "error": {"type": "api_error", "message": "m"}}
    body["request_id"] = request_id  # type: ignore[assignment]
    assert error_from_payload("anthropic", body).request_id is None


@pytest.mark.parametrize("status", [400, 599])
def test_the_stated_status_range_is_inclusive(status: int) -> None:
    err = error_from_payload("openrouter", {"error": {"code": status, "message": "m"}})
    assert err.status_code == status
