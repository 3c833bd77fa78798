"""One usage model for every provider.

Every field means the same thing whatever the provider:

* ``prompt_tokens``: all input tokens, *including* cache reads and cache writes
  (Anthropic's ``input_tokens`` excludes them; we add them back).
* ``completion_tokens``: all output tokens, *including* reasoning tokens
  (xAI's ``completion_tokens`` excludes reasoning; we add it back).
* ``total_tokens``: ``prompt_tokens + completion_tokens``.
* ``cache_read_tokens`` / ``cache_write_tokens``: the parts of ``prompt_tokens`` read
  from / written to a prompt cache (``cache_write_1h_tokens`` is the part of the writes
  with a one-hour lifetime, billed at a higher rate).
* ``reasoning_tokens``: the part of ``completion_tokens`` spent thinking.

Sans-IO: pure data and arithmetic.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Usage", "UsageSource"]

UsageSource = Literal["provider", "tiktoken", "character"]


@attrs.define(slots=True, frozen=True)
class Usage:
    """Token usage, normalised so each field means the same for every provider.

    ``prompt_tokens`` counts every input token (cached ones included),
    ``completion_tokens`` every generated one (reasoning included); the details are
    parts of those. ``is_estimated`` and ``source`` say whether the provider reported
    it or it was counted locally (``"tiktoken"`` or ``"character"``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    is_estimated: bool = False
    source: UsageSource = "provider"

    @classmethod
    def build(
        cls,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        reasoning_tokens: int = 0,
        is_estimated: bool = False,
        source: UsageSource = "provider",
    ) -> Usage:
        """Make a usage whose total is derived, never trusted from elsewhere."""
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            reasoning_tokens=reasoning_tokens,
            is_estimated=is_estimated,
            source=source,
        )

    def to_dict(self) -> dict[str, Any]:
        """The seed's dict shape (prompt/completion/total first) plus the details."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "is_estimated": self.is_estimated,
            "source": self.source,
        }
