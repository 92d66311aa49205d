"""Dollars per token: a dated table of list prices per provider and model, overridable.

The built-in table is ``aicache/prices.json`` (USD per million tokens, each figure with its source
and the date it was read). A JSON file named by ``AI_CACHE_PRICES`` (setting ``prices_file``) and
:func:`set_prices` add models or replace figures. Dated snapshots and aliases resolve to their
family (``gpt-4o-2024-08-06`` -> ``gpt-4o``, ``claude-sonnet-4-5-20250929`` ->
``claude-sonnet-4-5``); a model the table does not know has no price (``None``), never zero.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ._config import generation, get_config
from ._errors import ConfigError
from ._log import warn_once

__all__ = [
    "Price",
    "add_model_prefixes",
    "cost_of",
    "price_for",
    "prices_date",
    "set_prices",
]

_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model. Missing cache rates fall back to ``input``.

    ``long_context``: ``(threshold, price)``, the rates of a call whose prompt (input, cached
    and cache-written tokens together) exceeds ``threshold`` tokens.
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    long_context: tuple[int, Price] | None = None

    def cost(self, tokens: Mapping[str, Any]) -> float:
        """USD of a call that used ``tokens`` (see :data:`aicache.providers._base.Tokens`)."""
        fresh, cached, written = (
            int(tokens.get(k) or 0) for k in ("input", "cached_input", "cache_write")
        )
        rates = self
        if self.long_context is not None and fresh + cached + written > self.long_context[0]:
            rates = self.long_context[1]
        read_rate = rates.input if rates.cached_input is None else rates.cached_input
        write_rate = rates.input if rates.cache_write is None else rates.cache_write
        usd = (
            fresh * rates.input
            + cached * read_rate
            + written * write_rate
            + int(tokens.get("output") or 0) * rates.output
        )
        return usd / _MTOK


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{where} must be a number of USD per million tokens >= 0, not {value!r}")
    return float(value)


def _price(where: str, doc: Any) -> Price:
    if isinstance(doc, Price):
        return doc
    if not isinstance(doc, Mapping) or "input" not in doc or "output" not in doc:
        raise ConfigError(f"{where} must be an object with at least 'input' and 'output' prices")
    optional = {
        k: _number(f"{where}.{k}", doc[k])
        for k in ("cached_input", "cache_write")
        if doc.get(k) is not None
    }
    long = doc.get("long_context")
    tier = None
    if long is not None:
        above = long.get("above") if isinstance(long, Mapping) else None
        if isinstance(above, bool) or not isinstance(above, int) or above < 1:
            raise ConfigError(f"{where}.long_context needs 'above': a number of prompt tokens")
        tier = (above, _price(f"{where}.long_context", long))
    return Price(
        _number(f"{where}.input", doc["input"]),
        _number(f"{where}.output", doc["output"]),
        optional.get("cached_input"),
        optional.get("cache_write"),
        tier,
    )


class _Table:
    """Prices and aliases of every provider."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Price]] = {}
        self.aliases: dict[str, dict[str, str]] = {}
        self.date = ""

    def merge(self, doc: Any, origin: str) -> None:
        """Add a prices document: ``{"providers": {p: {"models": ..., "aliases": ...}}}`` or
        the short form ``{p: {model: price}}``."""
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{origin} must hold a JSON object of providers")
        providers = doc.get("providers", doc)
        if not isinstance(providers, Mapping):
            raise ConfigError(f"{origin}: 'providers' must be an object")
        if isinstance(doc.get("date"), str):
            self.date = doc["date"]
        for provider, entry in providers.items():
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{origin}: {provider} must map model names to prices")
            long_form = "models" in entry
            models = entry["models"] if long_form else entry
            aliases = (entry.get("aliases") or {}) if long_form else {}
            table = self.models.setdefault(str(provider), {})
            for name, price in models.items():
                table[str(name).lower()] = _price(f"{origin}: {provider}.{name}", price)
            self.aliases.setdefault(str(provider), {}).update(
                {str(k).lower(): str(v).lower() for k, v in aliases.items()}
            )

    def find(self, provider: str, model: str) -> Price | None:
        models = self.models.get(provider)
        if not models or not model:
            return None
        aliases = self.aliases.get(provider, {})
        name = _PREFIX.sub("", model.strip().lower())
        for _ in range(8):  # a few steps: alias -> family, snapshot suffix -> family
            if name in models:
                return models[name]
            if name in aliases:
                name = aliases[name]
                continue
            stripped = _SUFFIX.sub("", name, count=1)
            if stripped == name:
                return None
            name = stripped
        return None


# Routing prefixes (Gemini resource names, Bedrock and gateway "vendor/" or "vendor." ids).
# Path forms of model ids (Gemini "models/...", Vertex "publishers/google/models/...") and the
# vendor prefixes ("openai/gpt-4o", "anthropic.claude-...") the provider table registers.
_lock = threading.Lock()
_vendors: list[str] = []
_PREFIX = re.compile(r"^(models/|publishers/[^/]+/models/)")


def add_model_prefixes(*vendors: str) -> None:
    """Let model ids start with ``vendor/`` or ``vendor.`` (``openai/gpt-4o``): the price look-up
    drops the prefix. Called by the provider table for each provider's vendor names."""
    global _PREFIX
    with _lock:
        _vendors.extend(v for v in vendors if v not in _vendors)
        names = "|".join(re.escape(v) for v in _vendors)
        _PREFIX = re.compile(rf"^(models/|publishers/[^/]+/models/|({names})[./])")


# One snapshot marker at the end of a model id: Bedrock "-v1:0", Vertex "@20250514", OpenAI
# "-2024-08-06", Anthropic "-20250929", "-latest", Gemini "-001". Previews and experiments are
# not snapshots (their prices differ): they resolve only through the table's aliases.
_SUFFIX = re.compile(r"(-v\d+:\d+|@[\w.-]+|-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-\d{3})$")

_overrides: list[tuple[Any, str]] = []
_state: tuple[int, int, _Table] | None = None
_version = 0


def _builtin() -> Any:
    return json.loads(resources.files("aicache").joinpath("prices.json").read_text("utf-8"))


def _read(path: Path, origin: str) -> Any:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{origin}: cannot read prices from {path}: {exc}") from None


def _table() -> _Table:
    global _state
    gen = generation()
    state = _state
    if state is not None and state[0] == gen and state[1] == _version:
        return state[2]
    with _lock:
        table = _Table()
        table.merge(_builtin(), "aicache/prices.json")
        path = get_config().prices_file
        if path is not None:
            try:
                table.merge(_read(path, "AI_CACHE_PRICES"), f"AI_CACHE_PRICES={path}")
            except ConfigError as exc:
                # Pricing must never fail a call: report once, keep the built-in figures.
                warn_once(f"prices:{path}", "aicache: %s; using the built-in prices", exc)
        for doc, origin in _overrides:
            table.merge(doc, origin)
        _state = (gen, _version, table)
        return table


def set_prices(prices: Mapping[str, Any] | str | Path | None = None) -> None:
    """Add or replace prices (USD per million tokens), on top of the built-in table and the
    ``AI_CACHE_PRICES`` file; ``None`` drops everything set here before.

    ``prices`` is a JSON file path or a mapping, e.g.
    ``{"openai": {"ft:gpt-4o-mini:acme": {"input": 0.3, "output": 1.2, "cached_input": 0.15}}}``.
    A malformed document raises :class:`aicache.ConfigError`.
    """
    global _version
    if prices is None:
        docs: list[tuple[Any, str]] = []
    else:
        origin = "set_prices()"
        doc = _read(Path(prices), origin) if isinstance(prices, str | Path) else prices
        _Table().merge(doc, origin)  # validate before anything changes
        docs = [*_overrides, (doc, origin)]
    with _lock:
        _overrides[:] = docs
        _version += 1


def price_for(provider: str, model: str) -> Price | None:
    """The price of ``model`` (a family, alias or dated snapshot), or ``None`` if unknown."""
    return _table().find(provider, model)


def cost_of(provider: str, model: str, tokens: Mapping[str, Any]) -> float | None:
    """USD of a call that used ``tokens``, or ``None`` when the model's price is unknown."""
    price = price_for(provider, model)
    return None if price is None else price.cost(tokens)


def prices_date() -> str:
    """The date the built-in (or last loaded) prices were read from the providers' pages."""
    return _table().date
