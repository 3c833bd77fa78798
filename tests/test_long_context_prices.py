"""Gemini's long-context tier: a whole request priced higher once its prompt is long."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steer_trio import ConfigurationError, ModelPrice
from steer_trio._processing._pricing import PriceTable, compute_cost
from steer_trio._usage import Usage

TIERED = ModelPrice(
    input=1.0,
    output=10.0,
    cached_input=0.1,
    long_context=ModelPrice(input=2.0, output=15.0, cached_input=0.2),
    long_context_above=1000,
)


def test_at_the_threshold_the_base_prices_apply() -> None:
    cost = compute_cost(TIERED, Usage.build(1000, 100))
    assert cost.input == pytest.approx(1000 * 1.0 / 1e6)
    assert cost.output == pytest.approx(100 * 10.0 / 1e6)


def test_above_it_the_whole_request_is_at_the_long_context_prices() -> None:
    cost = compute_cost(TIERED, Usage.build(1001, 100, cache_read_tokens=500))
    assert cost.input == pytest.approx(501 * 2.0 / 1e6)
    assert cost.cached_input == pytest.approx(500 * 0.2 / 1e6)
    assert cost.output == pytest.approx(100 * 15.0 / 1e6)


def test_cached_tokens_count_toward_the_threshold() -> None:
    # 400 uncached + 700 cached: the prompt is 1,100 tokens, over the threshold.
    cost = compute_cost(TIERED, Usage.build(1100, 0, cache_read_tokens=700))
    assert cost.input == pytest.approx(400 * 2.0 / 1e6)


def test_the_bundled_gemini_pro_prices_have_the_tier() -> None:
    table = PriceTable.bundled()
    price = table.lookup("gemini-2.5-pro")
    assert price is not None and price.long_context_above == 200_000
    assert price.long_context is not None
    assert (price.long_context.input, price.long_context.output) == (2.5, 15.0)
    below = table.cost("gemini-2.5-pro", Usage.build(200_000, 1000))
    above = table.cost("gemini-2.5-pro", Usage.build(200_001, 1000))
    assert below.cost_usd == pytest.approx(200_000 * 1.25 / 1e6 + 1000 * 10 / 1e6)
    assert above.cost_usd == pytest.approx(200_001 * 2.5 / 1e6 + 1000 * 15 / 1e6)
    flash = table.lookup("gemini-2.5-flash")
    assert flash is not None and flash.long_context is None


def test_a_price_file_can_give_a_tier(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "house-model": {
                        "input": 1,
                        "output": 2,
                        "source": "s",
                        "as_of": "2026-11",
                        "long_context": {"above_prompt_tokens": 10, "input": 3, "output": 4},
                    }
                }
            }
        )
    )
    table = PriceTable()
    table.load_file(path)
    price = table.lookup("house-model")
    assert price is not None and price.long_context is not None
    assert price.long_context == ModelPrice(input=3.0, output=4.0, source="s", as_of="2026-11")
    assert table.cost("house-model", Usage.build(11, 1)).cost_usd == pytest.approx((33 + 4) / 1e6)


@pytest.mark.parametrize(
    ("tier", "message"),
    [
        ({"input": 3, "output": 4}, "needs 'above_prompt_tokens'"),
        ({"above_prompt_tokens": -1, "input": 3, "output": 4}, "integer >= 0, got -1"),
        ({"above_prompt_tokens": True, "input": 3, "output": 4}, "integer >= 0, got True"),
        ({"above_prompt_tokens": 5, "output": 4}, "(long context)' needs 'input'"),
        ({"above_prompt_tokens": 5, "input": -3, "output": 4}, "must be a number >= 0"),
        ({"above_prompt_tokens": 5, "input": 3, "output": 4, "x": 1}, "unknown field(s) ['x']"),
        (
            {"above_prompt_tokens": 5, "input": 3, "output": 4, "long_context": {}},
            "long_context cannot nest",
        ),
        ([1, 2], "long_context must be a table"),
    ],
)
def test_a_bad_tier_in_a_price_file_says_what_to_fix(
    tmp_path: Path, tier: object, message: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"m": {"input": 1, "output": 2, "long_context": tier}}}))
    table = PriceTable()
    with pytest.raises(ConfigurationError) as info:
        table.load_file(path)
    assert message in str(info.value)
    assert table.lookup("m") is None  # a bad file changes nothing


def test_a_tier_needs_both_its_prices_and_its_threshold() -> None:
    with pytest.raises(ConfigurationError, match="needs both"):
        ModelPrice(input=1, output=1, long_context_above=5)
    with pytest.raises(ConfigurationError, match="needs both"):
        ModelPrice(input=1, output=1, long_context=ModelPrice(input=1, output=1))
    with pytest.raises(ConfigurationError, match="int >= 0"):
        ModelPrice(
            input=1, output=1, long_context=ModelPrice(input=1, output=1), long_context_above=-2
        )


def load(tmp_path: Path, document: dict[str, object]) -> PriceTable:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document))
    table = PriceTable()
    table.load_file(path)
    return table


def test_a_tier_takes_the_entry_s_source_and_date_or_the_file_s(tmp_path: Path) -> None:
    table = load(
        tmp_path,
        {
            "as_of": "2026-01",
            "models": {
                "bare": {
                    "input": 1,
                    "output": 2,
                    "long_context": {"above_prompt_tokens": 0, "input": 3, "output": 4},
                },
            },
        },
    )
    price = table.lookup("bare")
    assert price is not None and price.long_context_above == 0
    assert price.long_context == ModelPrice(input=3.0, output=4.0, source="", as_of="2026-01")
    # Above zero tokens: any prompt at all is at the tier.
    assert table.cost("bare", Usage.build(1, 0)).cost_usd == pytest.approx(3 / 1e6)


def test_a_bad_tier_is_named_with_its_file_and_model(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "m": {
                        "input": 1,
                        "output": 2,
                        "long_context": {"above_prompt_tokens": 1, "output": 4},
                    }
                }
            }
        )
    )
    with pytest.raises(ConfigurationError) as info:
        PriceTable().load_file(path)
    assert str(info.value) == f"{path}: model 'm (long context)' needs 'input' (USD per 1M)"


def test_a_tier_that_is_not_a_table_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"m": {"input": 1, "output": 2, "long_context": 5}}}))
    with pytest.raises(ConfigurationError) as info:
        PriceTable().load_file(path)
    assert str(info.value) == (
        f"{path}: model 'm' long_context must be a table of prices with 'above_prompt_tokens'"
    )
