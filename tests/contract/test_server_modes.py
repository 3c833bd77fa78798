"""The fake provider's two ways of writing a fault, which the contract tests rely on:
``chunking="event"`` writes each event (and the fault) on its own, ``"whole"`` packs
the events before an in-stream fault and the fault into one TCP write."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from steer_trio.testing import FakeProvider, Fault, Scenario

from ._support import FORMATS, make_client, run_path

#: A fault, and how to recognise the write that carries it.
MARKERS = {
    "in_stream_error": lambda w: b"Overloaded" in w,
    "malformed_json_after": lambda w: b"{not json" in w,
    # The end of a chunked body (a last chunk of size 0).
    "truncate_after": lambda w: w == b"0\r\n\r\n" or w.endswith(b"\r\n0\r\n\r\n"),
}


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every ``send_all`` of a trio socket stream (the fake provider's writes among them)."""
    seen: list[bytes] = []
    original = trio.SocketStream.send_all

    async def send_all(self: trio.SocketStream, data: Any) -> None:
        seen.append(bytes(data))
        await original(self, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", send_all)
    return seen


@pytest.mark.parametrize("kind", MARKERS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["event", "whole"])
async def test_fault_write(
    fake_provider: FakeProvider, writes: list[bytes], kind: str, fmt: str, mode: str
) -> None:
    fault = Fault(kind, after_events=3)  # type: ignore[arg-type]
    text = ["alpha ", "beta ", "gamma ", "delta "]
    fake_provider.enqueue(Scenario(text=text, fault=fault, chunking=mode))  # type: ignore[arg-type]
    async with make_client(fake_provider) as client:
        with trio.fail_after(10):
            outcome = await run_path("stream_with_usage", client, fmt)
    assert outcome.error is not None
    carries_fault = MARKERS[kind]
    at = next((i for i, w in enumerate(writes) if carries_fault(w)), None)
    assert at is not None, "the fault was never written"
    fault_write, before = writes[at], writes[:at]
    if mode == "whole":
        assert b"alpha" in fault_write and b"gamma" in fault_write
        assert not [w for w in before if b"alpha" in w]
    else:
        assert b"gamma" not in fault_write
        assert [w for w in before if b"gamma" in w]
        assert not [w for w in before if b"alpha" in w and b"beta" in w]
