"""Fixtures of the stream-contract suite (the helpers are in ``_support``)."""

from __future__ import annotations

import pytest

from ._support import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
