"""A marker for internal coroutines that need not be checkpoints themselves.

trio's rule is that every public async function checkpoints (checked by flake8-async's
ASYNC910/911 in the lint session). The internal coroutines marked here run inside a
public call that already guarantees one: most on the per-event path, where the network
read that produced the batch is the checkpoint (a checkpoint per event would be a trip
through the scheduler for every delta), the rest on cleanup paths bounded by their
caller. The lint session exempts functions marked ``@caller_checkpoints``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["caller_checkpoints"]

F = TypeVar("F", bound=Callable[..., object])


def caller_checkpoints(function: F) -> F:
    """Mark ``function`` as covered by its caller's checkpoint (no runtime effect)."""
    return function
