"""Token and cost estimates for requests that have not run yet.

Prompt tokens are counted with the model's tiktoken encoding when it has one (loaded
once, in a worker thread, by ``_tokens.load_encoding``) and by characters otherwise;
output tokens are the request's ``max_tokens``, or the expected output when it has
none. Costs come from the price table, with the batch engines' discount applied.
"""

from __future__ import annotations

from typing import Any

import trio

from .._processing import _tokens
from .._processing._pricing import PriceTable
from .._providers._routing import route_model
from ._budget import project_cost
from ._types import BatchRequest

__all__ = ["Estimator", "request_messages"]

#: Output assumed for a request without ``max_tokens`` (for TPM reservations and
#: cost projections); the reservation is corrected when the real usage arrives.
DEFAULT_EXPECTED_OUTPUT = 256


def request_messages(request: BatchRequest) -> list[dict[str, Any]]:
    if request.messages is not None:
        messages = [dict(m) for m in request.messages]
    else:
        messages = [{"role": "user", "content": request.prompt or ""}]
    if request.system is not None:
        messages.insert(0, {"role": "system", "content": request.system})
    return messages


class Estimator:
    """Prompt tokens, output tokens and projected cost of a request, synchronously,
    once :meth:`prepare` has loaded the encodings the models need."""

    def __init__(
        self,
        prices: PriceTable,
        *,
        expected_output_tokens: int = DEFAULT_EXPECTED_OUTPUT,
        discount: float = 0.0,
    ) -> None:
        self.prices = prices
        self.expected_output_tokens = expected_output_tokens
        self.discount = discount
        self._encodings: dict[str, Any] = {}

    async def prepare(self, model: str) -> None:
        """Load the model's encoding (once per process; off the event loop).

        Where it cannot be had (offline, no cached file), prompts are estimated by
        characters (the tokenizer says so once, on the ``steer_trio`` logger)."""
        name = _tokens.encoding_name_for_model(model)
        if name is None or name in self._encodings:
            await trio.lowlevel.checkpoint()
            return
        self._encodings[name] = await _tokens.load_encoding(name)

    def prepare_blocking(self, model: str) -> None:
        """:meth:`prepare` for code already in a worker thread (the dry run)."""
        name = _tokens.encoding_name_for_model(model)
        if name is not None and name not in self._encodings:
            if _tokens.is_encoding_cached(name):
                self._encodings[name] = _tokens.cached_encoding(name)
            else:
                try:
                    self._encodings[name] = _tokens._load_blocking(name)
                except Exception:
                    self._encodings[name] = None

    def prompt_tokens(self, request: BatchRequest, model: str) -> int:
        name = _tokens.encoding_name_for_model(model)
        encoding = self._encodings.get(name) if name is not None else None
        count, _ = _tokens.count_prompt_tokens(request_messages(request), encoding=encoding)
        return count

    def output_tokens(self, request: BatchRequest, default: int | None = None) -> int:
        """The request's ``max_tokens``, else ``default`` (the batch's), else the
        expected output."""
        return request.max_tokens or default or self.expected_output_tokens

    def cost(self, model: str, prompt_tokens: int, output_tokens: int) -> float | None:
        return project_cost(
            self.prices.lookup(_price_name(model)),
            prompt_tokens,
            output_tokens,
            discount=self.discount,
        )


def _price_name(model: str) -> str:
    try:
        return route_model(model)[1]
    except Exception:
        return model
