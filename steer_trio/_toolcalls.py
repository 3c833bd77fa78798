"""Unified tool-call events from any provider's tool-call deltas (sans-IO).

OpenAI streams a call's arguments in fragments told apart by index; Anthropic streams
``input_json_delta`` pieces per ``tool_use`` block; xAI sends each call whole. The
parsers turn all three into ``tool_call`` deltas; this turns those into the same
``start`` / ``arguments`` / ``done`` events, parsing the arguments as they arrive with
the incremental JSON parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import StreamDelta, StreamToolCallEvent

if TYPE_CHECKING:  # loaded with the first tool call: a text-only stream never needs it
    from ._jsonstream import IncrementalJSONParser

__all__ = ["ToolCallAssembler"]


class _Call:
    __slots__ = ("choice_index", "failed", "id", "index", "name", "parser", "seen_args")

    def __init__(self, index: int, choice_index: int) -> None:
        self.index = index
        self.choice_index = choice_index
        self.id: str | None = None
        self.name: str | None = None
        from ._jsonstream import IncrementalJSONParser

        self.parser: IncrementalJSONParser = IncrementalJSONParser(allow_prose=False)
        self.failed: BaseException | None = None
        self.seen_args = False


class ToolCallAssembler:
    def __init__(self, *, track: bool = True) -> None:
        #: Without an on_tool_call callback there is nobody to tell: do nothing.
        self.track = track
        self._calls: dict[tuple[int, int], _Call] = {}

    def feed(self, delta: StreamDelta) -> list[StreamToolCallEvent]:
        if not self.track:
            return []
        key = (delta.choice_index, delta.tool_call_index or 0)
        call = self._calls.get(key)
        out: list[StreamToolCallEvent] = []
        if call is None:
            call = self._calls[key] = _Call(key[1], key[0])
        if call.id is None and (delta.tool_call_id or delta.tool_name):
            call.id = delta.tool_call_id
            call.name = delta.tool_name
            out.append(self._event(call, "start"))
        piece = delta.value
        if piece:
            call.seen_args = True
            if call.failed is None:
                from ._jsonstream import JSONStreamError

                try:
                    call.parser.feed(piece)
                except JSONStreamError as exc:
                    call.failed = exc
            out.append(
                self._event(
                    call, "arguments", arguments_delta=piece, partial_arguments=call.parser.partial
                )
            )
        return out

    def finish(self) -> list[StreamToolCallEvent]:
        """The end of the stream: a ``done`` event per call, in order."""
        out: list[StreamToolCallEvent] = []
        for key in sorted(self._calls):
            call = self._calls[key]
            arguments: Any = {}
            error = call.failed
            if call.seen_args and error is None:
                from ._jsonstream import JSONStreamError, JSONTruncatedError

                try:
                    arguments = call.parser.close()
                except (JSONStreamError, JSONTruncatedError) as exc:
                    error = exc
                    arguments = None
            out.append(self._event(call, "done", arguments=arguments, error=error))
        self._calls.clear()
        return out

    @staticmethod
    def _event(call: _Call, phase: str, **fields: Any) -> StreamToolCallEvent:
        return StreamToolCallEvent(
            phase=phase,
            tool_call_index=call.index,
            tool_call_id=call.id,
            name=call.name,
            choice_index=call.choice_index,
            **fields,
        )
