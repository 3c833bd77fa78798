"""The budget guard and cost projection (sans-IO).

An item may start only while what was spent, plus the projected cost of every item
still running, plus its own projection, stays within the budget. A projection is the
price of the item's estimated prompt tokens plus its ``max_tokens`` (or the expected
output when it has none): with ``max_tokens`` set, running items cannot together
cross the budget unless the provider counts more prompt tokens than estimated.
"""

from __future__ import annotations

from collections.abc import Hashable

from .._processing._pricing import ModelPrice, compute_cost
from .._usage import Usage

__all__ = ["BudgetGuard", "project_cost"]


def project_cost(
    price: ModelPrice | None, prompt_tokens: int, output_tokens: int, *, discount: float = 0.0
) -> float | None:
    """USD for ``prompt_tokens`` in and ``output_tokens`` out (None: no price known).

    ``discount`` is the share taken off (0.5 for the providers' batch engines)."""
    if price is None:
        return None
    cost = compute_cost(price, Usage.build(prompt_tokens, output_tokens)).total
    return cost * (1.0 - discount)


class BudgetGuard:
    """Spend so far, commitments of running items, and whether the budget tripped."""

    def __init__(self, max_cost_usd: float | None) -> None:
        if max_cost_usd is not None and not max_cost_usd >= 0:
            raise ValueError(f"max_cost_usd must be a number >= 0, got {max_cost_usd!r}")
        self.max_cost_usd = max_cost_usd
        self.spent = 0.0
        self._committed: dict[Hashable, float] = {}
        self._committed_total = 0.0
        #: True once an item could not start for lack of budget (or spend crossed it).
        self.tripped = False

    @property
    def committed(self) -> float:
        """Projected cost of the items running now."""
        return self._committed_total

    def admits(self, projected: float) -> bool:
        """Whether an item projected to cost ``projected`` may start; trips if not."""
        if self.max_cost_usd is None:
            return True
        if self.tripped:
            return False
        if self.spent + self._committed_total + projected > self.max_cost_usd + 1e-12:
            self.tripped = True
            return False
        return True

    def start(self, key: Hashable, projected: float) -> None:
        self._committed[key] = projected
        self._committed_total += projected

    def spend(self, key: Hashable, amount: float) -> None:
        """A running item spent ``amount`` (an attempt ended): it moves from the item's
        commitment to what was spent."""
        committed = self._committed.get(key)
        if committed is not None:
            moved = min(committed, amount)
            self._committed[key] = committed - moved
            self._committed_total = max(0.0, self._committed_total - moved)
        self.spent += amount
        if self.max_cost_usd is not None and self.spent > self.max_cost_usd + 1e-12:
            self.tripped = True

    def finish(self, key: Hashable) -> None:
        """The item ended: what it had not spent of its projection is released."""
        left = self._committed.pop(key, 0.0)
        self._committed_total = max(0.0, self._committed_total - left)
        if not self._committed:
            self._committed_total = 0.0  # no drift from float sums
