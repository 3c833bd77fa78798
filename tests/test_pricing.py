"""The price table: lookups (exact, alias, dated, provider-prefixed), cost math, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import steer_trio
from steer_trio import ConfigurationError, ModelPrice, PriceTable, Usage
from steer_trio._processing import _pricing
from steer_trio._processing._pricing import CostBreakdown, compute_cost

PRICE = ModelPrice(input=2.0, output=8.0, cached_input=0.5, cache_write=2.5, cache_write_1h=4.0)


def small_table() -> PriceTable:
    return PriceTable(
        {"base-model": ModelPrice(input=1.0, output=2.0), "gpt-4o": ModelPrice(3.0, 4.0)},
        {"nickname": "base-model"},
    )


# -- lookups -----------------------------------------------------------------------------


def test_exact_and_case_insensitive() -> None:
    t = small_table()
    assert t.lookup("base-model") == ModelPrice(1.0, 2.0)
    assert t.lookup("  Base-Model ") == ModelPrice(1.0, 2.0)
    assert t.lookup("other") is None


def test_alias_resolves_to_its_target() -> None:
    t = small_table()
    assert t.lookup("nickname") == ModelPrice(1.0, 2.0)
    assert t.lookup("NICKNAME") == ModelPrice(1.0, 2.0)
    assert t.aliases() == {"nickname": "base-model"}


def test_alias_to_a_missing_model_has_no_price() -> None:
    t = PriceTable({}, {"ghost": "nowhere"})
    assert t.lookup("ghost") is None


@pytest.mark.parametrize(
    "model", ["gpt-4o-2099-01-01", "gpt-4o-20990101", "openai/gpt-4o", "openai/gpt-4o-2099-01-01"]
)
def test_dated_suffix_and_provider_prefix_are_stripped(model: str) -> None:
    assert small_table().lookup(model) == ModelPrice(3.0, 4.0)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini",  # another model: never borrows gpt-4o's price
        "gpt-4o-2099-01",  # not a date
        "gpt-4o-209901011",
        "gpt-4o-2099-01-01-x",  # the date is not at the end
        "openai/other/gpt-4o",  # only one prefix is stripped
    ],
)
def test_no_borrowed_prices(model: str) -> None:
    assert small_table().lookup(model) is None


def test_dated_alias_through_prefix() -> None:
    t = small_table()
    assert t.lookup("vendor/nickname-2024-01-01") == ModelPrice(1.0, 2.0)


def test_bundled_aliases_and_dated_names() -> None:
    t = PriceTable.bundled()
    assert t.lookup("gpt-4o-2024-08-06") is t.lookup("gpt-4o")
    assert t.lookup("chatgpt-4o-latest") is t.lookup("gpt-4o")
    assert t.lookup("claude-sonnet-4-5-20250929") is t.lookup("claude-sonnet-4-5")
    assert t.lookup("gpt-4o") is not None
    for alias, target in t.aliases().items():
        assert t.lookup(alias) is t.lookup(target) is not None, alias


def test_register_overrides_and_removes_an_alias() -> None:
    t = small_table()
    t.register("Nickname", ModelPrice(9.0, 9.0))
    assert t.lookup("nickname") == ModelPrice(9.0, 9.0)
    assert "nickname" not in t.aliases()
    with pytest.raises(ConfigurationError, match="ModelPrice"):
        t.register("x", {"input": 1, "output": 2})  # type: ignore[arg-type]


def test_models_are_sorted_pairs() -> None:
    assert [name for name, _ in small_table().models()] == ["base-model", "gpt-4o"]


# -- cost math -----------------------------------------------------------------------------


def test_cost_of_plain_usage() -> None:
    b = compute_cost(PRICE, Usage.build(1_000_000, 500_000))
    assert b == CostBreakdown(input=2.0, cached_input=0.0, cache_write=0.0, output=4.0)
    assert b.total == 6.0


def test_a_fully_cached_prompt_is_consistent() -> None:
    usage = Usage.build(1_000_000, 0, cache_read_tokens=1_000_000)
    b = compute_cost(PRICE, usage)
    assert b == CostBreakdown(input=0.0, cached_input=0.5, cache_write=0.0, output=0.0)
    result = PriceTable({"m": PRICE}).cost("m", usage)
    assert result.cost_usd == 0.5 and result.reason is None


def test_a_prompt_entirely_of_cache_reads_and_writes_is_consistent() -> None:
    usage = Usage.build(3_000_000, 0, cache_read_tokens=1_000_000, cache_write_tokens=2_000_000)
    b = compute_cost(PRICE, usage)
    assert (b.input, b.cached_input, b.cache_write) == (0.0, 0.5, 5.0)


def test_inconsistent_usage_has_no_cost_and_says_why() -> None:
    usage = Usage.build(100, 10, cache_read_tokens=80, cache_write_tokens=30, is_estimated=True)
    with pytest.raises(ValueError, match=r"cache reads \(80\) and writes \(30\) exceed prompt"):
        compute_cost(PRICE, usage)
    result = PriceTable({"m": PRICE}).cost("m", usage)
    assert result.cost_usd is None and result.breakdown is None
    assert result.reason is not None and "exceed prompt tokens (100)" in result.reason
    assert result.is_estimated is True


def test_one_hour_cache_writes_at_their_own_price() -> None:
    usage = Usage.build(3_000_000, 0, cache_write_tokens=3_000_000, cache_write_1h_tokens=1_000_000)
    assert compute_cost(PRICE, usage).cache_write == 2 * 2.5 + 1 * 4.0


def test_one_hour_writes_beyond_all_writes_are_capped() -> None:
    usage = Usage.build(2_000_000, 0, cache_write_tokens=1_000_000, cache_write_1h_tokens=5_000_000)
    assert compute_cost(PRICE, usage).cache_write == 4.0  # all 1M at the 1-hour price


def test_missing_cache_prices_fall_back_in_order() -> None:
    # No cache prices: reads and writes at the input price; 1h writes at the write price.
    plain = ModelPrice(input=2.0, output=8.0)
    usage = Usage.build(
        4_000_000,
        0,
        cache_read_tokens=1_000_000,
        cache_write_tokens=2_000_000,
        cache_write_1h_tokens=1_000_000,
    )
    assert compute_cost(plain, usage) == CostBreakdown(2.0, 2.0, 4.0, 0.0)
    writes_only = ModelPrice(input=2.0, output=8.0, cache_write=3.0)
    assert compute_cost(writes_only, usage).cache_write == 6.0


def test_unknown_model_reason_and_estimate_flag() -> None:
    result = small_table().cost("mystery", Usage.build(1, 1, is_estimated=True))
    assert result.cost_usd is None and result.breakdown is None
    assert result.reason == (
        "no price known for model 'mystery'; add one with "
        "steer_trio.register_price(...) or load_prices(path)"
    )
    assert result.is_estimated is True
    known = small_table().cost("base-model", Usage.build(1_000_000, 0))
    assert (known.cost_usd, known.reason, known.is_estimated) == (1.0, None, False)


# -- files -----------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_load_json_with_aliases_and_dates(tmp_path: Path) -> None:
    t = PriceTable()
    t.load_file(
        write(
            tmp_path,
            "p.json",
            {
                "as_of": "2026-01",
                "models": {
                    "My-Model": {"input": 1, "output": 2, "source": "https://example.com"},
                    "dated": {"input": 1, "output": 2, "as_of": "2026-05"},
                },
                "aliases": {"Short": "my-model"},
            },
        )
    )
    price = t.lookup("short")
    assert price == ModelPrice(1.0, 2.0, source="https://example.com", as_of="2026-01")
    assert isinstance(price.input, float)
    assert t.lookup("dated") == ModelPrice(1.0, 2.0, as_of="2026-05")


def test_load_toml_with_aliases(tmp_path: Path) -> None:
    t = PriceTable()
    t.load_file(
        write(
            tmp_path,
            "p.TOML",
            '[models."m-1"]\ninput = 0.5\noutput = 1\ncached_input = 0.1\n'
            '[aliases]\n"m-one" = "m-1"\n',
        )
    )
    assert t.lookup("m-one") == ModelPrice(0.5, 1.0, cached_input=0.1)


def test_an_alias_may_point_at_a_model_already_known(tmp_path: Path) -> None:
    t = small_table()
    t.load_file(write(tmp_path, "p.json", {"models": {}, "aliases": {"bm": "base-model"}}))
    assert t.lookup("bm") == ModelPrice(1.0, 2.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "is not valid"),
        ([1, 2], "expected a 'models' table"),
        ({"prices": {}}, "expected a 'models' table"),
        ({"models": []}, "expected a 'models' table"),
        ({"models": {"m": 3}}, "model 'm' must be a table of prices"),
        ({"models": {"m": {"output": 1}}}, "model 'm' needs 'input'"),
        ({"models": {"m": {"input": 1}}}, "model 'm' needs 'output'"),
        ({"models": {"m": {"input": -1, "output": 1}}}, "'input' must be a number >= 0, got -1"),
        ({"models": {"m": {"input": 1, "output": 1, "cached_input": -0.1}}}, "'cached_input'"),
        ({"models": {"m": {"input": True, "output": 1}}}, "must be a number >= 0, got True"),
        ({"models": {"m": {"input": "1", "output": 1}}}, "got '1'"),
        ({"models": {"m": {"input": 1, "output": 1, "outptu": 2}}}, r"unknown field\(s\)"),
        ({"models": {"m": {"input": 1, "output": 1}}, "aliases": ["m"]}, "'aliases' must map"),
        ({"models": {"m": {"input": 1, "output": 1}}, "aliases": {"a": "zz"}}, "has no price"),
    ],
)
def test_invalid_price_files_are_refused_whole(tmp_path: Path, data: Any, message: str) -> None:
    t = small_table()
    before = (t.models(), t.aliases())
    path = write(tmp_path, "bad.json", data)
    with pytest.raises(ConfigurationError, match=message) as info:
        t.load_file(path)
    assert str(path) in str(info.value)
    assert (t.models(), t.aliases()) == before  # nothing half-loaded


def test_a_valid_model_before_an_invalid_one_is_not_loaded(tmp_path: Path) -> None:
    t = PriceTable()
    data = {"models": {"good": {"input": 1, "output": 1}, "bad": {"input": 1}}}
    with pytest.raises(ConfigurationError):
        t.load_file(write(tmp_path, "p.json", data))
    assert t.lookup("good") is None


def test_unknown_fields_message_lists_the_allowed_ones(tmp_path: Path) -> None:
    data = {"models": {"m": {"input": 1, "output": 1, "extra": 1}}}
    with pytest.raises(ConfigurationError) as info:
        PriceTable().load_file(write(tmp_path, "p.json", data))
    assert "['extra']" in str(info.value)
    assert "input, output, cached_input, cache_write, cache_write_1h, source, as_of" in str(
        info.value
    )


def test_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read price file"):
        PriceTable().load_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigurationError, match="cannot read price file"):
        PriceTable().load_file(tmp_path)  # a folder
    latin = tmp_path / "p.toml"
    latin.write_bytes(b'[models."caf\xe9"]\ninput = 1\noutput = 1\n')
    with pytest.raises(ConfigurationError, match="is not valid"):
        PriceTable().load_file(latin)
    bad_toml = write(tmp_path, "q.toml", "[models\n")
    with pytest.raises(ConfigurationError, match="is not valid"):
        PriceTable().load_file(bad_toml)


# -- the process-wide table ---------------------------------------------------------------


@pytest.fixture
def fresh_default_table() -> Any:
    saved = _pricing._default
    _pricing._default = None
    yield
    _pricing._default = saved


def test_default_table_is_built_once(fresh_default_table: None) -> None:
    first = _pricing.default_price_table()
    assert first is _pricing.default_price_table()
    assert first.lookup("gpt-4o") == PriceTable.bundled().lookup("gpt-4o")


def test_register_price_and_load_prices_change_the_default_table(
    fresh_default_table: None, tmp_path: Path
) -> None:
    steer_trio.register_price("house-model", ModelPrice(5.0, 6.0))
    assert _pricing.default_price_table().lookup("house-model") == ModelPrice(5.0, 6.0)
    steer_trio.load_prices(
        write(tmp_path, "p.json", {"models": {"file-model": {"input": 7, "output": 8}}})
    )
    assert _pricing.default_price_table().lookup("file-model") == ModelPrice(7.0, 8.0)
    assert PriceTable.bundled().lookup("file-model") is None  # a fresh copy is untouched


def test_free_models_cost_zero_and_load(tmp_path: Path) -> None:
    t = PriceTable()
    t.load_file(write(tmp_path, "p.json", {"models": {"free": {"input": 0, "output": 0.0}}}))
    assert t.lookup("free") == ModelPrice(input=0.0, output=0.0)
    assert t.cost("free", Usage.build(1_000, 1_000)).cost_usd == 0.0


def test_only_the_provider_prefix_is_stripped() -> None:
    t = PriceTable({"org/model": ModelPrice(1.0, 2.0)})
    assert t.lookup("provider/org/model") == ModelPrice(1.0, 2.0)
    assert t.lookup("org/model") == ModelPrice(1.0, 2.0)


def test_an_estimated_usage_gives_an_estimated_cost() -> None:
    result = small_table().cost("base-model", Usage.build(1_000_000, 0, is_estimated=True))
    assert (result.cost_usd, result.is_estimated) == (1.0, True)


def test_register_refuses_anything_but_a_model_price() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^register\(\) takes a ModelPrice\(input=\.\.\., output=\.\.\.\)$",
    ):
        small_table().register("x", (1.0, 2.0))  # type: ignore[arg-type]


def test_an_invalid_bundled_file_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def joinpath(self, name: str) -> Broken:
            assert name == "prices.json"
            return self

        def read_text(self, encoding: str) -> str:
            return '{"models": {"m": {"input": 1}}}'

    monkeypatch.setattr(_pricing.resources, "files", lambda package: Broken())
    with pytest.raises(ConfigurationError, match="^bundled prices.json: model 'm' needs 'output'"):
        PriceTable.bundled()


def test_bundled_prices_are_ascii() -> None:
    path = Path(_pricing.__file__).with_name("prices.json")
    path.read_bytes().decode("ascii")  # raises if not: the file is read with utf-8


def test_every_price_field_is_read_from_a_file(tmp_path: Path) -> None:
    fields = {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75}
    fields["cache_write_1h"] = 6
    t = PriceTable()
    t.load_file(write(tmp_path, "p.json", {"models": {"m": fields}}))
    assert t.lookup("m") == ModelPrice(3.0, 15.0, 0.3, 3.75, 6.0)


def test_cost_result_carries_its_breakdown() -> None:
    result = small_table().cost("base-model", Usage.build(1_000_000, 1_000_000))
    assert result.breakdown == CostBreakdown(
        input=1.0, cached_input=0.0, cache_write=0.0, output=2.0
    )
    assert result.cost_usd == 3.0
