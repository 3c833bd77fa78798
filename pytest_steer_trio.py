"""pytest fixtures for code built on steer_trio: ``fake_provider``, ``fake_provider_env``.

pytest loads this module in every project that has steer_trio installed (the
``pytest11`` entry point named ``steer_trio``), so it is a stub: importing it imports
pytest and nothing else, and it adds no hook, option, marker or setting. The fake
provider (trio, h11 and the SDK) is imported when a test asks for one of the fixtures.

The fixtures are async: run the tests that use them with pytest-trio (``trio_mode =
true``, or ``@pytest.mark.trio``) or with anyio's plugin on the trio backend
(``@pytest.mark.anyio`` and an ``anyio_backend`` fixture returning ``"trio"``).
Turn the plugin off with ``-p no:steer_trio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from steer_trio.testing import FakeProvider


@pytest.fixture
async def fake_provider() -> AsyncIterator[FakeProvider]:
    """A running fake provider (``steer_trio.testing.FakeProvider``) for one test.

    It answers on 127.0.0.1 in every provider's wire format; ``enqueue`` scenarios
    and faults, read ``requests`` afterwards."""
    from steer_trio.testing._pytest_plugin import running_fake_provider

    async with running_fake_provider() as server:
        yield server


@pytest.fixture
async def fake_provider_env(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeProvider]:
    """``fake_provider``, with the providers' environment variables pointing at it.

    ``OPENAI_*``, ``ANTHROPIC_*``, ``XAI_*`` and ``STEER_TRIO_LOCAL_BASE_URL`` are set
    for the test (dummy keys), so a ``SteerClient()`` built by the code under test
    talks to the fake provider."""
    from steer_trio.testing._pytest_plugin import environment_for

    for name, value in environment_for(fake_provider).items():
        monkeypatch.setenv(name, value)
    yield fake_provider
