"""Tests run by anyio's pytest plugin, on the trio backend, beside pytest-trio.

The project's ``trio_mode = true`` makes pytest-trio claim every async test: it marks
each one ``trio`` at collection and then runs it in a ``trio.run`` of its own. A test
marked ``anyio`` belongs to anyio's plugin instead (its runner, and the async fixtures
it requests, such as ``fake_provider``), so the ``trio`` mark trio_mode added is taken
off again, for those tests only.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing


@pytest.hookimpl(trylast=True)  # after pytest-trio's trio_mode marked every async test
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("anyio") is not None:
            item.own_markers[:] = [m for m in item.own_markers if m.name != "trio"]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """Every test here runs on anyio's trio backend (steer_trio needs trio), on trio's
    autojump clock, as the pytest-trio tests do: stalls and timeouts take no real time.
    """
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
