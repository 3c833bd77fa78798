"""The requests of a batch as they are pulled: one at a time, never all at once."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import trio

from ._types import BatchRequest

__all__ = ["BatchInput", "BatchRequests", "RequestSource"]

#: One request as a caller may give it: a ``BatchRequest``, a dict with ``id`` and
#: ``prompt`` or ``messages`` (and per-request options), or a bare prompt string (its
#: id is then its position, from 0).
BatchInput: TypeAlias = BatchRequest | str | Mapping[str, Any]
#: The requests of a batch: any iterable or async iterable (a generator, a list...).
BatchRequests: TypeAlias = Iterable[BatchInput] | AsyncIterable[BatchInput]

#: Closing an async source is shielded, and bounded by this.
_CLOSE_SECONDS = 5.0
_END = object()


class RequestSource:
    """An iterable or async iterable of requests as an async iterator: each
    ``__anext__`` pulls one item, and is a checkpoint. With ``coerce``, each item
    becomes a ``BatchRequest`` as it is pulled (``BatchInputError`` if it cannot).

    A class, not an async generator, so nothing is left half-run for the garbage
    collector; ``aclose()`` closes an async source that can be closed (a generator's
    ``finally`` runs then, not at some later collection)."""

    def __init__(self, items: BatchRequests, *, coerce: bool = False) -> None:
        self._async: AsyncIterator[Any] | None = None
        self._sync: Iterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self._coerce = coerce
        self._position = 0

    def __aiter__(self) -> RequestSource:
        return self

    async def __anext__(self) -> Any:
        if self._async is not None:
            raw = await anext(self._async)
        else:
            await trio.lowlevel.checkpoint()
            assert self._sync is not None
            raw = next(self._sync, _END)
            if raw is _END:
                raise StopAsyncIteration
        if self._coerce:
            raw = BatchRequest.coerce(raw, position=self._position)
        self._position += 1
        return raw

    async def aclose(self) -> None:
        """Close an async source (shielded and bounded); a sync one is left as it is."""
        close = getattr(self._async, "aclose", None)
        self._async = None
        self._sync = iter(())
        if close is None:
            await trio.lowlevel.checkpoint()
            return
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_SECONDS):
            await close()
