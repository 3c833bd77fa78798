"""The keywords ``client.batch()`` and ``client.submit_batch()`` take, typed, and
their checks: an unknown keyword is a ``ConfigurationError`` that says what was
probably meant, raised before anything runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Literal, TypedDict

from .._config import StreamingOptions
from .._errors import ConfigurationError
from .._params import CALLBACK_KEYS, RequestParams, StreamParams
from .._retry import RetryPolicy
from ._types import BatchEvent

__all__ = [
    "BATCH_KEYS",
    "DEFAULT_RATE_LIMIT_RETRIES",
    "SUBMIT_KEYS",
    "BatchOptions",
    "OnBudget",
    "SubmitOptions",
    "check_option_keywords",
    "count_at_least",
    "positive_number",
]

#: At the budget: let running items finish (``"stop"``) or cancel them.
OnBudget = Literal["stop", "cancel"]
#: 429s an item may meet (each followed by the shared cooldown) before it fails.
DEFAULT_RATE_LIMIT_RETRIES = 10


class BatchOptions(StreamParams, total=False):
    """Everything ``client.batch()`` takes as keywords besides ``model``: the batch's
    own options (described, with their defaults, on :class:`~steer_trio.Batch`), and
    the request parameters and callbacks of ``stream_with_usage``, applied to every
    request (a request's own win)."""

    max_concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    learn_limits: bool
    item_deadline: float | None
    deadline: float | None
    max_cost_usd: float | None
    on_budget: OnBudget
    fail_fast: bool
    retry_failed: int
    rate_limit_retries: int
    ordered: bool
    streaming_options: StreamingOptions | None
    expected_output_tokens: int
    on_progress: Callable[[BatchEvent], object] | None
    report_skipped: bool
    buffer_size: int | None
    total: int | None
    limit_share: float
    retry_policy: RetryPolicy | None


class SubmitOptions(TypedDict, total=False):
    """Everything ``client.submit_batch()`` takes as keywords besides ``model``."""

    #: Force a provider (else the model's, as for a live request).
    provider: str | None
    #: Where the job ids are kept: a call that finds jobs there not fetched yet takes
    #: them up instead of submitting (a rerun never pays twice).
    state_file: str | os.PathLike[str] | None
    #: Seconds between polls in ``wait()`` (30).
    poll_interval: float
    #: Requests in one job at most (else the provider's limit).
    max_per_job: int | None


#: The keywords of each call, for suggestions.
BATCH_KEYS: tuple[str, ...] = tuple(BatchOptions.__annotations__)
SUBMIT_KEYS: tuple[str, ...] = tuple(SubmitOptions.__annotations__)
_PASSED_ON = frozenset(RequestParams.__annotations__) | frozenset(CALLBACK_KEYS)


def check_option_keywords(
    given: Collection[str], allowed: Collection[str], *, call: str, known: Collection[str] = ()
) -> None:
    """An unknown keyword is a mistake: say which, and what was probably meant (among
    ``allowed`` and the call's other keywords, ``known``)."""
    for key in given:
        if key in allowed:
            continue
        import difflib  # a mistake's suggestion only: kept off import

        names = sorted(set(allowed) | set(known))
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        if _PASSED_ON & set(allowed):
            hint += (
                " Provider-specific fields go in extra_body={...}; per-request options, "
                "in each request."
            )
        else:
            hint += f" It takes: {', '.join(names)}."
        raise ConfigurationError(f"{call}() got an unknown keyword argument {key!r}{hint}")


def positive_number(name: str, value: object, *, optional: bool = True) -> None:
    """``value`` must be a number > 0 (or None, when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        allowed = " or None" if optional else ""
        raise ConfigurationError(f"{name} must be a positive number{allowed}, got {value!r}")


def count_at_least(name: str, value: object, least: int) -> None:
    """``value`` must be an integer >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"{name} must be an integer >= {least}, got {value!r}")
