"""Which provider serves a model, where it lives and which key it needs.

Environment variables keep the official SDKs' meanings so an existing environment
just works: the OpenAI and xAI base URLs include ``/v1``; Anthropic's does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from .._errors import ConfigurationError, MissingAPIKeyError, UnknownModelError

__all__ = ["PROVIDERS", "ProviderConfig", "ResolvedTarget", "resolve_model"]


@attrs.define(frozen=True, slots=True)
class ProviderConfig:
    name: str
    #: "openai" (chat completions) or "anthropic" (messages).
    wire: str
    default_base_url: str | None
    key_env: str | None
    base_url_env: str | None
    #: Generic OpenAI-compatible servers (vLLM, Ollama, LM Studio) often need no key.
    key_required: bool = True


PROVIDERS: Mapping[str, ProviderConfig] = {
    "openai": ProviderConfig(
        "openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"
    ),
    "anthropic": ProviderConfig(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    ),
    "xai": ProviderConfig("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL"),
    # Any OpenAI-compatible server: the base URL must be given (argument or env).
    "openai_compatible": ProviderConfig(
        "openai_compatible",
        "openai",
        None,
        "OPENAI_COMPATIBLE_API_KEY",
        "OPENAI_COMPATIBLE_BASE_URL",
        key_required=False,
    ),
    # The built-in fake provider (steer_trio.testing), for demos and tests: no key.
    "local": ProviderConfig("local", "openai", None, None, "STEER_TRIO_LOCAL_BASE_URL", False),
}

_ALIASES = {"compatible": "openai_compatible", "openai-compatible": "openai_compatible"}

_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "chatgpt-", "o1", "o3", "o4"), "openai"),
    (("claude-",), "anthropic"),
    (("grok-",), "xai"),
)


@attrs.define(frozen=True, slots=True)
class ResolvedTarget:
    provider: ProviderConfig
    model: str
    base_url: str
    api_key: str | None


def _provider_named(name: str) -> ProviderConfig:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in PROVIDERS:
        raise ConfigurationError(
            f"unknown provider {name!r}; choose one of: {', '.join(sorted(PROVIDERS))}"
        )
    return PROVIDERS[key]


def route_model(model: str, provider: str | None = None) -> tuple[ProviderConfig, str]:
    """Pick the provider for ``model``: ``provider=`` wins, then ``"provider/model"``
    (split at the first ``/`` only), then the model-name prefixes."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError("model must be a non-empty string, e.g. model='gpt-4o-mini'")
    if provider is not None:
        return _provider_named(provider), model
    head, sep, tail = model.partition("/")
    if sep and (head.lower() in PROVIDERS or head.lower() in _ALIASES):
        if not tail:
            raise ConfigurationError(f"model {model!r} names a provider but no model after '/'")
        return _provider_named(head), tail
    lowered = model.lower()
    for prefixes, name in _PREFIXES:
        if lowered.startswith(prefixes):
            return PROVIDERS[name], model
    raise UnknownModelError(
        f"no provider is known for model {model!r}. Models starting with gpt-, chatgpt-, "
        "o1, o3, o4 go to OpenAI; claude- to Anthropic; grok- to xAI. For any other model "
        "name the provider: 'openai_compatible/<model>' (with OPENAI_COMPATIBLE_BASE_URL or "
        f"base_url=...), or provider=... one of: {', '.join(sorted(PROVIDERS))}"
    )


def resolve_model(
    model: str,
    *,
    provider: str | None = None,
    api_keys: Mapping[str, str | None] | None = None,
    base_urls: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> ResolvedTarget:
    """Route the model and find its base URL and key (arguments first, then env)."""
    config, wire_model = route_model(model, provider)
    env = os.environ if env is None else env
    base_url = (base_urls or {}).get(config.name) or (
        env.get(config.base_url_env) if config.base_url_env else None
    )
    base_url = base_url or config.default_base_url
    if not base_url:
        raise ConfigurationError(
            f"provider {config.name!r} needs a base URL: pass base_url=... to SteerClient "
            f"or set {config.base_url_env}"
        )
    api_key = (api_keys or {}).get(config.name) or (
        env.get(config.key_env) if config.key_env else None
    )
    if config.key_required and not api_key:
        raise MissingAPIKeyError(
            f"no API key for {config.name}: set the environment variable {config.key_env} "
            f"or pass api_key=... (model {model!r})"
        )
    return ResolvedTarget(config, wire_model, base_url.rstrip("/"), api_key)
