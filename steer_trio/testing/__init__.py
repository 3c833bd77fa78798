"""The fake provider: a real HTTP server on 127.0.0.1 speaking each provider's wire format.

Use it to test code built on steer_trio with no network and no keys::

    async with open_fake_provider() as server:
        server.enqueue(Scenario(text=["Hello", " world"]))
        ...  # point SteerClient at server.openai_base_url / server.anthropic_base_url

Also a pytest fixture (``fake_provider``, ``fake_provider_env``) and a command
(``steer-trio fake-server``, ``python -m steer_trio.testing``).
"""

from .._public import publish
from ._batch_api import FakeBatchAPI, FakeBatchJob
from ._scenario import Fault, FaultKind, Replay, Scenario, ToolCallSpec
from ._server import FakeProvider, RecordedRequest, open_fake_provider

__all__ = [
    "FakeBatchAPI",
    "FakeBatchJob",
    "FakeProvider",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "Replay",
    "Scenario",
    "ToolCallSpec",
    "open_fake_provider",
]

publish(globals(), __all__, __name__)
