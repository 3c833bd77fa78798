"""What goes into a batch and what comes out: requests, results, progress (sans-IO)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .._config import StreamingOptions
from .._errors import ConfigurationError, ProviderError, SteerError
from .._pipeline import CALLBACK_NAMES
from .._usage import Usage

__all__ = [
    "REQUEST_FIELDS",
    "BatchEvent",
    "BatchEventKind",
    "BatchInputError",
    "BatchProgress",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "BatchStopped",
]

BatchStatus = Literal["completed", "failed", "cancelled", "timed_out", "skipped"]
BatchEventKind = Literal["started", "finished", "limits", "cooldown", "budget"]
STATUSES: tuple[BatchStatus, ...] = ("completed", "failed", "cancelled", "timed_out", "skipped")

#: Request fields sent to the provider as they are (the client validates them).
PARAM_FIELDS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "n",
    "tools",
    "tool_choice",
    "response_format",
)
#: Every field a request line may have.
REQUEST_FIELDS = (
    "id",
    "prompt",
    "messages",
    "model",
    "provider",
    "system",
    "metadata",
    "params",
    *PARAM_FIELDS,
)
#: Longest id accepted (ids travel in file names of no one, but in every output line).
MAX_ID_LENGTH = 512


class BatchInputError(ConfigurationError):
    """A batch request that cannot be sent: the message says what to fix.

    In a batch it becomes a ``failed`` result (with the input line number when the
    request came from a file); it never stops the batch."""

    def __init__(self, message: str, *, line: int | None = None, item_id: str | None = None):
        super().__init__(message)
        self.line = line
        self.item_id = item_id


class BatchStopped(SteerError):
    """The error of an item the batch itself cancelled or skipped (the budget,
    fail-fast, ``cancel()``, the batch deadline), not the provider."""


@attrs.define(slots=True, kw_only=True)
class BatchRequest:
    """One prompt of a batch. ``id`` is yours: results carry it, resume is keyed by it."""

    id: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    #: None: the batch's model.
    model: str | None = None
    provider: str | None = None
    system: str | None = None
    #: Sent to the provider as keyword arguments (max_tokens, temperature, tools...).
    params: dict[str, Any] = attrs.field(factory=dict)
    #: Kept with the result, never sent.
    metadata: Any = None
    #: Per-item callbacks (on_delta, on_complete, ...), as ``stream_with_usage`` takes.
    callbacks: dict[str, Any] = attrs.field(factory=dict)
    #: Per-item options; None: the batch's.
    streaming_options: StreamingOptions | None = None
    #: The line of the input file it came from (1-based), if any.
    line: int | None = None

    @property
    def max_tokens(self) -> int | None:
        """The request's token cap, from its own options (None: the provider's default)."""
        value = self.params.get("max_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def prompt_or_messages(self) -> str | list[dict[str, Any]]:
        """What is sent: the messages if given, else the prompt."""
        if self.messages is not None:
            return self.messages
        assert self.prompt is not None
        return self.prompt

    def to_record(self) -> dict[str, Any]:
        """The JSON line form (as read from a file); callbacks and options stay behind."""
        out: dict[str, Any] = {"id": self.id}
        if self.messages is not None:
            out["messages"] = self.messages
        else:
            out["prompt"] = self.prompt
        for name in ("model", "provider", "system", "metadata"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.params)
        return out

    @classmethod
    def coerce(cls, item: Any, *, position: int, line: int | None = None) -> BatchRequest:
        """A request from what a caller passed: a BatchRequest, a dict, or a bare prompt
        string (its id is then its position, from 0)."""
        if isinstance(item, BatchRequest):
            return item
        if isinstance(item, str):
            if not item.strip():
                raise BatchInputError(f"request {position} is an empty prompt", line=line)
            return cls(id=str(position), prompt=item, line=line)
        if isinstance(item, Mapping):
            return cls.from_mapping(item, line=line)
        raise BatchInputError(
            f"request {position} must be a BatchRequest, a dict with 'id' and 'prompt' or "
            f"'messages', or a prompt string; got {type(item).__name__}",
            line=line,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, line: int | None = None) -> BatchRequest:
        """Validate one request dict (a JSONL line): raises :class:`BatchInputError`."""
        where = f"line {line}: " if line is not None else ""
        raw_id = data.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise BatchInputError(
                f"{where}every request needs an 'id' (a string or an integer), got {raw_id!r}",
                line=line,
            )
        item_id = str(raw_id)
        if not item_id.strip() or len(item_id) > MAX_ID_LENGTH:
            raise BatchInputError(
                f"{where}'id' must be 1 to {MAX_ID_LENGTH} characters, not blank", line=line
            )
        callbacks = {k: v for k, v in data.items() if k in CALLBACK_NAMES}
        options = data.get("streaming_options")
        unknown = sorted(
            set(data) - set(REQUEST_FIELDS) - set(CALLBACK_NAMES) - {"streaming_options"}
        )
        if unknown:
            raise BatchInputError(
                f"{where}request {item_id!r} has unknown field(s) {unknown}; allowed: "
                f"{', '.join(REQUEST_FIELDS)} (put anything else under 'metadata', or "
                "provider parameters under 'params')",
                line=line,
                item_id=item_id,
            )
        prompt, messages = data.get("prompt"), data.get("messages")
        if (prompt is None) == (messages is None):
            raise BatchInputError(
                f"{where}request {item_id!r} needs exactly one of 'prompt' (a string) or "
                "'messages' (a list of {'role': ..., 'content': ...})",
                line=line,
                item_id=item_id,
            )
        if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
            raise BatchInputError(
                f"{where}request {item_id!r}: 'prompt' must be a non-empty string",
                line=line,
                item_id=item_id,
            )
        if messages is not None and (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, Mapping) and "role" in m for m in messages)
        ):
            raise BatchInputError(
                f"{where}request {item_id!r}: 'messages' must be a non-empty list of "
                "{'role': ..., 'content': ...}",
                line=line,
                item_id=item_id,
            )
        for name in ("model", "provider", "system"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise BatchInputError(
                    f"{where}request {item_id!r}: {name!r} must be a non-empty string",
                    line=line,
                    item_id=item_id,
                )
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise BatchInputError(
                f"{where}request {item_id!r}: 'params' must be an object",
                line=line,
                item_id=item_id,
            )
        params = dict(params)
        for name in PARAM_FIELDS:
            if name in data:
                params[name] = data[name]
        if options is not None and not isinstance(options, StreamingOptions):
            raise BatchInputError(
                f"{where}request {item_id!r}: 'streaming_options' must be a StreamingOptions",
                line=line,
                item_id=item_id,
            )
        return cls(
            id=item_id,
            prompt=prompt,
            messages=[dict(m) for m in messages] if messages is not None else None,
            model=data.get("model"),
            provider=data.get("provider"),
            system=data.get("system"),
            params=params,
            metadata=data.get("metadata"),
            callbacks=callbacks,
            streaming_options=options,
            line=line,
        )


@attrs.define(slots=True, kw_only=True)
class BatchResult:
    """What became of one request.

    ``status``: ``completed``; ``failed`` (the error says why: a provider error, bad
    input); ``cancelled`` (the batch was cancelled, fail-fast, or the budget with
    ``on_budget="cancel"``); ``timed_out`` (``item_deadline`` or the batch's
    ``deadline``); ``skipped`` (never started: the budget, fail-fast, or the batch
    ended first). ``partial`` is True when the item started but did not finish: its
    text and usage are what arrived (the usage estimated), and it was paid for.
    """

    id: str
    status: BatchStatus
    partial: bool = False
    text: str = ""
    #: The parsed JSON answer (JSON mode / response_format), or None.
    json: Any = None
    tool_calls: list[dict[str, Any]] = attrs.field(factory=list)
    usage: Usage | None = None
    cost_usd: float | None = None
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    #: The exception, in process; ``error_type``/``error_message`` survive a file.
    error: BaseException | None = None
    error_type: str | None = None
    error_message: str | None = None
    #: Requests sent for this item (retries included).
    attempts: int = 0
    latency_ms: float | None = None
    time_to_first_token_ms: float | None = None
    metadata: Any = None
    #: The input line (1-based) the request came from, if from a file.
    line: int | None = None
    #: Its position in the input (0-based), for ``ordered=True``.
    index: int | None = None
    #: The response (or the error's partial), in process only.
    response: Any = attrs.field(default=None, repr=False, eq=False)

    @property
    def ok(self) -> bool:
        """Whether the item completed."""
        return self.status == "completed"

    @property
    def retryable(self) -> bool:
        """Whether a later attempt may succeed (a transient error, a timeout, a cancel)."""
        return bool(getattr(self.error, "is_retryable", False))

    def to_record(self) -> dict[str, Any]:
        """One JSON-able dict (a line of the output file)."""
        error: dict[str, Any] | None = None
        if self.error_type is not None or self.error is not None:
            error = {"type": self.error_type, "message": self.error_message}
            if isinstance(self.error, ProviderError):
                error["status_code"] = self.error.status_code
            if isinstance(self.error, SteerError):
                error["retryable"] = self.error.is_retryable
        record: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "partial": self.partial,
            "text": self.text,
            "json": self.json,
            "tool_calls": self.tool_calls,
            "usage": None if self.usage is None else self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "model": self.model,
            "provider": self.provider,
            "finish_reason": self.finish_reason,
            "error": error,
            "attempts": self.attempts,
            "latency_ms": _round(self.latency_ms),
            "time_to_first_token_ms": _round(self.time_to_first_token_ms),
        }
        if self.metadata is not None:
            record["metadata"] = self.metadata
        if self.line is not None:
            record["line"] = self.line
        return record

    def to_json(self) -> str:
        """The record as one line of JSON (what the batch command writes)."""
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BatchResult:
        """Read back what ``to_record`` wrote (a file line, or a worker's message)."""
        usage_data = record.get("usage")
        usage = None
        if isinstance(usage_data, Mapping):
            usage = Usage.build(
                int(usage_data.get("prompt_tokens") or 0),
                int(usage_data.get("completion_tokens") or 0),
                cache_read_tokens=int(usage_data.get("cache_read_tokens") or 0),
                cache_write_tokens=int(usage_data.get("cache_write_tokens") or 0),
                reasoning_tokens=int(usage_data.get("reasoning_tokens") or 0),
                is_estimated=bool(usage_data.get("is_estimated")),
                source=usage_data.get("source") or "provider",
            )
        error = record.get("error") if isinstance(record.get("error"), Mapping) else None
        status = record.get("status")
        return cls(
            id=str(record.get("id")),
            status=status if status in STATUSES else "failed",
            partial=bool(record.get("partial")),
            text=record.get("text") or "",
            json=record.get("json"),
            tool_calls=list(record.get("tool_calls") or []),
            usage=usage,
            cost_usd=record.get("cost_usd"),
            model=record.get("model"),
            provider=record.get("provider"),
            finish_reason=record.get("finish_reason"),
            error_type=error.get("type") if error else None,
            error_message=error.get("message") if error else None,
            attempts=int(record.get("attempts") or 0),
            latency_ms=record.get("latency_ms"),
            time_to_first_token_ms=record.get("time_to_first_token_ms"),
            metadata=record.get("metadata"),
            line=record.get("line"),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@attrs.define(slots=True, kw_only=True)
class BatchProgress:
    """The batch as it stands; updated in place while it runs (read it for a custom UI)."""

    #: Requests in the input, when known (the CLI counts the file first).
    total: int | None = None
    started: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    timed_out: int = 0
    skipped: int = 0
    #: Items sent back to the queue (``retry_failed``), and requests retried in place.
    requeued: int = 0
    retries: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    #: Seconds since the batch started (trio's clock).
    elapsed: float = 0.0
    #: The limits in force: {"concurrency": 50, "requests_per_minute": ..., ...} and,
    #: per provider/model, what was learned from its headers.
    limits: dict[str, Any] = attrs.field(factory=dict)
    #: Seconds left of a rate-limit cooldown (0 when none).
    cooldown: float = 0.0
    budget_tripped: bool = False

    @property
    def finished(self) -> int:
        """Items that ended, whatever their status."""
        return self.completed + self.failed + self.cancelled + self.timed_out + self.skipped

    @property
    def tokens(self) -> int:
        """Tokens used so far (prompt and completion, provider counts or estimates)."""
        return self.prompt_tokens + self.completion_tokens

    def per_second(self) -> float:
        """Items finished per second since the batch started."""
        done = self.completed + self.failed + self.cancelled + self.timed_out
        return done / self.elapsed if self.elapsed > 0 else 0.0

    def eta_seconds(self) -> float | None:
        """Seconds to go at the pace so far (None until it can be said)."""
        if self.total is None:
            return None
        rate = self.per_second()
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        return left / rate if rate > 0 else None

    def snapshot(self) -> BatchProgress:
        """A copy that no longer changes, to keep or hand to another task."""
        return attrs.evolve(self, limits=dict(self.limits))


@attrs.define(slots=True, kw_only=True)
class BatchEvent:
    """One batch-level event, for ``on_progress``.

    ``kind``: ``started`` (an item was sent), ``finished`` (``result`` is set),
    ``limits`` (limits learned from a provider's headers: ``detail``), ``cooldown``
    (a 429 paused new starts for ``detail["seconds"]``), ``budget`` (the budget
    stopped new starts)."""

    kind: BatchEventKind
    progress: BatchProgress
    item_id: str | None = None
    result: BatchResult | None = None
    detail: dict[str, Any] = attrs.field(factory=dict)
