"""Usage on every exit path, and its cost.

Provider-reported usage always wins. When there is none (a server without usage, a
stream cut before its usage chunk, a cancelled stream) and aggregation is on, we count
locally: the text pieces are already kept by the response builder, so each piece is
counted exactly once, and only when a count is actually needed (a stream whose
provider reports usage costs nothing here). A request the provider refused before any
answer (or that never connected) is not billed: no usage, cost 0.0, and the reason.

The event loop is never blocked by counting: a long text (over
``_INLINE_COUNT_CHARS``) is encoded in a worker thread, whole, so the count stays exact
(tiktoken merges across the pieces' boundaries).

The tiktoken encoding is loaded the first time a count is needed (in a background
thread), never at stream start, so it costs nothing on the time to first token. Only a
stream that completed waits for it (bounded); a cancelled or failed one never does:
if it is not loaded yet, that stream's estimate is by characters
(``source="character"``) and the load goes on in the background for the next stream.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterable
from typing import Any

import trio

from .._checkpoints import caller_checkpoints
from .._config import StreamingOptions
from .._usage import Usage
from . import _pricing, _tokens

__all__ = ["UsageAccounting", "get_price_table"]

#: Texts up to this many characters are counted inline (well under a millisecond of
#: tiktoken); longer ones in a worker thread.
_INLINE_COUNT_CHARS = 32_768
#: How long a cancelled or failed stream waits for a threaded count before settling
#: for the character estimate.
_ERROR_PATH_COUNT_WITHIN = 1.0

_price_table: _pricing.PriceTable | None = None
#: A thread lock, not a trio one: module state outlives any one trio.run.
_price_lock = threading.Lock()
_warned_models: set[str] = set()


def _load_price_table() -> _pricing.PriceTable:
    """Blocking: read the bundled table once (whichever thread gets here first)."""
    global _price_table
    with _price_lock:
        if _price_table is None:
            _price_table = _pricing.default_price_table()
        return _price_table


@caller_checkpoints  # called while settling a stream; loaded once, then a dict lookup
async def get_price_table() -> _pricing.PriceTable:
    """The default price table, read from disk once, off the event loop."""
    table = _price_table
    if table is not None:
        return table
    return await trio.to_thread.run_sync(_load_price_table, abandon_on_cancel=True)


def _set_price_table(table: _pricing.PriceTable | None) -> None:
    global _price_table
    with _price_lock:
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

    @caller_checkpoints
    async def _encoding(self, *, wait: bool) -> Any:
        name = self.encoding_name
        if name is None:
            return None
        if _tokens.is_encoding_cached(name):
            encoding = _tokens.cached_encoding(name)
            if encoding is None:
                _tokens.note_unavailable(name)
            return encoding
        if not wait:
            # No waiting on a cancelled or failed stream: estimate by characters now,
            # and let the encoding load in the background for the next stream.
            _tokens.start_loading(name)
            return None
        return await _tokens.load_encoding(name)

    @caller_checkpoints  # part of a stream's ending, whose caller checkpoints
    async def settle(
        self,
        response: Any,
        provider_usage: Usage | None,
        *,
        final: bool = True,
        cancelled: bool,
        billed: bool = True,
        reason: str | None = None,
    ) -> None:
        """Fill ``response.usage_info`` and the cost fields.

        ``billed=False`` is for a request that produced nothing the provider bills: it
        refused it (HTTP 4xx/5xx) before any answer, or it never connected. Then usage
        is None, the cost 0.0, and ``cost_reason`` says "not billed: " + ``reason``.
        """
        if not billed:
            response.usage_info = None
            response.cost_usd = 0.0
            response.cost_breakdown = None
            response.cost_reason = f"not billed: {reason or 'the request got no answer'}"
            return
        usage = provider_usage if final else None
        if usage is None and self.options.enable_usage_aggregation:
            # Only a stream that completed may wait for the tokenizer: an error or a
            # cancellation is reported without delay.
            settled = not cancelled and not response.is_partial
            usage = _with_provider_prompt(
                await self._estimate(response, settled=settled), provider_usage
            )
        elif usage is None:
            usage = provider_usage
        response.usage_info = usage
        if usage is None:
            response.cost_reason = "no usage: the provider reported none and aggregation is off"
            return
        self._price(response, usage, await get_price_table())

    def _price(self, response: Any, usage: Usage, table: _pricing.PriceTable) -> None:
        """The cost of ``usage``: the answering model's price, else the requested one's."""
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
            estimate = _count(self.messages, list(_generated_texts(response)), encoding)
            usage = _with_provider_prompt(estimate, provider_usage)
        elif usage is None:
            usage = provider_usage
        response.usage_info = usage
        if usage is None:
            response.cost_reason = "no usage: the provider reported none and aggregation is off"
            return
        if _price_table is None:
            response.cost_reason = "the price table was not loaded yet"
            return
        self._price(response, usage, _price_table)

    async def _estimate(self, response: Any, *, settled: bool) -> Usage:
        encoding = await self._encoding(wait=settled)
        generated = list(_generated_texts(response))
        prompt = (t for m in self.messages for t in _tokens.message_texts(m))
        size = sum(map(len, generated)) + sum(map(len, prompt))
        if encoding is None or size <= _INLINE_COUNT_CHARS:
            return _count(self.messages, generated, encoding)
        # A long text: encode it whole in a worker thread (exact, and the loop runs on).
        # A failed or cancelled stream waits only so long, then estimates by characters.
        with trio.move_on_after(math.inf if settled else _ERROR_PATH_COUNT_WITHIN):
            return await trio.to_thread.run_sync(
                _count, self.messages, generated, encoding, abandon_on_cancel=True
            )
        return _count(self.messages, generated, None)


def _with_provider_prompt(estimate: Usage, provider_usage: Usage | None) -> Usage:
    """The provider's prompt count is exact even when its output count is not final:
    keep it, with the larger of the two output counts, marked estimated."""
    if provider_usage is None:
        return estimate
    return Usage.build(
        provider_usage.prompt_tokens,
        max(estimate.completion_tokens, provider_usage.completion_tokens),
        cache_read_tokens=provider_usage.cache_read_tokens,
        cache_write_tokens=provider_usage.cache_write_tokens,
        cache_write_1h_tokens=provider_usage.cache_write_1h_tokens,
        is_estimated=True,
        source=estimate.source,
    )


def _generated_texts(response: Any) -> Iterable[str]:
    """Everything the model generated costs tokens: answer, reasoning, refusals and
    tool-call arguments (with their names), for every choice."""
    yield response.text
    for choice in response.choices:
        if choice.index != 0:
            yield choice.text  # response.text is choice 0's
        yield choice.reasoning
        yield choice.refusal or ""
        for call in choice.tool_calls:
            yield (call.name or "") + call.arguments


def _count(messages: list[dict[str, Any]], generated: list[str], encoding: Any) -> Usage:
    """Blocking (tiktoken): the estimated usage of a prompt and its generated texts."""
    counter = _tokens.make_counter(encoding)
    for text in generated:
        counter.feed(text)
    prompt, _ = _tokens.count_prompt_tokens(messages, encoding=encoding)
    return _tokens.estimate_usage(prompt, counter.count, counter.source)
