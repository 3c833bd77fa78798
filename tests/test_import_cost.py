"""What ``import steer_trio`` and a client's first request load, checked structurally
in fresh interpreters (this process has long since loaded everything): never timed.

Kept off import: what only some programs use (batch jobs, the incremental JSON parser,
event processors, the wire formats other than Chat Completions, TOML price files, typo
suggestions, the tokenizer, the fake provider, the command line). Kept off a client that talks only
to ``http://`` servers: the TLS trust store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx2
import pytest
import trio

from steer_trio import SteerClient, _http_pool

#: Modules ``import steer_trio`` must not load, with what loads each on first use.
NOT_ON_IMPORT = {
    "steer_trio._batch": "client.batch(), steer_trio.Batch and the other batch names",
    "steer_trio._jsonstream": "JSON mode, tool calls, steer_trio.IncrementalJSONParser",
    "steer_trio._processing._processor": "steer_trio.create_event_processor and its kin",
    "steer_trio._providers._anthropic": "the first request in Anthropic's format",
    "steer_trio._providers._gemini": "the first request in Gemini's format",
    "steer_trio._providers._responses": "the first request to OpenAI's Responses API",
    "steer_trio.testing": "the fake provider, imported by name",
    "steer_trio.cli": "the steer-trio command",
    "steer_trio._cli_batch": "the steer-trio batch command",
    "tomllib": "a .toml price file",
    "difflib": "the suggestion in an unknown-keyword error",
    "tiktoken": "the first local token count",
    "cattrs": "response_model= (structuring the answer)",
    "certifi": "the TLS context (httpx2 builds it with the pool)",
    "httpcore2": "the first connection pool",
    "h11": "the first connection pool",
}


def run_fresh(code: str) -> Any:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_none_of_the_deferred_modules() -> None:
    names = json.dumps(sorted(NOT_ON_IMPORT))
    loaded = run_fresh(
        "import json, sys\nimport steer_trio\n"
        f"print(json.dumps([m for m in {names} if m in sys.modules]))"
    )
    assert loaded == []


def test_lazy_names_load_on_first_use_and_behave_as_public() -> None:
    report = run_fresh(
        """
import json, pickle, sys
import steer_trio
listed = all(name in dir(steer_trio) for name in steer_trio.__all__)
before = "steer_trio._batch._types" in sys.modules
from steer_trio import BatchResult, IncrementalJSONParser, JSONStreamError
result = BatchResult(id="a", status="completed", text="hi")
print(json.dumps({
    "listed": listed,
    "before": before,
    "after": "steer_trio._batch._types" in sys.modules,
    "modules": [BatchResult.__module__, IncrementalJSONParser.__module__,
                JSONStreamError.__module__, steer_trio.BatchInputError.__module__],
    "same": steer_trio.JSONStreamError is sys.modules["steer_trio._jsonstream"].JSONStreamError,
    "pickled": pickle.loads(pickle.dumps(result)) == result,
    "runner": "steer_trio._batch._runner" in sys.modules,
}))
"""
    )
    assert report["listed"] is True
    assert report["before"] is False and report["after"] is True
    assert report["modules"] == ["steer_trio"] * 4
    assert report["same"] is True
    assert report["pickled"] is True
    # Naming a batch type loads its own module, not the runner and the worker pool.
    assert report["runner"] is False


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    import steer_trio

    with pytest.raises(AttributeError, match="no attribute 'NotAName'"):
        steer_trio.NotAName  # noqa: B018


_PLAIN_CLIENT = """
import json, sys
import httpx2, trio
reads = []
real = httpx2.create_ssl_context
def spy(*args, **kwargs):
    reads.append(1)
    return real(*args, **kwargs)
httpx2.create_ssl_context = spy
from steer_trio import SteerClient
from steer_trio.testing import Scenario, open_fake_provider

async def main():
    async with open_fake_provider() as server:
        server.enqueue(Scenario(text=["Hello", " world"]))
        async with SteerClient(
            api_keys={"openai": "sk-test"}, base_urls={"openai": server.openai_base_url}
        ) as client:
            response = await client.stream_with_usage("hi", model="gpt-4o-mini")
    print(json.dumps({"text": response.text, "tls_reads": len(reads)}))

trio.run(main)
"""


def test_a_client_of_http_servers_never_reads_the_trust_store() -> None:
    report = run_fresh(_PLAIN_CLIENT)
    assert report == {"text": "Hello world", "tls_reads": 0}


@pytest.fixture
def cold_tls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """No TLS context in this process yet; counts how often one is built."""
    builds: list[int] = []
    real = httpx2.create_ssl_context

    def counting() -> Any:
        builds.append(1)
        return real()

    monkeypatch.setattr(_http_pool, "_tls_context", None)
    monkeypatch.setattr(httpx2, "create_ssl_context", counting)
    return builds


async def test_an_https_client_reads_the_trust_store_when_entered(cold_tls: list[int]) -> None:
    with trio.fail_after(30):
        async with SteerClient(api_keys={"openai": "sk-test"}):
            assert cold_tls == [1]  # before any request
            assert _http_pool._tls_context is not None
        async with SteerClient(base_urls={"openai": "https://example.invalid/v1"}):
            pass
    assert cold_tls == [1]  # once per process


async def test_an_http_client_opens_tls_on_its_first_https_request(
    cold_tls: list[int], fake_provider: Any
) -> None:
    plain = fake_provider.openai_base_url
    with trio.fail_after(30):
        async with SteerClient(base_urls={"openai": plain}) as client:
            assert cold_tls == []
            http = await client._ensure_http()
            # TLS to a plain-HTTP server: the trust store is read, then the handshake
            # fails (a plain-text request would have had an HTTP answer).
            for _ in range(2):
                with pytest.raises(httpx2.ConnectError):
                    await http.get(plain.replace("http://", "https://") + "/models")
                assert cold_tls == [1]


def test_proxies_in_the_environment_keep_the_single_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
        monkeypatch.delenv(f"{name}_proxy", raising=False)
    assert _http_pool._plain_only(["http://127.0.0.1:8000/v1", None]) is True
    assert _http_pool._plain_only(["http://127.0.0.1:8000/v1", "https://x.test"]) is False
    assert _http_pool._plain_only([]) is False  # the providers' own URLs: https
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert _http_pool._plain_only(["http://127.0.0.1:8000/v1"]) is False
