"""Scenarios are data: what the fake provider streams, how fast, and how it fails."""

from __future__ import annotations

import os
from typing import Literal

import attrs

__all__ = ["Fault", "FaultKind", "Replay", "Scenario", "ToolCallSpec"]

FaultKind = Literal[
    "http_error",
    "reset_before_headers",
    "stall_before_headers",
    "stall_after",
    "drop_after",
    "reset_after",
    "truncate_after",
    "in_stream_error",
    "keepalive_trickle",
    "json_body_instead_of_stream",
    "events_after_done",
    "malformed_json_after",
    "content_length_short",
]
Chunking = Literal["event", "random", "whole"]


@attrs.define
class ToolCallSpec:
    """A tool call for a ``Scenario`` to stream: its ``id``, ``name`` and ``arguments``."""

    id: str
    name: str
    #: The JSON text of the arguments; streamed in pieces (whole for xAI).
    arguments: str = "{}"


@attrs.define
class Fault:
    """One way to fail. ``after_events`` counts content events already sent."""

    kind: FaultKind
    status: int = 500
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes | str = b""
    after_events: int = 0
    #: Stall or trickle duration (trio.sleep: runs on an autojump clock in tests).
    seconds: float = 0.0
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@attrs.define
class Scenario:
    """A response to serve. Lists give exact deltas; a string is split into words."""

    text: str | list[str] = "Hello from the fake provider."
    reasoning: str | list[str] | None = None
    refusal: str | list[str] | None = None
    tool_calls: list[ToolCallSpec] = attrs.field(factory=list)
    #: None: derived from the request (a simple deterministic count).
    prompt_tokens: int | None = None
    #: None: the number of deltas sent.
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    #: False: never send usage (like an OpenAI-compatible server without usage).
    send_usage: bool = True
    #: Default: stop / tool_calls (OpenAI, xAI); end_turn / tool_use (Anthropic).
    finish_reason: str | None = None
    #: The model echoed in the stream; default: the request's model.
    model: str | None = None
    #: Seconds between events.
    delay: float = 0.0
    #: "event": one write per event; "random": cut at random places (``seed``);
    #: "whole": one write, up to and including an in-stream fault (an error event, a
    #: malformed line, a truncation): the client reads them in one network read.
    chunking: Chunking = "event"
    seed: int = 0
    #: n>1: choices interleaved, as OpenAI sends them.
    choices: int = 1
    fault: Fault | None = None
    keepalive_comments: bool = False
    line_ending: Literal["\n", "\r\n", "\r"] = "\n"
    bom: bool = False
    #: Extra response headers (rate limits such as ``x-ratelimit-*``).
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class Replay:
    """Serve a recorded ``.sse`` body as it was, re-chunked."""

    path: str | os.PathLike[str]
    chunking: Chunking = "event"
    seed: int = 0
    delay: float = 0.0
