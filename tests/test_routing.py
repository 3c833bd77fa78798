from __future__ import annotations

import pytest

from steer_trio import ConfigurationError, MissingAPIKeyError, UnknownModelError
from steer_trio._providers._routing import resolve_model, route_model


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("gpt-5-nano", "openai"),
        ("o1-mini", "openai"),
        ("o3", "openai"),
        ("o4-mini", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("claude-3-5-sonnet-20241022", "anthropic"),
        ("grok-3-mini", "xai"),
    ],
)
def test_prefix_routing(model: str, provider: str) -> None:
    config, wire_model = route_model(model)
    assert config.name == provider
    assert wire_model == model


def test_explicit_provider_splits_at_first_slash_only() -> None:
    config, wire_model = route_model("openai_compatible/openai/gpt-oss-120b")
    assert config.name == "openai_compatible"
    assert wire_model == "openai/gpt-oss-120b"
    config, wire_model = route_model("openai/openai/gpt-oss-120b")
    assert config.name == "openai"
    assert wire_model == "openai/gpt-oss-120b"


def test_provider_argument_wins() -> None:
    config, wire_model = route_model("gpt-4o", provider="xai")
    assert (config.name, wire_model) == ("xai", "gpt-4o")


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(UnknownModelError) as info:
        route_model("llama3")
    message = str(info.value)
    assert "gpt-" in message and "claude-" in message and "grok-" in message
    assert "openai_compatible" in message


def test_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="unknown provider"):
        route_model("x", provider="nope")


def test_env_keys_and_base_urls_keep_official_meaning() -> None:
    env = {
        "OPENAI_API_KEY": "sk-o",
        "OPENAI_BASE_URL": "https://proxy.example/v1/",
        "ANTHROPIC_API_KEY": "sk-a",
        "XAI_API_KEY": "xai-k",
    }
    t = resolve_model("gpt-4o", env=env)
    assert (t.base_url, t.api_key) == ("https://proxy.example/v1", "sk-o")
    t = resolve_model("claude-haiku-4-5", env=env)
    assert (t.base_url, t.api_key) == ("https://api.anthropic.com", "sk-a")
    t = resolve_model("grok-4", env=env)
    assert (t.base_url, t.api_key) == ("https://api.x.ai/v1", "xai-k")


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(MissingAPIKeyError, match="ANTHROPIC_API_KEY"):
        resolve_model("claude-haiku-4-5", env={})


def test_arguments_beat_environment() -> None:
    t = resolve_model(
        "gpt-4o",
        api_keys={"openai": "arg"},
        base_urls={"openai": "http://x/v1"},
        env={"OPENAI_API_KEY": "env", "OPENAI_BASE_URL": "http://env/v1"},
    )
    assert (t.api_key, t.base_url) == ("arg", "http://x/v1")


def test_compatible_server_needs_base_url_not_key() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_COMPATIBLE_BASE_URL"):
        resolve_model("openai_compatible/llama3", env={})
    t = resolve_model(
        "openai_compatible/llama3", env={"OPENAI_COMPATIBLE_BASE_URL": "http://localhost:11434/v1"}
    )
    assert (t.model, t.api_key) == ("llama3", None)
