"""Which provider serves a model, where it lives and which key it needs.

Environment variables keep the official SDKs' meanings so an existing environment
just works: the OpenAI and xAI base URLs include ``/v1``; Anthropic's does not. Gemini's
key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` (as in Google's SDK); its base
URL (``GEMINI_BASE_URL``, our own name) includes the API version, ``/v1beta``.

OpenAI models are served by two wire formats: Chat Completions (``"openai"``) and the
Responses API (``"openai_responses"``). ``api="responses"`` picks the second for any
provider that speaks OpenAI's formats; models that exist only on the Responses API
(the ``-pro`` reasoning models, ``codex`` and deep-research models) go there by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import attrs

from .._errors import ConfigurationError, MissingAPIKeyError, UnknownModelError

__all__ = [
    "PROVIDERS",
    "ProviderConfig",
    "ResolvedTarget",
    "is_responses_only",
    "resolve_model",
    "select_api",
]


@attrs.define(frozen=True, slots=True)
class ProviderConfig:
    name: str
    #: A key of ``WIRES``: "openai" (chat completions), "openai_responses",
    #: "anthropic" (messages) or "gemini".
    wire: str
    default_base_url: str | None
    key_env: str | None
    base_url_env: str | None
    #: Generic OpenAI-compatible servers (vLLM, Ollama, LM Studio) often need no key.
    key_required: bool = True
    #: Further environment variables holding the key, tried in order after ``key_env``.
    extra_key_envs: tuple[str, ...] = ()


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
    "gemini": ProviderConfig(
        "gemini",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        "GEMINI_API_KEY",
        "GEMINI_BASE_URL",
        extra_key_envs=("GOOGLE_API_KEY",),
    ),
    # The built-in fake provider (steer_trio.testing), for demos and tests: no key.
    "local": ProviderConfig("local", "openai", None, None, "STEER_TRIO_LOCAL_BASE_URL", False),
}

#: The values of ``api=``: "chat" is each provider's own format (Chat Completions for
#: OpenAI's); "responses" is OpenAI's Responses API.
APIS = ("chat", "responses")

_ALIASES = {"compatible": "openai_compatible", "openai-compatible": "openai_compatible"}

_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-", "computer-use-"), "openai"),
    (("claude-",), "anthropic"),
    (("grok-",), "xai"),
    (("gemini-",), "gemini"),
)

# OpenAI models with no Chat Completions endpoint: o1-pro, o3-pro, gpt-5-pro,
# gpt-5.2-pro (and their dated names), gpt-5-codex, gpt-5.1-codex-max, codex-mini-latest,
# o3-deep-research, o4-mini-deep-research, computer-use-preview.
_RESPONSES_ONLY = re.compile(
    r"^(?:o\d+(?:-mini)?|gpt-[\w.]+?)-pro(?:$|-)|codex|deep-research|^computer-use-"
)


def is_responses_only(model: str) -> bool:
    """Whether OpenAI serves ``model`` only through the Responses API."""
    return _RESPONSES_ONLY.search(model.lower()) is not None


class ResolvedTarget:
    """Where one call goes. A plain class, not attrs: built per call, never compared,
    and cheaper to define at import. No repr of its own: it holds the API key."""

    __slots__ = ("api_key", "base_url", "model", "provider")

    def __init__(
        self, provider: ProviderConfig, model: str, base_url: str, api_key: str | None
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url
        self.api_key = api_key


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
        "o1, o3, o4, codex- go to OpenAI; claude- to Anthropic; grok- to xAI; gemini- to "
        "Google Gemini. For any other model name the provider: "
        "'openai_compatible/<model>' (with OPENAI_COMPATIBLE_BASE_URL or "
        f"base_url=...), or provider=... one of: {', '.join(sorted(PROVIDERS))}"
    )


def select_api(
    config: ProviderConfig, model: str, api: str | None, *, strict: bool = True
) -> ProviderConfig:
    """The config with the wire format ``api`` asks for (None: the model decides).

    ``strict`` (a call's own ``api=``): asking for what the model or provider cannot do
    is an error. Not strict (a default, ``StreamingOptions.api``): it applies where it
    can, so one client-wide setting never breaks a call to another provider.
    """
    if api is not None and api not in APIS:
        raise ConfigurationError(f"api must be 'chat' or 'responses' (or None), got {api!r}")
    speaks_openai = config.wire in ("openai", "openai_responses")
    if api == "responses":
        if speaks_openai:
            return attrs.evolve(config, wire="openai_responses")
        if strict:
            raise ConfigurationError(
                f"api='responses' is OpenAI's Responses API, which {config.name} does not "
                f"speak (model {model!r}); drop api= for this model"
            )
        return config
    if config.name == "openai" and is_responses_only(model):
        if api == "chat" and strict:
            raise ConfigurationError(
                f"{model!r} is served only by OpenAI's Responses API: drop api='chat' "
                "(or pass api='responses')"
            )
        return attrs.evolve(config, wire="openai_responses")
    return config


def resolve_model(
    model: str,
    *,
    provider: str | None = None,
    api_keys: Mapping[str, str | None] | None = None,
    base_urls: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
    api: str | None = None,
    default_api: str | None = None,
) -> ResolvedTarget:
    """Route the model and find its base URL and key (arguments first, then env).

    ``api`` (a call's own) or else ``default_api`` (the client's options) picks between
    OpenAI's two formats; see :func:`select_api`."""
    config, wire_model = route_model(model, provider)
    if api is not None:
        config = select_api(config, wire_model, api)
    else:
        config = select_api(config, wire_model, default_api, strict=False)
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
    api_key = (api_keys or {}).get(config.name)
    key_envs = (config.key_env, *config.extra_key_envs) if config.key_env else ()
    for name in key_envs:
        api_key = api_key or env.get(name)
    if config.key_required and not api_key:
        raise MissingAPIKeyError(
            f"no API key for {config.name}: set the environment variable "
            f"{' or '.join(key_envs)} or pass api_key=... (model {model!r})"
        )
    return ResolvedTarget(config, wire_model, base_url.rstrip("/"), api_key)
