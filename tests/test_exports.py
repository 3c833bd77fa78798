"""The public surface: everything public is exported from steer_trio, nothing private."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

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


_NO_IO_SCRIPT = """
import builtins, io, json, socket, sys, threading
seen = []
real_open = builtins.open
def spy_open(file, *args, **kwargs):
    seen.append(str(file))
    return real_open(file, *args, **kwargs)
builtins.open = io.open = spy_open
def no_network(*args, **kwargs):
    seen.append("network")
    raise OSError("no network here")
socket.socket.connect = socket.getaddrinfo = no_network
threads = threading.active_count()
import steer_trio
from steer_trio._processing import _accounting, _pricing, _tokens
client = steer_trio.SteerClient(api_keys={"openai": "x"})
print(json.dumps({
    "seen": seen,
    "threads": threading.active_count() - threads,
    "tiktoken": "tiktoken" in sys.modules,
    "prices": _pricing._default is not None or _accounting._price_table is not None,
    "encodings": list(_tokens._cache),
    "client": type(client).__name__,
}))
"""


def test_import_does_no_io_and_needs_no_loop() -> None:
    # A fresh interpreter: this process has long since loaded everything.
    out = subprocess.run(
        [sys.executable, "-c", _NO_IO_SCRIPT], capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout)
    assert report["client"] == "SteerClient"  # built with no trio run and no event loop
    assert "network" not in report["seen"]
    assert not [p for p in report["seen"] if p.endswith((".json", ".tiktoken", ".toml"))]
    assert report["threads"] == 0
    assert report["tiktoken"] is False  # the tokenizer loads on first use, not on import
    assert report["prices"] is False and report["encodings"] == []
