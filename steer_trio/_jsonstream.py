"""A sans-IO incremental JSON parser for text that arrives in pieces.

``feed(text)`` any number of times, then ``close()``. Each character is examined once
(runs of string characters, whitespace and numbers are consumed with regular
expressions), containers are built in place, and nothing is re-parsed, so the total
cost is linear in the output. The parser is iterative (an explicit stack): deep
nesting raises :class:`JSONNestingError` past ``max_depth``, never ``RecursionError``.

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
"""

from __future__ import annotations

import re
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
_LIT_RUN = re.compile(r"[a-zA-Z]+")
_HEX = re.compile(r"[0-9a-fA-F]{1,4}")
_START = re.compile(r"[{\[]")
_LITERALS: Final = {"true": True, "false": False, "null": None}
_ESCAPES: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_ESCAPES["t"] = "\t"

# Modes.
_PROSE, _VALUE, _KEY, _COLON, _AFTER, _STRING, _ESCAPE, _UNICODE, _NUMBER, _LITERAL, _DONE = range(
    11
)
_UNSET: Final = object()


class IncrementalJSONParser:
    """Parses JSON that arrives in pieces: ``feed(text)`` as it comes, ``close()`` at the end.

    ``partial`` is the value so far and ``feed`` returns the values that became final,
    each with its path. Policies (prose before the JSON, several values, truncation)
    are described in the module's docstring."""

    def __init__(
        self, *, allow_prose: bool = True, multiple: str = "first", max_depth: int = 10_000
    ) -> None:
        if multiple not in ("first", "error"):
            raise ValueError("multiple must be 'first' or 'error'")
        self.allow_prose = allow_prose
        self.multiple = multiple
        self.max_depth = max_depth
        self._raw: list[str] = []
        self._offset = 0  # characters consumed before the current piece
        self._mode = _PROSE if allow_prose else _VALUE
        self._root: Any = _UNSET
        # The open containers, and for each its path and (for objects) the current key.
        self._containers: list[dict[str, Any] | list[Any]] = []
        self._paths: list[tuple[str | int, ...]] = []
        self._keys: list[str | None] = []
        self._allow_close = False  # right after "{" or "[": a closing bracket is fine
        self._expect_key = False  # in an object after ",": a key must follow
        self._str: list[str] = []
        self._is_key = False
        self._has_surrogate = False
        self._hex = ""
        self._scalar = ""  # a number or literal in progress
        self._shown = False  # an in-progress scalar is visible in its parent
        self._done_events: list[JSONPathDone] = []

    # -- public ------------------------------------------------------------------------

    @property
    def raw(self) -> str:
        """All the text fed so far."""
        if len(self._raw) > 1:
            self._raw[:] = ["".join(self._raw)]
        return self._raw[0] if self._raw else ""

    @property
    def done(self) -> bool:
        """Whether a complete JSON value has been read."""
        return self._mode == _DONE

    @property
    def partial(self) -> Any:
        """The value so far: complete keys, a partial string as its prefix, a number
        once it parses. The live object is returned: copy it to keep a snapshot.
        Cost: proportional to the string in progress, if any."""
        mode = self._mode
        if mode in (_STRING, _ESCAPE, _UNICODE) and not self._is_key:
            self._show(self._string_value())
        elif mode == _NUMBER:
            if _NUM_FULL.match(self._scalar):
                self._show(_number(self._scalar))
            else:
                self._hide()
        if self._root is _UNSET:
            return None
        return self._root

    def feed(self, text: str) -> list[JSONPathDone]:
        """Consume a piece; return the values that became final, children first."""
        if not text:
            return []
        self._raw.append(text)
        self._done_events = []
        try:
            self._run(text)
        finally:
            self._offset += len(text)
        return self._done_events

    def close(self) -> Any:
        """The final value. Raises if the text held no JSON, invalid JSON, or a cut one."""
        if self._mode == _NUMBER and not self._containers:
            self._finish_number(len(self.raw) - self._offset)
        elif self._mode == _LITERAL and not self._containers:
            self._finish_literal(len(self.raw) - self._offset)
        if self._mode == _DONE:
            return self._root
        if self._root is _UNSET and self._mode in (_PROSE, _VALUE) and not self._scalar:
            raise JSONStreamError("no JSON value found in the text", raw=self.raw, position=0)
        partial = self.partial
        raise JSONTruncatedError(
            "the JSON text ended before the value was complete (was the output cut at max tokens?)",
            partial=partial,
            raw=self.raw,
        )

    # -- the machine ---------------------------------------------------------------------

    def _error(self, message: str, pos: int) -> JSONStreamError:
        position = self._offset + pos
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
                    self._str.append(match.group())
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
                    if isinstance(container, dict):
                        self._mode = _KEY
                        self._expect_key = True
                    else:
                        self._mode = _VALUE
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
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos >= end:
                    break
                ch = text[pos]
                if ch == '"':
                    pos += 1
                    self._mode = _STRING
                    self._is_key = True
                    self._str = []
                    self._has_surrogate = False
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
                    self._scalar += match.group()
                    pos = match.end()
                if pos < end:
                    self._finish_number(pos)
                continue
            if mode == _LITERAL:
                match = _LIT_RUN.match(text, pos)
                if match:
                    self._scalar += match.group()
                    pos = match.end()
                    if not any(lit.startswith(self._scalar) for lit in _LITERALS):
                        raise self._error(_literal_message(self._scalar), pos)
                # No literal is a prefix of another: a whole one is final at once.
                if pos < end or self._scalar in _LITERALS:
                    self._finish_literal(pos)
                continue
            if mode == _ESCAPE:
                ch = text[pos]
                pos += 1
                if ch == "u":
                    self._mode = _UNICODE
                    self._hex = ""
                elif ch in _ESCAPES:
                    self._str.append(_ESCAPES[ch])
                    self._mode = _STRING
                else:
                    raise self._error(f"invalid escape '\\{ch}'", pos - 1)
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
                    self._str.append(chr(code))
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
                rest = text[pos:].strip(" \t\r\n`")
                if rest:
                    raise self._error("a second JSON value (or text) after the first", pos)
            break

    def _start_value(self, text: str, pos: int) -> int:
        ch = text[pos]
        if ch == "{" or ch == "[":
            depth = len(self._containers) + 1
            if depth > self.max_depth:
                raise JSONNestingError(
                    f"JSON nested deeper than max_depth={self.max_depth} at character "
                    f"{self._offset + pos}",
                    raw=self.raw,
                    position=self._offset + pos,
                )
            container: dict[str, Any] | list[Any] = {} if ch == "{" else []
            path = self._child_path()
            self._attach(container)
            self._containers.append(container)
            self._paths.append(path)
            self._keys.append(None)
            self._allow_close = True
            self._expect_key = False
            self._mode = _KEY if ch == "{" else _VALUE
            return pos + 1
        if ch == "]" and self._allow_close and isinstance(self._containers[-1], list):
            self._close_container()
            return pos + 1
        if not self._containers and self._root is _UNSET and self.allow_prose:
            raise self._error("internal: prose mode reached a scalar", pos)  # pragma: no cover
        self._allow_close = False
        if ch == '"':
            self._mode = _STRING
            self._is_key = False
            self._str = []
            self._has_surrogate = False
            return pos + 1
        if ch == "-" or "0" <= ch <= "9":
            self._mode = _NUMBER
            self._scalar = ""
            return pos
        if ch.isalpha():
            self._mode = _LITERAL
            self._scalar = ""
            return pos
        raise self._error(f"expected a JSON value, found {ch!r}", pos)

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
        if self._shown and self._containers and isinstance(self._containers[-1], list):
            path = (*self._paths[-1], len(self._containers[-1]) - 1)
        else:
            path = self._child_path()
        if self._shown:
            self._replace_shown(value)
        else:
            self._attach(value)
        self._shown = False
        self._done_events.append(JSONPathDone(path, value))
        self._after_value()

    def _after_value(self) -> None:
        if not self._containers:
            self._mode = _DONE
        else:
            self._mode = _AFTER

    def _close_container(self) -> None:
        container = self._containers.pop()
        path = self._paths.pop()
        self._keys.pop()
        self._allow_close = False
        self._done_events.append(JSONPathDone(path, container))
        self._after_value()

    def _end_string(self) -> None:
        value = self._string_value()
        self._str = []
        if self._is_key:
            self._keys[-1] = value
            self._mode = _COLON
            self._expect_key = False
            return
        self._complete_scalar(value)

    def _string_value(self) -> str:
        value = "".join(self._str)
        if len(self._str) > 1:
            self._str[:] = [value]
        if self._has_surrogate:
            # Escaped UTF-16 pairs become one character; lone surrogates stay (as json.loads).
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return value

    def _finish_number(self, pos: int) -> None:
        text = self._scalar
        if not _NUM_FULL.match(text):
            hint = " (Infinity is not JSON)" if text in ("-", "+") else ""
            raise self._error(f"invalid number {text!r}{hint}", pos)
        self._scalar = ""
        self._complete_scalar(_number(text))

    def _finish_literal(self, pos: int) -> None:
        word = self._scalar
        if word not in _LITERALS:
            raise self._error(_literal_message(word), pos)
        self._scalar = ""
        self._complete_scalar(_LITERALS[word])

    # -- partial display -----------------------------------------------------------------

    def _show(self, value: Any) -> None:
        if not self._containers:
            self._root = value
            self._shown = True
            return
        if self._shown:
            self._replace_shown(value)
        else:
            self._attach(value)
            self._shown = True

    def _replace_shown(self, value: Any) -> None:
        if not self._containers:
            self._root = value
            return
        container = self._containers[-1]
        if isinstance(container, dict):
            key = self._keys[-1]
            assert key is not None
            container[key] = value
        else:
            container[-1] = value

    def _hide(self) -> None:
        if not self._shown:
            return
        self._shown = False
        if not self._containers:
            self._root = _UNSET
            return
        container = self._containers[-1]
        if isinstance(container, dict):
            container.pop(self._keys[-1], None)  # type: ignore[arg-type]
        else:
            container.pop()


def _number(text: str) -> int | float:
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _literal_message(word: str) -> str:
    if word.startswith(("N", "I", "n", "i")) and word.lower().startswith(("nan", "inf")):
        return f"{word!r} is not JSON (NaN and Infinity are not allowed)"
    return f"invalid literal {word!r}"
