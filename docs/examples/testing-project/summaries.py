"""Summaries of documents: streamed, each within a time budget, partial ones kept."""

from __future__ import annotations

import attrs

from steer_trio import SteerClient, SteerError, StreamingOptions


@attrs.frozen
class Summary:
    text: str
    complete: bool
    #: The error's class name when the summary was cut short.
    error: str | None = None
    total_tokens: int | None = None


async def summarise(
    client: SteerClient, document: str, *, model: str = "claude-haiku-4-5", seconds: float = 30.0
) -> Summary:
    """One summary of ``document``, or what arrived of it within ``seconds``."""
    try:
        response = await client.stream_with_usage(
            f"Summarise in one sentence: {document}",
            model=model,
            max_tokens=100,
            streaming_options=StreamingOptions(deadline=seconds),
        )
    except SteerError as exc:
        text = exc.partial.get_text() if exc.partial is not None else ""
        return Summary(text=text, complete=False, error=type(exc).__name__)
    usage = response.usage
    return Summary(
        text=response.get_text(),
        complete=response.finish_reason == "stop",
        total_tokens=usage["total_tokens"] if usage else None,
    )
