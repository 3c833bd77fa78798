"""The one usage model: derived totals, defaults, and the dict shape."""

from __future__ import annotations

import attrs
import pytest

from steer_trio import Usage


def test_build_derives_the_total_and_defaults_to_zero() -> None:
    usage = Usage.build(10, 5)
    assert attrs.asdict(usage) == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "reasoning_tokens": 0,
        "is_estimated": False,
        "source": "provider",
    }


def test_build_keeps_every_detail() -> None:
    usage = Usage.build(
        100,
        40,
        cache_read_tokens=30,
        cache_write_tokens=20,
        cache_write_1h_tokens=5,
        reasoning_tokens=25,
        is_estimated=True,
        source="tiktoken",
    )
    assert attrs.astuple(usage) == (100, 40, 140, 30, 20, 5, 25, True, "tiktoken")


def test_to_dict_has_the_seed_shape_first_then_the_details() -> None:
    usage = Usage.build(
        100,
        40,
        cache_read_tokens=30,
        cache_write_tokens=20,
        reasoning_tokens=25,
        source="character",
    )
    as_dict = usage.to_dict()
    assert list(as_dict.items()) == [
        ("prompt_tokens", 100),
        ("completion_tokens", 40),
        ("total_tokens", 140),
        ("cache_read_tokens", 30),
        ("cache_write_tokens", 20),
        ("reasoning_tokens", 25),
        ("is_estimated", False),
        ("source", "character"),
    ]


def test_usage_is_frozen_and_plain_defaults() -> None:
    usage = Usage()
    assert attrs.astuple(usage) == (0, 0, 0, 0, 0, 0, 0, False, "provider")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        usage.prompt_tokens = 1  # type: ignore[misc]
