"""A sans-IO incremental JSON parser for text that arrives in pieces.

``feed(text)`` any number of times, then ``close()``. Each character is examined once
(runs of string characters, whitespace and numbers are consumed with regular
expressions), containers are built in place, and nothing is re-parsed, so the total
cost is linear in the output. The parser is iterative (an explicit stack): deep
nesting raises :class:`JSONNestingError` past ``max_depth``, never ``RecursionError``.
The text received is kept as a few large blocks (never one ``str`` per piece), for
``raw`` and the errors, or not at all when the caller keeps it (``raw_text=``). A long
string is not kept twice: its value is read back from the text when it ends.

What models actually write, and the policies:

* prose before the JSON, and a Markdown fence around it: with ``allow_prose=True``
  (the default) text is skipped until the first ``{`` or ``[``; only an object or an
  array starts the JSON. With ``allow_prose=False`` the text must be one JSON value
  (any kind) with optional whitespace.
* two values back to back: ``multiple="first"`` keeps the first and ignores the rest;
  ``multiple="error"`` raises. Whitespace and a closing fence after the value are fine
  under either policy.
* output cut short (max tokens): ``close()`` raises :class:`JSONTruncatedError` carrying
  the partial value and the raw text.
* duplicate keys: the last one wins (as ``json.loads``).
* ``NaN``/``Infinity`` are rejected: they are not JSON.
* invalid JSON raises :class:`JSONStreamError` whose ``position`` is the index of the
  first character that cannot continue a JSON text (``{"a": 01}``: the ``1``). The
  error is final: later ``feed``/``close`` calls raise it again.

The value so far (``partial``):

* It is a snapshot: the parser never changes a value it handed out. Each call copies
  the containers still open (finished values inside them are shared with later
  snapshots and with the final value, not copied, so change them only in a copy); a
  call when nothing visible changed returns the previous snapshot at no cost.
* A number, ``true``, ``false`` or ``null`` appears only once its end is seen: on the
  way to ``{"population": 2100000}`` the partial is ``{}``, never ``{"population": 21}``.
  A key appears with its value, never alone.
* A string in progress appears as the prefix received so far. Up to 64 Ki characters it
  is exact after every piece; past that it is refreshed whenever an eighth more has
  arrived, so that taking a partial after every piece stays linear in the text (the
  string shown may lag the text received by up to an eighth of its length).
* Before any value starts the partial is None; a bare number or literal at the root
  stays None until it ends (more digits may come).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Final

import attrs

__all__ = [
    "IncrementalJSONParser",
    "JSONNestingError",
    "JSONPathDone",
    "JSONStreamError",
    "JSONTruncatedError",
]


class JSONStreamError(ValueError):
    """The text is not valid JSON. ``position`` counts characters from the start."""

    def __init__(self, message: str, *, raw: str = "", position: int = 0) -> None:
        super().__init__(message)
        self.raw = raw
        self.position = position


class JSONNestingError(JSONStreamError):
    """The JSON nests deeper than the parser's ``max_depth``."""


class JSONTruncatedError(ValueError):
    """The text ended before the JSON did (e.g. the model hit max tokens)."""

    def __init__(self, message: str, *, partial: Any, raw: str) -> None:
        super().__init__(message)
        self.partial = partial
        self.raw = raw


@attrs.define(frozen=True, slots=True)
class JSONPathDone:
    """A value that can no longer change, with its path from the root."""

    path: tuple[str | int, ...]
    value: Any


_WS = re.compile(r"[ \t\n\r]*")
_STR_RUN = re.compile(r'[^"\\\x00-\x1f]+')
_NUM_RUN = re.compile(r"[-+0-9.eE]+")
_NUM_FULL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
# The longest start of a text that some number could continue (for error positions).
_NUM_PREFIX = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]*)?|\.|[eE][+-]?[0-9]*)?)?"
)
_LIT_RUN = re.compile(r"[a-zA-Z]+")
# Fast paths for a whole token inside one piece: a plain key with its colon, a number
# followed by something that cannot continue it, a literal.
_WHOLE_KEY = re.compile(r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
_WHOLE_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![-+0-9.eE])")
_WHOLE_LITERAL = re.compile(r"(?:true|false|null)(?![a-zA-Z])")
_HEX = re.compile(r"[0-9a-fA-F]{1,4}")
_START = re.compile(r"[{\[]")
_LITERALS: Final = {"true": True, "false": False, "null": None}
_LONGEST_LITERAL: Final = max(map(len, _LITERALS))
_ESCAPES: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_ESCAPES["t"] = "\t"
_AFTER_VALUE_OK: Final = " \t\r\n`"  # what may follow the value (a closing fence)

#: Strings up to this many characters are shown exactly in every partial; longer ones
#: are refreshed when an eighth more has arrived (linear total cost).
_EXACT_STRING = 1 << 16
#: Longer numbers are refused (Python's int() stops at 4300 digits; no model writes one).
_MAX_NUMBER = 5000
_LONG_RUN = re.compile(f"[-+0-9.eE]{{{_MAX_NUMBER + 1}}}")
#: Pieces are joined into a block every this many, blocks into one every this many.
_PACK = 255
#: A string in progress this long, and at least an eighth of the text so far, is read
#: back from the text when it ends instead of being kept twice (see ``_pack_string``).
_LONG_STRING = 1 << 16
#: Object keys are shared between objects (as ``json.loads`` does) up to this many
#: distinct keys: records repeat a few keys, and a key per record would cost a string
#: each.
_KEY_MEMO = 4096

#: Containers and strings that arrive whole within one piece are parsed by the C
#: decoder of the json module (at json.loads speed); those cut by the end of the piece,
#: or invalid, or holding a duplicate key, are read character by character instead.
#: Not tried past this depth: deep nesting is not what it is for.
_WHOLE_MAX_DEPTH = 64
_CLOSER: Final = {"{": "}", "[": "]", '"': '"'}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _dict_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        # Each occurrence of a key has its own done event: read it the slow way.
        raise ValueError("duplicate key")
    return value


_scan_whole: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_dict_without_duplicates
).scan_once  # type: ignore[attr-defined]

# Modes.
_PROSE, _VALUE, _KEY, _COLON, _AFTER, _STRING, _ESCAPE, _UNICODE, _NUMBER, _LITERAL, _DONE = range(
    11
)
_UNSET: Final = object()


class _Pieces:
    """Text appended in pieces, kept as a few blocks (never one ``str`` per piece).

    Appending is inlined by the parser (``tail.append``, then ``pack()`` past
    ``_PACK`` pieces): it runs once per piece fed."""

    __slots__ = ("_counted", "_counted_len", "_packed_len", "blocks", "tail")

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.tail: list[str] = []
        self._packed_len = 0
        # How many of the tail's pieces length() has added up, and their length: each
        # piece is measured once however often length() is asked.
        self._counted = 0
        self._counted_len = 0

    def pack(self) -> None:
        block = "".join(self.tail)
        self.tail.clear()
        self._counted = self._counted_len = 0
        self.blocks.append(block)
        self._packed_len += len(block)
        if len(self.blocks) > _PACK:
            self.blocks[:] = ["".join(self.blocks)]

    def length(self) -> int:
        tail = self.tail
        if self._counted < len(tail):
            self._counted_len += sum(map(len, itertools.islice(tail, self._counted, None)))
            self._counted = len(tail)
        return self._packed_len + self._counted_len

    def value(self) -> str:
        """The whole text (then kept as one block, so asking twice costs nothing)."""
        if self.tail:
            self.pack()
        if len(self.blocks) > 1:
            self.blocks[:] = ["".join(self.blocks)]
        return self.blocks[0] if self.blocks else ""

    def clear(self) -> None:
        self.blocks.clear()
        self.tail.clear()
        self._packed_len = self._counted = self._counted_len = 0


class IncrementalJSONParser:
    """Parses JSON that arrives in pieces: ``feed(text)`` as it comes, ``close()`` at the end.

    ``partial`` is the value so far and ``feed`` returns the values that became final,
    each with its path. Policies (prose before the JSON, several values, truncation)
    are described in the module's docstring.

    ``raw_text``: for a caller that keeps the text it feeds anyway (a response builder),
    a function returning that text (what was fed, optionally followed by more, which is
    ignored): the parser then keeps no copy of its own, and reads a long string's value
    back from it."""

    def __init__(
        self,
        *,
        allow_prose: bool = True,
        multiple: str = "first",
        max_depth: int = 10_000,
        raw_text: Callable[[], str] | None = None,
    ) -> None:
        if multiple not in ("first", "error"):
            raise ValueError("multiple must be 'first' or 'error'")
        self.allow_prose = allow_prose
        self.multiple = multiple
        self.max_depth = max_depth
        self._raw = _Pieces()
        self._raw_text = raw_text if raw_text is not None else self._raw.value
        self._keep_raw = raw_text is None
        self._fed = 0  # characters fed, the current piece included
        self._offset = 0  # characters consumed before the current piece
        self._mode = _PROSE if allow_prose else _VALUE
        self._root: Any = _UNSET
        # The open containers, and for each its path and (for objects) the current key.
        self._containers: list[dict[str, Any] | list[Any]] = []
        self._paths: list[tuple[str | int, ...]] = []
        self._keys: list[str | None] = []
        # Right after "{" or "[": a closing bracket is fine. Read only there, and reset
        # by the "," that must come before any later opening or closing is read.
        self._allow_close = False
        self._str = _Pieces()
        self._str_start = 0  # where the string in progress starts in the text
        # A long string is not kept: where it starts, to read it back from the text
        # when it ends (None: the string's pieces are kept).
        self._str_in_raw: int | None = None
        self._key_memo: dict[str, str] = {}
        self._is_key = False
        self._has_surrogate = False
        self._hex = ""
        self._scalar = ""  # a number or literal in progress (short: at most _MAX_NUMBER)
        self._scalar_start = 0  # its position, for errors
        self._done_events: list[JSONPathDone] = []
        self._error_raised: JSONStreamError | None = None
        # The last snapshot handed out, and whether something visible changed since.
        self._snapshot: Any = None
        self._dirty = False
        self._shown_str = ""  # the string in progress, as last shown
        self._shown_len = -1  # how much of it that was (-1: not shown yet)

    # -- public ------------------------------------------------------------------------

    @property
    def raw(self) -> str:
        """All the text fed so far."""
        text = self._raw_text()
        return text if len(text) == self._fed else text[: self._fed]

    @property
    def done(self) -> bool:
        """The value is complete (what follows is ignored, or an error under "error")."""
        return self._mode == _DONE

    @property
    def partial(self) -> Any:
        """The value so far, as a snapshot that never changes (see the module docs)."""
        if self._mode == _DONE:
            return self._root
        in_string = self._mode in (_STRING, _ESCAPE, _UNICODE) and not self._is_key
        if in_string:
            start = self._str_in_raw
            length = self._str.length() if start is None else self._fed - start
            shown = self._shown_len
            if shown < 0 or (
                length != shown and (length <= _EXACT_STRING or length - shown >= shown >> 3)
            ):
                self._shown_str = self._string_value()
                self._shown_len = length
                self._dirty = True
        if self._dirty:
            self._snapshot = self._build_snapshot(self._shown_str if in_string else _UNSET)
            self._dirty = False
        return self._snapshot

    def feed(self, text: str) -> list[JSONPathDone]:
        """Consume a piece; return the values that became final, children first."""
        if self._error_raised is not None:
            raise self._error_raised
        if not text:
            return []
        self._fed += len(text)
        if self._keep_raw:
            tail = self._raw.tail
            tail.append(text)
            if len(tail) > _PACK:
                self._raw.pack()
        self._done_events = []
        try:
            self._run(text)
        except JSONStreamError as exc:
            self._error_raised = exc
            raise
        finally:
            self._offset += len(text)
        return self._done_events

    def close(self) -> Any:
        """The final value. Raises if the text held no JSON, invalid JSON, or a cut one."""
        if self._error_raised is not None:
            raise self._error_raised
        try:
            if self._mode == _NUMBER and not self._containers:
                self._finish_number()
            elif self._mode == _LITERAL and not self._containers:
                self._finish_literal()
        except JSONStreamError as exc:
            self._error_raised = exc
            raise
        if self._mode == _DONE:
            return self._root
        if self._root is _UNSET and self._mode in (_PROSE, _VALUE):
            raise JSONStreamError(
                "no JSON value found in the text", raw=self.raw, position=self._offset
            )
        raise JSONTruncatedError(
            "the JSON text ended before the value was complete (was the output cut at max tokens?)",
            partial=self.partial,
            raw=self.raw,
        )

    # -- the machine ---------------------------------------------------------------------

    def _error(self, message: str, pos: int) -> JSONStreamError:
        return self._error_at(message, self._offset + pos)

    def _error_at(self, message: str, position: int) -> JSONStreamError:
        return JSONStreamError(
            f"{message} at character {position}", raw=self.raw, position=position
        )

    def _run(self, text: str) -> None:
        pos = 0
        end = len(text)
        while pos < end:
            mode = self._mode
            if mode == _STRING:
                match = _STR_RUN.match(text, pos)
                if match:
                    pieces = self._str.tail
                    pieces.append(match.group())
                    if len(pieces) > _PACK:
                        self._pack_string()
                    pos = match.end()
                    if pos >= end:
                        break
                ch = text[pos]
                if ch == '"':
                    pos += 1
                    self._end_string()
                elif ch == "\\":
                    pos += 1
                    self._mode = _ESCAPE
                else:
                    raise self._error(f"control character {ch!r} inside a string", pos)
                continue
            if mode == _AFTER:
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos >= end:
                    break
                ch = text[pos]
                container = self._containers[-1]
                if ch == ",":
                    pos += 1
                    self._mode = _KEY if isinstance(container, dict) else _VALUE
                    self._allow_close = False
                elif (ch == "}" and isinstance(container, dict)) or (
                    ch == "]" and isinstance(container, list)
                ):
                    pos += 1
                    self._close_container()
                else:
                    raise self._error(f"expected ',' or a closing bracket, found {ch!r}", pos)
                continue
            if mode == _VALUE:
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos >= end:
                    break
                pos = self._start_value(text, pos)
                continue
            if mode == _KEY:
                match = _WHOLE_KEY.match(text, pos)
                if match:  # the common case: a plain key and its colon, read at once
                    self._keys[-1] = self._shared_key(match.group(1))
                    self._mode = _VALUE
                    pos = match.end()
                    if pos < end:
                        pos = self._start_value(text, pos)
                    continue
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos >= end:
                    break
                ch = text[pos]
                if ch == '"':
                    pos += 1
                    self._start_string(self._offset + pos, is_key=True)
                elif ch == "}" and self._allow_close:
                    pos += 1
                    self._close_container()
                else:
                    raise self._error(f"expected a string key, found {ch!r}", pos)
                continue
            if mode == _COLON:
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos >= end:
                    break
                if text[pos] != ":":
                    raise self._error(f"expected ':' after a key, found {text[pos]!r}", pos)
                pos += 1
                self._mode = _VALUE
                continue
            if mode == _NUMBER:
                match = _NUM_RUN.match(text, pos)
                if match:
                    self._add_scalar(match.group())
                    pos = match.end()
                if pos < end:
                    self._finish_number()
                continue
            if mode == _LITERAL:
                match = _LIT_RUN.match(text, pos)
                if match:
                    self._add_scalar(match.group())
                    pos = match.end()
                    if not any(lit.startswith(self._scalar) for lit in _LITERALS):
                        raise self._literal_error(self._scalar)
                # No literal is a prefix of another: a whole one is final at once.
                if pos < end or self._scalar in _LITERALS:
                    self._finish_literal()
                continue
            if mode == _ESCAPE:
                ch = text[pos]
                if ch == "u":
                    self._mode = _UNICODE
                    self._hex = ""
                elif ch in _ESCAPES:
                    self._str.tail.append(_ESCAPES[ch])
                    if len(self._str.tail) > _PACK:
                        self._pack_string()
                    self._mode = _STRING
                else:
                    raise self._error(f"invalid escape '\\{ch}'", pos)
                pos += 1
                continue
            if mode == _UNICODE:
                match = _HEX.match(text, pos, min(end, pos + 4 - len(self._hex)))
                if not match:
                    raise self._error("invalid \\u escape: expected 4 hex digits", pos)
                self._hex += match.group()
                pos = match.end()
                if len(self._hex) == 4:
                    code = int(self._hex, 16)
                    if 0xD800 <= code <= 0xDFFF:
                        self._has_surrogate = True
                    self._str.tail.append(chr(code))
                    if len(self._str.tail) > _PACK:
                        self._pack_string()
                    self._mode = _STRING
                continue
            if mode == _PROSE:
                match = _START.search(text, pos)
                if not match:
                    break
                pos = self._start_value(text, match.start())
                continue
            # _DONE: only whitespace and a closing fence may follow under "error".
            if self.multiple == "error":
                first = end - len(text[pos:].lstrip(_AFTER_VALUE_OK))
                if first < end:
                    raise self._error("a second JSON value (or text) after the first", first)
            break

    def _start_value(self, text: str, pos: int) -> int:
        ch = text[pos]
        if (ch == "{" or ch == "[" or ch == '"') and len(self._containers) < _WHOLE_MAX_DEPTH:
            end = self._take_whole(text, pos)
            if end:
                return end
        if ch == "{" or ch == "[":
            depth = len(self._containers) + 1
            if depth > self.max_depth:
                position = self._offset + pos
                raise JSONNestingError(
                    f"JSON nested deeper than max_depth={self.max_depth} at character {position}",
                    raw=self.raw,
                    position=position,
                )
            container: dict[str, Any] | list[Any] = {} if ch == "{" else []
            path = self._child_path()
            self._attach(container)
            self._containers.append(container)
            self._paths.append(path)
            self._keys.append(None)
            self._allow_close = True
            self._mode = _KEY if ch == "{" else _VALUE
            return pos + 1
        if ch == "]" and self._allow_close and isinstance(self._containers[-1], list):
            self._close_container()
            return pos + 1
        if ch == '"':
            self._start_string(self._offset + pos + 1, is_key=False)
            return pos + 1
        if ch == "-" or "0" <= ch <= "9":
            # A number whose end is in this piece is read at once; one cut by the end of
            # the piece, or invalid, or too long, character by character.
            match = _WHOLE_NUMBER.match(text, pos)
            if match and match.end() < len(text) and match.end() - pos <= _MAX_NUMBER:
                try:
                    number = _number(match.group())
                except ValueError:  # past Python's digit limit: said below
                    pass
                else:
                    self._complete_scalar(number)
                    return match.end()
            self._start_scalar(_NUMBER, pos)
            return pos
        if "a" <= ch <= "z" or "A" <= ch <= "Z":
            match = _WHOLE_LITERAL.match(text, pos)
            if match:
                self._complete_scalar(_LITERALS[match.group()])
                return match.end()
            self._start_scalar(_LITERAL, pos)
            return pos
        raise self._error(f"expected a JSON value, found {ch!r}", pos)

    def _take_whole(self, text: str, pos: int) -> int:
        """Parse a whole container or string at ``pos`` in C; its end, or 0 if it is not
        whole in ``text`` (or not valid: the character-level reading says where)."""
        if text.find(_CLOSER[text[pos]], pos + 1) < 0:
            return 0  # cannot be whole: spare the attempt
        try:
            value, end = _scan_whole(text, pos)
        except (StopIteration, ValueError, RecursionError):
            return 0
        if end - pos > _MAX_NUMBER and _LONG_RUN.search(text, pos, end):
            return 0  # maybe a number past the limit: the character-level reading says
        path = self._child_path()
        if isinstance(value, str):
            self._done_events.append(JSONPathDone(path, value))
        else:
            events = _done_events(value, path, self.max_depth)
            if events is None:
                return 0  # too deep: the character-level reading raises the error
            self._done_events += events
        self._attach(value)
        self._after_value()
        return int(end)

    def _start_string(self, start: int, *, is_key: bool) -> None:
        self._mode = _STRING
        self._str_start = start
        self._is_key = is_key
        self._has_surrogate = False  # (the buffer was emptied when the last string ended)
        self._shown_len = -1

    def _start_scalar(self, mode: int, pos: int) -> None:
        self._mode = mode
        self._scalar = ""
        self._scalar_start = self._offset + pos

    def _add_scalar(self, piece: str) -> None:
        text = self._scalar = self._scalar + piece
        if self._mode == _LITERAL:
            if len(text) > _LONGEST_LITERAL:
                raise self._literal_error(text)
            return
        if len(text) > _MAX_NUMBER:
            raise self._error_at(
                f"number too long (over {_MAX_NUMBER} characters)", self._scalar_start
            )
        # Say at once where a number went wrong, not when it ends.
        valid = _NUM_PREFIX.match(text).end()  # type: ignore[union-attr]
        if valid < len(text):
            raise self._error_at(f"invalid number {text!r}", self._scalar_start + valid)

    def _child_path(self) -> tuple[str | int, ...]:
        if not self._containers:
            return ()
        container = self._containers[-1]
        if isinstance(container, dict):
            key = self._keys[-1]
            assert key is not None
            return (*self._paths[-1], key)
        return (*self._paths[-1], len(container))

    def _attach(self, value: Any) -> None:
        """Put a new value in its parent (or make it the root)."""
        self._dirty = True
        if not self._containers:
            self._root = value
            return
        container = self._containers[-1]
        if isinstance(container, dict):
            key = self._keys[-1]
            assert key is not None
            container[key] = value
        else:
            container.append(value)

    def _complete_scalar(self, value: Any) -> None:
        path = self._child_path()
        self._attach(value)
        self._done_events.append(JSONPathDone(path, value))
        self._after_value()

    def _after_value(self) -> None:
        self._mode = _AFTER if self._containers else _DONE

    def _close_container(self) -> None:
        container = self._containers.pop()
        path = self._paths.pop()
        self._keys.pop()
        self._done_events.append(JSONPathDone(path, container))
        self._after_value()

    def _pack_string(self) -> None:
        """The string in progress has _PACK more pieces. A long one (past _LONG_STRING,
        and an eighth of the text so far) stops being kept: it is read back from the text
        when it ends. Kept, it would be a second copy of the text until then, and a third
        while its pieces are joined. The eighth keeps this linear: each reading of the
        text costs at most eight times the string read."""
        buffer = self._str
        if self._str_in_raw is not None:
            buffer.clear()
            return
        buffer.pack()
        if buffer.length() >= max(_LONG_STRING, self._fed >> 3):
            buffer.clear()
            self._str_in_raw = self._str_start

    def _end_string(self) -> None:
        buffer = self._str
        if self._str_in_raw is not None or buffer.blocks:
            value = self._string_value(ended=True)
            buffer.clear()
            self._str_in_raw = None
        else:  # the common case: a short string, its pieces joined once
            value = "".join(buffer.tail)
            buffer.clear()
            if self._has_surrogate:
                value = _join_surrogates(value)
        if self._is_key:
            self._keys[-1] = self._shared_key(value)
            self._mode = _COLON
            return
        self._complete_scalar(value)

    def _shared_key(self, key: str) -> str:
        """The same string for the same key in every object (as ``json.loads``)."""
        memo = self._key_memo
        if len(memo) < _KEY_MEMO:
            return memo.setdefault(key, key)
        return memo.get(key, key)

    def _string_value(self, *, ended: bool = False) -> str:
        """The string in progress (or just ``ended``), escapes decoded."""
        start = self._str_in_raw
        if start is None:
            value = self._str.value()
            return _join_surrogates(value) if self._has_surrogate else value
        text = self._raw_text()
        if ended:  # the text holds its closing quote
            return str(scanstring(text, start)[0])
        # In progress: what was fed of it, less an escape not yet whole.
        end = self._fed
        if self._mode == _ESCAPE:
            end -= 1
        elif self._mode == _UNICODE:
            end -= 2 + len(self._hex)
        return str(scanstring(text[start:end] + '"', 0)[0])

    def _finish_number(self) -> None:
        text = self._scalar
        if not _NUM_FULL.match(text):
            bad = self._scalar_start + _NUM_PREFIX.match(text).end()  # type: ignore[union-attr]
            hint = " (Infinity is not JSON)" if text == "-" else ""
            raise self._error_at(f"invalid number {text!r}{hint}", bad)
        try:
            value = _number(text)
        except ValueError as exc:  # an integer past Python's digit limit
            raise self._error_at(f"number too long ({exc})", self._scalar_start) from None
        self._complete_scalar(value)

    def _finish_literal(self) -> None:
        word = self._scalar
        if word not in _LITERALS:
            raise self._literal_error(word)
        self._complete_scalar(_LITERALS[word])

    def _literal_error(self, word: str) -> JSONStreamError:
        valid = 0
        while valid < len(word) and any(lit.startswith(word[: valid + 1]) for lit in _LITERALS):
            valid += 1
        return self._error_at(_literal_message(word), self._scalar_start + valid)

    # -- snapshots -----------------------------------------------------------------------

    def _build_snapshot(self, in_progress: Any) -> Any:
        """Copies of the open containers, innermost first, each holding its child's copy
        (or the value in progress); finished values are shared, not copied."""
        containers = self._containers
        if not containers:
            return None if in_progress is _UNSET else in_progress
        child = in_progress
        last = len(containers) - 1
        for level in range(last, -1, -1):
            live = containers[level]
            if isinstance(live, dict):
                snap_dict = dict(live)
                if child is not _UNSET:
                    snap_dict[self._keys[level]] = child  # type: ignore[index]
                child = snap_dict
            else:
                snap_list = list(live)
                if child is not _UNSET:
                    if level == last:
                        snap_list.append(child)
                    else:
                        snap_list[-1] = child
                child = snap_list
        return child


def _done_events(
    value: Any, path: tuple[str | int, ...], max_depth: int
) -> list[JSONPathDone] | None:
    """The done events of a whole value, as character-level reading would give them
    (children first, in text order); None if a container lies deeper than max_depth."""
    out: list[JSONPathDone] = []
    stack: list[tuple[Any, tuple[str | int, ...], bool]] = [(value, path, False)]
    while stack:
        node, where, expanded = stack.pop()
        if expanded or not isinstance(node, dict | list):
            out.append(JSONPathDone(where, node))
            continue
        if len(where) >= max_depth:
            return None
        stack.append((node, where, True))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((child, (*where, key), False) for key, child in reversed(list(items)))
    return out


def _join_surrogates(value: str) -> str:
    """Escaped UTF-16 pairs become one character; lone surrogates stay (as json.loads)."""
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _number(text: str) -> int | float:
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _literal_message(word: str) -> str:
    # Said the same however the text was cut: "N" alone is already not JSON.
    if word[:1] in ("N", "I"):
        return "NaN and Infinity are not JSON"
    return f"invalid literal {word!r}"
