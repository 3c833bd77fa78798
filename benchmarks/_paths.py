"""Every way of streaming that the benchmarks compare, as one coroutine each.

Each consumer reads one whole stream from the benchmark server and returns how many
content events (text deltas) it saw, so a run can check it read everything. The
``raw_*`` consumers are the floor each path is measured against: httpx2's
``aiter_lines`` plus ``json.loads`` on the same stream (same wire format), which is
what a hand-written client does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

#: Per path: the wire format it reads, and the raw consumer of that format it is
#: measured against.
FORMAT_OF = {
    "raw": "openai",
    "for": "openai",
    "with": "openai",
    "swu": "openai",
    "swu_delta": "openai",
    "swu_bg": "openai",
    "raw_responses": "responses",
    "responses": "responses",
    "raw_gemini": "gemini",
    "gemini": "gemini",
    "raw_anthropic": "anthropic",
    "anthropic": "anthropic",
    "openai_sdk": "openai",
    "anthropic_sdk": "anthropic",
}
RAW_OF_FORMAT = {
    "openai": "raw",
    "responses": "raw_responses",
    "gemini": "raw_gemini",
    "anthropic": "raw_anthropic",
}
LABELS = {
    "raw": "raw httpx2 aiter_lines + json.loads (Chat Completions)",
    "for": "async for client.stream()",
    "with": "async with client.stream() as s",
    "swu": "stream_with_usage()",
    "swu_delta": "stream_with_usage() + on_delta",
    "swu_bg": "stream_with_usage() + background processor",
    "raw_responses": "raw httpx2 (Responses API)",
    "responses": 'async for client.stream(api="responses")',
    "raw_gemini": "raw httpx2 (Gemini)",
    "gemini": "async for client.stream(gemini-*)",
    "raw_anthropic": "raw httpx2 (Anthropic Messages)",
    "anthropic": "async for client.stream(claude-*)",
    "openai_sdk": "official openai SDK (async for)",
    "anthropic_sdk": "official anthropic SDK (async for)",
}
STEER_PATHS = ("for", "with", "swu", "swu_delta", "swu_bg", "responses", "gemini", "anthropic")
ALL_PATHS = tuple(LABELS)

MODEL_OF_FORMAT = {
    "openai": "gpt-4o-mini",
    "responses": "gpt-4o-mini",
    "gemini": "gemini-2.0-flash",
    "anthropic": "claude-3-5-haiku-latest",
}


class Clients:
    """The clients of one benchmark process, all pointed at the benchmark server."""

    def __init__(self, base: str, *, connections: int = 100, sdks: bool = False) -> None:
        from steer_trio import SteerClient

        self.base = base
        # steer_trio's own defaults (DEFAULT_LIMITS), for both sides; more connections
        # only where a benchmark opens more streams at once.
        limits = httpx2.Limits(
            max_connections=max(connections, 1000),
            max_keepalive_connections=200,
            keepalive_expiry=60.0,
        )
        self.http = httpx2.AsyncClient(timeout=None, limits=limits)
        self.steer = SteerClient(
            api_keys={"openai": "sk-bench", "anthropic": "sk-bench", "gemini": "bench"},
            base_urls={
                "openai": f"{base}/v1",
                "anthropic": base,
                "gemini": f"{base}/v1beta",
            },
            limits=limits,
        )
        self.openai: Any = None
        self.anthropic: Any = None
        if sdks:
            from anthropic import AsyncAnthropic
            from openai import AsyncOpenAI

            self.openai = AsyncOpenAI(api_key="sk-bench", base_url=f"{base}/v1", max_retries=0)
            self.anthropic = AsyncAnthropic(api_key="sk-bench", base_url=base, max_retries=0)

    async def aclose(self) -> None:
        await self.steer.aclose()
        await self.http.aclose()
        if self.openai is not None:
            await self.openai.close()
        if self.anthropic is not None:
            await self.anthropic.close()


# -- raw: the floor ----------------------------------------------------------------------------


def _openai_content(payload: Any) -> bool:
    choices = payload.get("choices")
    return bool(choices and choices[0]["delta"].get("content"))


def _responses_content(payload: Any) -> bool:
    return bool(payload.get("type") == "response.output_text.delta" and payload["delta"])


def _gemini_content(payload: Any) -> bool:
    candidates = payload.get("candidates")
    if not candidates:
        return False
    parts = candidates[0].get("content", {}).get("parts") or ()
    return any(part.get("text") for part in parts)


def _anthropic_content(payload: Any) -> bool:
    return bool(payload.get("type") == "content_block_delta")


def raw_request(
    fmt: str, base: str, headers: dict[str, str]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """URL, JSON body and headers of the streaming request a hand-written client sends."""
    model = MODEL_OF_FORMAT[fmt]
    messages = [{"role": "user", "content": "go"}]
    if fmt == "openai":
        body = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return f"{base}/v1/chat/completions", body, {"authorization": "Bearer sk", **headers}
    if fmt == "responses":
        body = {"model": model, "input": messages, "stream": True}
        return f"{base}/v1/responses", body, {"authorization": "Bearer sk", **headers}
    if fmt == "gemini":
        url = f"{base}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        body = {"contents": [{"role": "user", "parts": [{"text": "go"}]}]}
        return url, body, {"x-goog-api-key": "k", **headers}
    body = {"model": model, "messages": messages, "max_tokens": 1024, "stream": True}
    return (
        f"{base}/v1/messages",
        body,
        {"x-api-key": "k", "anthropic-version": "2023-06-01", **headers},
    )


_CONTENT = {
    "openai": _openai_content,
    "responses": _responses_content,
    "gemini": _gemini_content,
    "anthropic": _anthropic_content,
}


async def raw(clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None) -> int:
    url, body, all_headers = raw_request(fmt, clients.base, headers)
    is_content = _CONTENT[fmt]
    count = 0
    async with clients.http.stream("POST", url, json=body, headers=all_headers) as response:
        # Read to the end of the body (not just to [DONE]) so the connection goes back
        # to the pool, as steer_trio's does: both sides then pay the same for keep-alive.
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            if is_content(json.loads(line[6:])):
                count += 1
                if ready is not None and count == 1:
                    ready()
    return count


# -- steer_trio ------------------------------------------------------------------------------


def _steer_kwargs(fmt: str, headers: dict[str, str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": MODEL_OF_FORMAT[fmt], "extra_headers": headers}
    if fmt == "responses":
        kwargs["api"] = "responses"
    elif fmt == "openai":
        kwargs["provider"] = "openai"
    return kwargs


async def steer_for(clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None) -> int:
    count = 0
    async for _text in clients.steer.stream("go", **_steer_kwargs(fmt, headers)):
        count += 1
        if ready is not None and count == 1:
            ready()
    return count


async def steer_with(clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None) -> int:
    count = 0
    async with clients.steer.stream("go", **_steer_kwargs(fmt, headers)) as stream:
        async for _text in stream:
            count += 1
            if ready is not None and count == 1:
                ready()
    assert stream.response is not None and stream.response.usage_info is not None
    return count


async def steer_swu(clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None) -> int:
    kwargs = _steer_kwargs(fmt, headers)
    if ready is not None:
        # Told when the headers are in (the stream then waits on the network): not a
        # per-event callback, so the plain fast path stays plain.
        kwargs["on_start"] = lambda event: ready()
    response = await clients.steer.stream_with_usage("go", **kwargs)
    assert response.usage_info is not None
    return int(response.metrics["chunk_count"])


async def steer_swu_delta(
    clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None
) -> int:
    seen = [0]

    def on_delta(event: Any) -> None:
        seen[0] += 1
        if ready is not None and seen[0] == 1:
            ready()

    response = await clients.steer.stream_with_usage(
        "go", **_steer_kwargs(fmt, headers), on_delta=on_delta
    )
    assert response.usage_info is not None
    return seen[0]


_BACKGROUND: Any = None


def _background_options() -> Any:
    global _BACKGROUND
    if _BACKGROUND is None:
        from steer_trio import StreamingOptions, create_event_processor

        _BACKGROUND = StreamingOptions(event_processor=create_event_processor(background=True))
    return _BACKGROUND


async def steer_swu_bg(
    clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None
) -> int:
    kwargs = _steer_kwargs(fmt, headers)
    if ready is not None:
        kwargs["on_start"] = lambda event: ready()
    response = await clients.steer.stream_with_usage(
        "go", **kwargs, streaming_options=_background_options()
    )
    assert response.usage_info is not None
    return int(response.metrics["chunk_count"])


# -- the official SDKs -----------------------------------------------------------------------


async def openai_sdk(clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None) -> int:
    count = 0
    stream = await clients.openai.chat.completions.create(
        model=MODEL_OF_FORMAT["openai"],
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
    return count


async def anthropic_sdk(
    clients: Clients, fmt: str, headers: dict[str, str], ready: Any = None
) -> int:
    count = 0
    stream = await clients.anthropic.messages.create(
        model=MODEL_OF_FORMAT["anthropic"],
        max_tokens=1024,
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        extra_headers=headers,
    )
    async with stream:
        async for event in stream:
            if event.type == "content_block_delta":
                count += 1
    return count


Consumer = Callable[[Clients, str, dict[str, str], Any], Awaitable[int]]

CONSUMERS: dict[str, Consumer] = {
    "raw": raw,
    "for": steer_for,
    "with": steer_with,
    "swu": steer_swu,
    "swu_delta": steer_swu_delta,
    "swu_bg": steer_swu_bg,
    "raw_responses": raw,
    "responses": steer_for,
    "raw_gemini": raw,
    "gemini": steer_for,
    "raw_anthropic": raw,
    "anthropic": steer_for,
    "openai_sdk": openai_sdk,
    "anthropic_sdk": anthropic_sdk,
}


def run_path(
    clients: Clients, path: str, headers: dict[str, str], ready: Any = None
) -> Awaitable[int]:
    """One stream of ``path`` with the server scenario ``headers``."""
    return CONSUMERS[path](clients, FORMAT_OF[path], headers, ready)


def baseline_of(path: str) -> str:
    return RAW_OF_FORMAT[FORMAT_OF[path]]
