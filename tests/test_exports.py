"""The public surface: everything public is exported from steer_trio, nothing private."""

from __future__ import annotations

import importlib
import inspect

import steer_trio


def test_all_names_exist() -> None:
    for name in steer_trio.__all__:
        assert hasattr(steer_trio, name), name
    assert len(set(steer_trio.__all__)) == len(steer_trio.__all__)


def test_no_private_name_exported() -> None:
    assert not [n for n in steer_trio.__all__ if n.startswith("_")]


# Modules whose classes users receive or construct. The others (_pipeline, _transport,
# _providers, _accounting, _tokens) are machinery behind the client.
SURFACE_MODULES = [
    "steer_trio._config",
    "steer_trio._errors",
    "steer_trio._events",
    "steer_trio._jsonstream",
    "steer_trio._processing._pricing",
    "steer_trio._processing._processor",
    "steer_trio._response",
    "steer_trio._sse",
    "steer_trio._usage",
]


# Used by the pipeline only; users see what it builds (StreamingResponse).
INTERNAL = {"steer_trio._response.ResponseBuilder"}


def test_every_class_users_meet_is_exported() -> None:
    missing = []
    for module_name in SURFACE_MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isclass(obj):
                continue
            qualified = f"{module_name}.{name}"
            if qualified in INTERNAL:
                continue
            if obj.__module__ == module_name and name not in steer_trio.__all__:
                missing.append(f"{module_name}.{name}")
    assert missing == [], f"public classes not exported from steer_trio: {missing}"


def test_every_error_and_event_class_is_exported() -> None:
    def subclasses(cls: type) -> set[type]:
        out = set()
        for sub in cls.__subclasses__():
            out |= {sub} | subclasses(sub)
        return out

    for base in (steer_trio.SteerError, steer_trio.StreamEvent):
        for cls in subclasses(base):
            if cls.__module__.startswith("steer_trio"):
                assert cls.__name__ in steer_trio.__all__, cls


def test_seed_names() -> None:
    for name in (
        "SteerLLMClient",
        "StreamingOptions",
        "JSON_MODE_OPTIONS",
        "create_event_processor",
        "EventTransformer",
        "StreamDeltaEvent",
        "ProviderError",
    ):
        assert name in steer_trio.__all__
    assert steer_trio.SteerLLMClient is steer_trio.SteerClient


def test_import_does_no_io_and_needs_no_loop() -> None:
    client = steer_trio.SteerClient(api_keys={"openai": "x"})
    assert client is not None
