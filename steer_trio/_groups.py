"""Exception groups stop at our own nurseries: callers see one exception."""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["unwrap_group"]


def unwrap_group(group: BaseExceptionGroup[Any]) -> BaseException:
    """The one exception a caller should see from a nursery we opened."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return leaves[0] if leaves else group
