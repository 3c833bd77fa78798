"""``client.stream()``: the answer's text as it arrives.

Two ways to use it, one object::

    async for chunk in client.stream("...", model=...):      # plain
        ...

    async with client.stream("...", model=...) as stream:    # guaranteed cleanup
        async for chunk in stream:
            ...
        print(stream.response.usage)

Both read the network from the caller's own task (no task switch per text). Neither is
an async generator: iteration is a class with ``__anext__``, so nothing is left for the
garbage collector's async-generator hooks, and no cancel scope of ours is open while
the caller holds a chunk (PEP 789).

Ending it:

* complete: ``response`` is the full response (usage, cost, finish reason);
* an error: one ``SteerError`` whose ``partial`` is the response so far (also
  ``response``); the connection is closed before the error is raised;
* leaving the ``async with`` block early (``break``, ``return``, an exception, a
  cancel): the connection is closed before the block is left, ``response`` is partial;
* ``break`` out of a plain ``async for``: the moment the loop lets go of its iterator
  (at once, on CPython, unless something else keeps a reference to the iterator
  returned by ``aiter()``) the socket is shut, the provider sees the close and
  ``response`` is the partial; the pool slot is released on the client's next call or
  close. ``async with`` is the way to make that moment explicit.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from ._checkpoints import caller_checkpoints
from ._errors import StreamNotFinishedError
from ._response import StreamingResponse
from ._session import Session

if TYPE_CHECKING:
    from ._client import SteerClient, _Call

__all__ = ["TextStream"]


class TextStream(abc.ABC):
    """What ``client.stream()`` returns: an async iterable of the answer's text, and an
    async context manager that yields itself and closes the connection when its block
    ends. ``response`` is the :class:`StreamingResponse` once the stream has ended
    (complete, or partial after an error, a cancel or an early exit).

    A stream is consumed once; iterate it again inside the same ``async with`` block to
    continue where a ``break`` left off."""

    @property
    @abc.abstractmethod
    def response(self) -> StreamingResponse[Any]:
        """The response once the stream has ended: complete, or partial after an error,
        a cancel or an early exit. Before that, ``StreamNotFinishedError``."""

    @property
    @abc.abstractmethod
    def ended(self) -> bool:
        """Whether the stream has ended (and ``response`` is set)."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[str]:
        """The text chunks of the answer (choice 0), in order."""

    @abc.abstractmethod
    async def __aenter__(self) -> TextStream:
        """Send the request and return this stream."""

    @abc.abstractmethod
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection (at once if the stream did not finish)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the stream now: for code that cannot use ``async with``."""


class _TextStream(TextStream):
    def __init__(self, client: SteerClient, call: _Call[Any]) -> None:
        self._client = client
        self._call = call
        self._session: Session | None = None
        self._entered = False
        self._iterated = False
        #: Texts of the last network read not handed out yet, and the next one's index:
        #: kept here, not in an iterator, so a second ``async for`` continues.
        self._texts: list[str] = []
        self._pos = 0
        #: An error from a read whose earlier texts are still being handed out.
        self._pending_error: Exception | None = None
        self._response: StreamingResponse[Any] | None = None

    @property
    def response(self) -> StreamingResponse[Any]:
        if self._response is None:
            raise StreamNotFinishedError(
                "the stream has not ended yet: iterate it to the end (or leave its "
                "async with block) before reading .response"
            )
        return self._response

    @property
    def ended(self) -> bool:
        return self._response is not None

    # -- the session ---------------------------------------------------------------

    async def _open(self) -> Session:
        self._client._require_trio()
        session = Session(self._client, self._call)
        self._session = session
        try:
            await session.open()
        except BaseException as exc:
            error = await session.failed(exc)  # noqa: ASYNC102 - shielded and bounded inside
            await session.close()  # noqa: ASYNC102 - shielded and bounded inside
            self._response = session.response
            if error is exc:
                raise
            # A CallbackError from on_error (it chains ``exc``); a Cancelled comes back as is.
            raise error  # noqa: ASYNC104 - failed() hands a Cancelled back unchanged
        return session

    def _settle(self, session: Session) -> None:
        self._response = session.response

    # -- async with ----------------------------------------------------------------

    async def __aenter__(self) -> TextStream:
        if self._entered or self._iterated:
            raise RuntimeError("a stream can be consumed once; call client.stream() again")
        self._entered = True
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        if session is None or session.closed:
            await trio.lowlevel.checkpoint()  # noqa: ASYNC102 - the checkpoint every __aexit__ owes
            return
        if not session.finished:
            if isinstance(exc, trio.Cancelled | KeyboardInterrupt):
                # The stream was cancelled: the caller hears of it through on_error.
                await session.failed(exc)  # noqa: ASYNC102 - shielded and bounded inside
            else:
                # Left early (break, return, the caller's own error): not a failure.
                await session.left()  # noqa: ASYNC102 - shielded and bounded inside
        await session.close()  # noqa: ASYNC102 - shielded and bounded inside
        self._settle(session)

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)

    # -- iteration -----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[str]:
        if self._entered:
            return _TextIterator(self, plain=False)
        if self._iterated:
            raise RuntimeError("a stream can be consumed once; call client.stream() again")
        self._iterated = True
        return _TextIterator(self, plain=True)


class _TextIterator:
    """The iterator of one ``async for``. Plain ``async for``: when the loop lets go of
    it unfinished, ``__del__`` shuts the connection (see the module docstring)."""

    __slots__ = ("_plain", "_stream")

    def __init__(self, stream: _TextStream, *, plain: bool) -> None:
        self._stream = stream
        self._plain = plain

    def __aiter__(self) -> _TextIterator:
        return self

    @caller_checkpoints
    async def __anext__(self) -> str:
        stream = self._stream
        texts = stream._texts
        pos = stream._pos
        if pos < len(texts):
            # A cancel point without a trip through the scheduler: a cancelled caller
            # stops here, not one network read later.
            await trio.lowlevel.checkpoint_if_cancelled()
            stream._pos = pos + 1
            return texts[pos]
        session = stream._session
        if session is None:
            session = await stream._open()
        elif session.closed:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        pending = stream._pending_error
        if pending is not None:
            # The texts read before it have all been handed out: now the error.
            stream._pending_error = None
            raise await self._failure(session, pending)
        texts.clear()
        try:
            while not texts:
                if not await session.step(texts):
                    await session.close()
                    stream._settle(session)
                    raise StopAsyncIteration
        except StopAsyncIteration:
            raise
        except Exception as exc:
            if not texts:
                raise await self._failure(session, exc)  # noqa: ASYNC102 - shielded and bounded inside
            # Texts that passed the callbacks before the failure reach the loop first,
            # as they reached the response: the error comes after them.
            stream._pending_error = exc
        except BaseException as exc:
            raise await self._failure(session, exc)  # noqa: ASYNC102,ASYNC104 - shielded and bounded inside; a Cancelled comes back unchanged
        stream._pos = 1
        return texts[0]

    @caller_checkpoints
    async def _failure(self, session: Session, exc: BaseException) -> BaseException:
        """End the stream with ``exc``; what the caller must see (see Session.failed)."""
        stream = self._stream
        error = await session.failed(exc)
        await session.close()
        stream._settle(session)
        return error

    def __del__(self) -> None:
        # Only for a plain `async for` (an `async with` block closes its own stream).
        if not self._plain:
            return
        try:
            stream = self._stream
            session = stream._session
            if session is not None and not session.closed:
                session.abandon()
                stream._settle(session)
        except Exception:
            pass
