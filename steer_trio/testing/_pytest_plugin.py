"""What the pytest fixtures do, imported by them on first use.

The fixtures themselves (``fake_provider``, ``fake_provider_env``) live in the
top-level module ``pytest_steer_trio``, the ``pytest11`` entry point: pytest imports
that in every project that installs steer_trio, and importing anything under
``steer_trio`` would import the whole SDK (trio, httpx2, h11) into projects that never
use the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ._server import FakeProvider, open_fake_provider

__all__ = ["environment_for", "running_fake_provider"]


@asynccontextmanager
async def running_fake_provider() -> AsyncIterator[FakeProvider]:
    """A fake provider for one test: the defaults, on a free port of 127.0.0.1."""
    async with open_fake_provider() as server:
        yield server


def environment_for(server: FakeProvider) -> dict[str, str]:
    """The environment variables that point every provider at ``server``, with dummy
    keys (the official SDKs read the same names)."""
    return {
        "OPENAI_API_KEY": "sk-fake",
        "OPENAI_BASE_URL": server.openai_base_url,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        "XAI_API_KEY": "xai-fake",
        "XAI_BASE_URL": server.xai_base_url,
        "GEMINI_API_KEY": "gemini-fake",
        "GEMINI_BASE_URL": server.gemini_base_url,
        "STEER_TRIO_LOCAL_BASE_URL": server.openai_base_url,
    }
