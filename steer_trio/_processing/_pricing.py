"""Prices and cost math (sans-IO: plain data and arithmetic).

The bundled table (``prices.json``) is USD per million tokens, dated, with its source
per entry. A model billed at a higher rate for a long prompt (Gemini's Pro models above
200,000 prompt tokens) carries that tier in ``long_context``: the whole request is
priced at it when its prompt (cached tokens included) is above the threshold.

Lookups never borrow another model's price: an exact name, an alias, or a
dated suffix stripped from a known base (``gpt-4o-2099-01-01`` -> ``gpt-4o``); anything
else has no price, and the cost is None with a reason.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigurationError
from .._usage import Usage

__all__ = [
    "CostBreakdown",
    "CostResult",
    "ModelPrice",
    "PriceTable",
    "compute_cost",
    "default_price_table",
    "load_prices",
    "register_price",
]

_PER = 1_000_000
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "cache_write_1h")


@attrs.define(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens. Missing cache prices mean "billed as plain input"."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    source: str = ""
    as_of: str = ""
    #: The prices of a request whose prompt is longer than ``long_context_above``
    #: tokens (the whole request, output included, at this tier); None: one tier.
    long_context: ModelPrice | None = None
    long_context_above: int | None = attrs.field(default=None)

    @long_context_above.validator
    def _check_tier(self, _attribute: Any, value: int | None) -> None:
        if (value is None) != (self.long_context is None):
            raise ConfigurationError(
                "a long-context tier needs both long_context (a ModelPrice) and "
                "long_context_above (the prompt tokens it starts above)"
            )
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise ConfigurationError(f"long_context_above must be an int >= 0, got {value!r}")

    def for_prompt(self, prompt_tokens: int) -> ModelPrice:
        """The prices that apply to a request with ``prompt_tokens`` of prompt."""
        above = self.long_context_above
        if above is not None and prompt_tokens > above and self.long_context is not None:
            return self.long_context
        return self


@attrs.define(frozen=True, slots=True)
class CostBreakdown:
    """A cost in USD, by part: uncached input, cached input, cache writes, output."""

    input: float
    cached_input: float
    cache_write: float
    output: float

    @property
    def total(self) -> float:
        """The sum of the parts, in USD."""
        return self.input + self.cached_input + self.cache_write + self.output


@attrs.define(frozen=True, slots=True)
class CostResult:
    """The cost of one usage: ``cost_usd`` and its ``breakdown``, or ``reason`` why
    there is none."""

    cost_usd: float | None
    breakdown: CostBreakdown | None
    #: Why ``cost_usd`` is None.
    reason: str | None
    is_estimated: bool = False


def compute_cost(price: ModelPrice, usage: Usage) -> CostBreakdown:
    """Cost of one normalised usage (prompt tokens include cache reads and writes), at
    the tier its prompt length selects."""
    price = price.for_prompt(usage.prompt_tokens)
    cache_read = usage.cache_read_tokens
    cache_write = usage.cache_write_tokens
    write_1h = min(usage.cache_write_1h_tokens, cache_write)
    uncached = usage.prompt_tokens - cache_read - cache_write
    if uncached < 0:
        raise ValueError(
            f"usage is inconsistent: cache reads ({cache_read}) and writes ({cache_write}) "
            f"exceed prompt tokens ({usage.prompt_tokens})"
        )
    cached_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    write_1h_price = write_price if price.cache_write_1h is None else price.cache_write_1h
    return CostBreakdown(
        input=uncached * price.input / _PER,
        cached_input=cache_read * cached_price / _PER,
        cache_write=((cache_write - write_1h) * write_price + write_1h * write_1h_price) / _PER,
        output=usage.completion_tokens * price.output / _PER,
    )


class PriceTable:
    """Prices by model name, with aliases (dated and ``-latest`` names); the bundled one is
    dated and sourced (``docs/prices.md``), and ``register_price``/``load_prices`` change it."""

    def __init__(
        self,
        entries: dict[str, ModelPrice] | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self._entries = dict(entries or {})
        self._aliases = dict(aliases or {})

    @classmethod
    def bundled(cls) -> PriceTable:
        """A fresh table from the bundled ``prices.json`` (blocking file read)."""
        text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
        table = cls()
        table._load_mapping(json.loads(text), origin="bundled prices.json")
        return table

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model`` (or of what its alias or dated name resolves to), or None."""
        for name in _candidates(model):
            if name in self._entries:
                return self._entries[name]
            target = self._aliases.get(name)
            if target is not None and target in self._entries:
                return self._entries[target]
        return None

    def register(self, model: str, price: ModelPrice) -> None:
        """Add a model or override its price."""
        if not isinstance(price, ModelPrice):
            raise ConfigurationError("register() takes a ModelPrice(input=..., output=...)")
        self._entries[model.lower()] = price
        self._aliases.pop(model.lower(), None)

    def load_file(self, path: str | os.PathLike[str]) -> None:
        """Load prices from a TOML or JSON file (the schema of the bundled file)."""
        file = Path(path)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read price file {file}: {exc}") from exc
        try:
            if file.suffix.lower() == ".toml":
                import tomllib  # only a TOML price file needs it: kept off import

                data = tomllib.loads(raw.decode("utf-8"))
            else:
                data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"price file {file} is not valid: {exc}") from exc
        self._load_mapping(data, origin=str(file))

    def _load_mapping(self, data: Any, *, origin: str) -> None:
        """Check the whole file first, then apply it: a bad file changes nothing."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise ConfigurationError(f"{origin}: expected a 'models' table of model -> prices")
        default_as_of = str(data.get("as_of", ""))
        entries = {
            str(model).lower(): _price_from(fields, origin, model, default_as_of)
            for model, fields in data["models"].items()
        }
        raw_aliases = data.get("aliases", {})
        if not isinstance(raw_aliases, dict):
            raise ConfigurationError(f"{origin}: 'aliases' must map alias -> model")
        aliases = {str(alias).lower(): str(target).lower() for alias, target in raw_aliases.items()}
        for alias, target in aliases.items():
            if target not in entries and target not in self._entries:
                raise ConfigurationError(
                    f"{origin}: alias {alias!r} points to {target!r}, which has no price"
                )
        self._entries.update(entries)
        self._aliases.update(aliases)

    def models(self) -> list[tuple[str, ModelPrice]]:
        """Every model with a price, sorted by name."""
        return sorted(self._entries.items())

    def aliases(self) -> dict[str, str]:
        """Every alias and the model it resolves to."""
        return dict(self._aliases)

    def cost(self, model: str, usage: Usage) -> CostResult:
        """The cost of ``usage`` for ``model``; without a price, ``reason`` says why."""
        price = self.lookup(model)
        if price is None:
            return CostResult(
                None,
                None,
                f"no price known for model {model!r}; add one with "
                "steer_trio.register_price(...) or load_prices(path)",
                usage.is_estimated,
            )
        try:
            breakdown = compute_cost(price, usage)
        except ValueError as exc:
            return CostResult(None, None, str(exc), usage.is_estimated)
        return CostResult(breakdown.total, breakdown, None, usage.is_estimated)


def _candidates(model: str) -> list[str]:
    name = model.strip().lower()
    names = [name]
    if "/" in name:
        names.append(name.split("/", 1)[1])
    for candidate in list(names):
        stripped = _DATED.sub("", candidate)
        if stripped != candidate:
            names.append(stripped)
    return names


def _price_from(fields: Any, origin: str, model: str, default_as_of: str) -> ModelPrice:
    if not isinstance(fields, dict):
        raise ConfigurationError(f"{origin}: model {model!r} must be a table of prices")
    values: dict[str, float | None] = {}
    for name in _PRICE_FIELDS:
        value = fields.get(name)
        if value is None:
            if name in ("input", "output"):
                raise ConfigurationError(f"{origin}: model {model!r} needs {name!r} (USD per 1M)")
            values[name] = None
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigurationError(
                f"{origin}: model {model!r} field {name!r} must be a number >= 0, got {value!r}"
            )
        values[name] = float(value)
    unknown = set(fields) - set(_PRICE_FIELDS) - {"source", "as_of", "long_context"}
    if unknown:
        raise ConfigurationError(
            f"{origin}: model {model!r} has unknown field(s) {sorted(unknown)}; "
            f"allowed: {', '.join(_PRICE_FIELDS)}, source, as_of, long_context"
        )
    tier: ModelPrice | None = None
    above: int | None = None
    if "long_context" in fields:
        tier_fields = fields["long_context"]
        if not isinstance(tier_fields, dict):
            raise ConfigurationError(
                f"{origin}: model {model!r} long_context must be a table of prices with "
                "'above_prompt_tokens'"
            )
        above = tier_fields.get("above_prompt_tokens")
        if not isinstance(above, int) or isinstance(above, bool) or above < 0:
            raise ConfigurationError(
                f"{origin}: model {model!r} long_context needs 'above_prompt_tokens', an "
                f"integer >= 0, got {above!r}"
            )
        rest = {k: v for k, v in tier_fields.items() if k != "above_prompt_tokens"}
        rest.setdefault("source", fields.get("source", ""))
        rest.setdefault("as_of", fields.get("as_of", default_as_of))
        if "long_context" in rest:
            raise ConfigurationError(f"{origin}: model {model!r} long_context cannot nest")
        tier = _price_from(rest, origin, f"{model} (long context)", default_as_of)
    return ModelPrice(
        input=values["input"] or 0.0,
        output=values["output"] or 0.0,
        cached_input=values["cached_input"],
        cache_write=values["cache_write"],
        cache_write_1h=values["cache_write_1h"],
        source=str(fields.get("source", "")),
        as_of=str(fields.get("as_of", default_as_of)),
        long_context=tier,
        long_context_above=above,
    )


_default: PriceTable | None = None


def default_price_table() -> PriceTable:
    """The process-wide table: the bundled prices plus what was registered or loaded."""
    global _default
    if _default is None:
        _default = PriceTable.bundled()
    return _default


def register_price(model: str, price: ModelPrice) -> None:
    """Add or override a model's price in the default table."""
    default_price_table().register(model, price)


def load_prices(path: str | os.PathLike[str]) -> None:
    """Merge a TOML or JSON price file into the default table."""
    default_price_table().load_file(path)
