"""pytest fixtures: ``fake_provider`` and ``fake_provider_env`` (trio tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._server import FakeProvider, open_fake_provider


@pytest.fixture
async def fake_provider() -> AsyncIterator[FakeProvider]:
    """A running fake provider for one test."""
    async with open_fake_provider() as server:
        yield server


@pytest.fixture
async def fake_provider_env(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeProvider]:
    """The fake provider, with the providers' environment variables pointing at it."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_provider.anthropic_base_url)
    monkeypatch.setenv("XAI_API_KEY", "xai-fake")
    monkeypatch.setenv("XAI_BASE_URL", fake_provider.xai_base_url)
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-fake")
    monkeypatch.setenv("GEMINI_BASE_URL", fake_provider.gemini_base_url)
    yield fake_provider
