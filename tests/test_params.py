"""Keyword mistakes are caught before anything is sent, with a suggestion."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import steer_client

from steer_trio import ConfigurationError
from steer_trio.testing import FakeProvider


@pytest.mark.parametrize(
    ("keyword", "suggestion"),
    [
        ("max_token", "max_tokens"),
        ("on_compelte", "on_complete"),
        ("streaming_option", "streaming_options"),
        ("temprature", "temperature"),
        ("respone_format", "response_format"),
    ],
)
async def test_unknown_keyword_is_refused_with_a_suggestion(
    fake_provider: FakeProvider, keyword: str, suggestion: str
) -> None:
    kwargs: dict[str, Any] = {keyword: 5}
    async with steer_client(fake_provider) as client:
        for call in (client.stream_with_usage, client.generate):
            with pytest.raises(ConfigurationError) as caught:
                await call("hi", "gpt-4o", **kwargs)
            message = str(caught.value)
            assert f"unknown keyword argument {keyword!r}" in message
            assert f"did you mean {suggestion!r}" in message
            if suggestion.startswith("on_") and call == client.generate:
                assert "takes no callbacks" in message and "extra_body" not in message
            else:
                assert "extra_body" in message
        with pytest.raises(ConfigurationError):
            client.stream("hi", "gpt-4o", **kwargs)
    assert fake_provider.requests == []


async def test_a_keyword_with_no_near_name_still_says_where_it_belongs(
    fake_provider: FakeProvider,
) -> None:
    async with steer_client(fake_provider) as client:
        with pytest.raises(ConfigurationError) as caught:
            await client.stream_with_usage("hi", "gpt-4o", logit_bias={"1": 2})  # type: ignore[call-overload]
    assert "did you mean" not in str(caught.value)
    assert "extra_body={'logit_bias': ...}" in str(caught.value)
    assert fake_provider.requests == []


async def test_callbacks_are_refused_by_generate(fake_provider: FakeProvider) -> None:
    async with steer_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match="generate\\(\\) takes no on_delta"):
            await client.generate("hi", "gpt-4o", on_delta=print)  # type: ignore[call-overload]
    assert fake_provider.requests == []


async def test_extra_body_and_headers_reach_the_provider(fake_provider: FakeProvider) -> None:
    async with steer_client(fake_provider) as client:
        await client.stream_with_usage(
            "hi",
            "gpt-4o",
            extra_body={"seed": 7, "logit_bias": {"50256": -100}},
            extra_headers={"X-Trace": "abc"},
        )
    [request] = fake_provider.requests
    assert request.json["seed"] == 7 and request.json["logit_bias"] == {"50256": -100}
    assert request.headers["x-trace"] == "abc"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extra_body": ["seed"]}, "extra_body must be a dict"),
        ({"extra_headers": {"x": 1}}, "extra_headers must map header names to string values"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"stop": [1]}, "stop must be a string or a list of strings"),
    ],
)
async def test_bad_values_are_refused(
    fake_provider: FakeProvider, kwargs: dict[str, Any], message: str
) -> None:
    async with steer_client(fake_provider) as client:
        with pytest.raises(ConfigurationError, match=message):
            await client.stream_with_usage("hi", "gpt-4o", **kwargs)
    assert fake_provider.requests == []
