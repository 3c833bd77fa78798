"""A nursery for tasks that run while a block of the caller's runs.

``async with open_task_nursery() as nursery:`` starts the tasks the block needs (a
server, a runner, a display); when the block ends, ``stop`` is called (by default it
cancels them) and the nursery waits for them. What comes out is one exception, never
a group of ours: a task's, or the block's own as it was raised (see ``_groups``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import trio

from ._groups import collapse_group

__all__ = ["open_task_nursery"]


def _cancel_tasks(nursery: trio.Nursery, raised: BaseException | None) -> None:
    nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def open_task_nursery(
    stop: Callable[[trio.Nursery, BaseException | None], None] = _cancel_tasks,
) -> AsyncIterator[trio.Nursery]:
    """The nursery, for the block to start its tasks in. ``stop(nursery, raised)`` runs
    when the block ends (``raised``: what the block raised, or None); leaving is a
    checkpoint."""
    error: BaseException | None = None
    raised: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:
                raised = exc
                raise
            finally:
                stop(nursery, raised)
    except BaseExceptionGroup as group:
        error = collapse_group(group, raised=raised)
    if error is not None:
        raise error  # outside the handler: its own cause and context stay its own
    await trio.lowlevel.checkpoint()
