"""Usage on every exit path, and its cost.

Provider-reported usage always wins. When there is none (a server without usage, a
stream cut before its usage chunk, a cancelled stream) and aggregation is on, we count
locally: the text pieces are already kept by the response builder, so each piece is
counted exactly once, and only when a count is actually needed (a stream whose
provider reports usage costs nothing here).

The tiktoken encoding is loaded the first time a count is needed (off the event loop,
bounded), never at stream start, so it costs nothing on the time to first token. A
cancelled stream does not wait for it: if it is not loaded yet, that stream's estimate
is by characters (``source="character"``) and the load starts in the background.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import trio

from .._config import StreamingOptions
from .._usage import Usage
from . import _pricing, _tokens

__all__ = ["UsageAccounting", "get_price_table"]

_price_table: _pricing.PriceTable | None = None
_price_lock: trio.Lock | None = None
_prefetching: set[str] = set()
_warned_models: set[str] = set()


async def get_price_table() -> _pricing.PriceTable:
    """The default price table, read from disk once, off the event loop."""
    global _price_table, _price_lock
    if _price_table is not None:
        return _price_table
    if _price_lock is None:
        _price_lock = trio.Lock()
    async with _price_lock:
        if _price_table is None:
            _price_table = await trio.to_thread.run_sync(_pricing.default_price_table)
    return _price_table


def _set_price_table(table: _pricing.PriceTable | None) -> None:
    global _price_table
    _price_table = table


class UsageAccounting:
    def __init__(
        self, *, model: str, options: StreamingOptions, messages: list[dict[str, Any]]
    ) -> None:
        self.model = model
        self.options = options
        self.messages = messages
        self.encoding_name = self._choose_encoding()

    def _choose_encoding(self) -> str | None:
        o = self.options
        if not o.enable_usage_aggregation or o.aggregator_type == "character":
            return None
        name = _tokens.encoding_name_for_model(self.model)
        if o.aggregator_type == "auto" and not o.prefer_tiktoken:
            return None
        if name is None and o.aggregator_type == "tiktoken" and self.model not in _warned_models:
            # Asked for, but impossible: say so once rather than silently doing otherwise.
            _warned_models.add(self.model)
            warnings.warn(
                f"steer_trio: aggregator_type='tiktoken' but {self.model!r} has no tiktoken "
                "encoding (tiktoken covers OpenAI models); local counts for it use the "
                "character estimate",
                RuntimeWarning,
                stacklevel=4,
            )
        return name

    def prefetch(self) -> None:
        """Start loading the encoding in the background (once per process)."""
        name = self.encoding_name
        if name is None or name in _prefetching or _tokens.is_encoding_cached(name):
            return
        _prefetching.add(name)

        async def load() -> None:
            await _tokens.load_encoding(name)

        trio.lowlevel.spawn_system_task(load, name=f"steer_trio-load-{name}")

    async def _encoding(self, *, cancelled: bool) -> Any:
        name = self.encoding_name
        if name is None:
            return None
        if _tokens.is_encoding_cached(name):
            return _tokens.cached_encoding(name)
        if cancelled:
            # No waiting on a cancelled path: estimate by characters now, and load the
            # encoding in the background for the next stream.
            self.prefetch()
            return None
        return await _tokens.load_encoding(name)

    async def settle(
        self,
        response: Any,
        provider_usage: Usage | None,
        *,
        final: bool = True,
        cancelled: bool,
    ) -> None:
        """Fill ``response.usage_info`` and the cost fields."""
        usage = provider_usage if final else None
        if usage is None and self.options.enable_usage_aggregation:
            usage = await self._estimate(response, cancelled=cancelled)
            if provider_usage is not None:
                # The provider's prompt count is exact even when its output count is not.
                usage = Usage.build(
                    provider_usage.prompt_tokens,
                    max(usage.completion_tokens, provider_usage.completion_tokens),
                    cache_read_tokens=provider_usage.cache_read_tokens,
                    cache_write_tokens=provider_usage.cache_write_tokens,
                    cache_write_1h_tokens=provider_usage.cache_write_1h_tokens,
                    is_estimated=True,
                    source=usage.source,
                )
        elif usage is None:
            usage = provider_usage
        response.usage_info = usage
        if usage is None:
            response.cost_reason = "no usage: the provider reported none and aggregation is off"
            return
        table = await get_price_table()
        result = table.cost(response.model or self.model, usage)
        if result.cost_usd is None and response.model != self.model:
            result = table.cost(self.model, usage)
        response.cost_usd = result.cost_usd
        response.cost_breakdown = result.breakdown
        response.cost_reason = result.reason

    def settle_nowait(self, response: Any, provider_usage: Usage | None, *, final: bool) -> None:
        """``settle`` without awaiting, for a stream the caller walked away from: the
        provider's usage if final, else an estimate with whatever is already loaded
        (the cached encoding, else characters); the cost if the price table is loaded."""
        usage = provider_usage if final else None
        if usage is None and self.options.enable_usage_aggregation:
            name = self.encoding_name
            encoding = (
                _tokens.cached_encoding(name)
                if name is not None and _tokens.is_encoding_cached(name)
                else None
            )
            usage = self._estimate_with(response, encoding)
            if provider_usage is not None:
                usage = Usage.build(
                    provider_usage.prompt_tokens,
                    max(usage.completion_tokens, provider_usage.completion_tokens),
                    cache_read_tokens=provider_usage.cache_read_tokens,
                    cache_write_tokens=provider_usage.cache_write_tokens,
                    cache_write_1h_tokens=provider_usage.cache_write_1h_tokens,
                    is_estimated=True,
                    source=usage.source,
                )
        elif usage is None:
            usage = provider_usage
        response.usage_info = usage
        if usage is None:
            response.cost_reason = "no usage: the provider reported none and aggregation is off"
            return
        table = _price_table
        if table is None:
            response.cost_reason = "the price table was not loaded yet"
            return
        result = table.cost(response.model or self.model, usage)
        if result.cost_usd is None and response.model != self.model:
            result = table.cost(self.model, usage)
        response.cost_usd = result.cost_usd
        response.cost_breakdown = result.breakdown
        response.cost_reason = result.reason

    async def _estimate(self, response: Any, *, cancelled: bool) -> Usage:
        encoding = await self._encoding(cancelled=cancelled)
        return self._estimate_with(response, encoding)

    def _estimate_with(self, response: Any, encoding: Any) -> Usage:
        counter = _tokens.make_counter(encoding)
        # Everything the model generated costs tokens: answer, reasoning, refusals and
        # tool-call arguments.
        counter.feed(response.text)
        for choice in response.choices:
            if choice.index != 0:
                counter.feed(choice.text)
            counter.feed(choice.reasoning)
            counter.feed(choice.refusal or "")
            for call in choice.tool_calls:
                counter.feed((call.name or "") + call.arguments)
        prompt, _ = _tokens.count_prompt_tokens(self.messages, encoding=encoding)
        completion = counter.count
        if not math.isfinite(completion):  # pragma: no cover - defensive
            completion = 0
        return _tokens.estimate_usage(prompt, completion, counter.source)
