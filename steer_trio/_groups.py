"""Exception groups stop at the nurseries steer_trio opens: callers see one exception.

Only a group that one of *our* nurseries raised is collapsed, and only one level deep:
its direct children are what our tasks (and the block we ran inside the nursery)
raised. A group that the caller's own code raised is one of those children and comes
out untouched. Among the children, ``KeyboardInterrupt`` wins; ``trio.Cancelled``
(the echo of a cancellation) loses to anything else; when more than one real error is
left, the first is raised and the others are kept on its ``__context__`` chain, so a
traceback still shows them.
"""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["collapse_group"]


def collapse_group(
    group: BaseExceptionGroup[Any], *, raised: BaseException | None = None
) -> BaseException:
    """The one exception to raise instead of ``group``, a group from our own nursery.

    ``raised``: what the caller's block inside the nursery raised, if anything. trio
    hands the block's own exception group back as a copy (split off the nursery's
    cancellation); when the chosen exception is that copy, the caller's object itself
    comes back, so ``except`` clauses and identity checks see what was raised."""
    chosen = _collapse(group)
    if (
        raised is not None
        and chosen is not raised
        and isinstance(chosen, BaseExceptionGroup)
        and isinstance(raised, BaseExceptionGroup)
        and _leaves(chosen) == _leaves(raised)
    ):
        return raised
    return chosen


def _leaves(group: BaseExceptionGroup[Any]) -> list[int]:
    out: list[int] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(id(exc))
    return out


def _collapse(group: BaseExceptionGroup[Any]) -> BaseException:
    children = list(group.exceptions)
    interrupts = [e for e in children if isinstance(e, KeyboardInterrupt)]
    real = [e for e in children if not isinstance(e, trio.Cancelled | KeyboardInterrupt)]
    cancels = [e for e in children if isinstance(e, trio.Cancelled)]
    ordered = interrupts + real + cancels
    if not ordered:
        return group
    chosen = ordered[0]
    # Keep the other real errors visible, chained behind the chosen one.
    for other in interrupts + real:
        if not _in_chain(chosen, other):
            _append_context(chosen, other)
    return chosen


def _in_chain(head: BaseException | None, exc: BaseException) -> bool:
    seen: set[int] = set()
    while head is not None and id(head) not in seen:
        if head is exc:
            return True
        seen.add(id(head))
        head = head.__context__
    return False


def _append_context(head: BaseException, exc: BaseException) -> None:
    """Put ``exc`` at the end of ``head``'s context chain (cycle-safe)."""
    seen: set[int] = set()
    node = head
    while node.__context__ is not None and id(node) not in seen:
        seen.add(id(node))
        node = node.__context__
    if node is not exc:
        node.__context__ = exc
