"""What the cache decides: how a function's calls are cached, whether an entry is fresh, stale or
gone, whether to serve it, refresh it, copy it up or store a result. Pure functions: no I/O, no
clock, no event loop; the core (``_cache.py``) acts on what they say.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._envelope import Entry
from ._errors import ConfigError
from ._stats import Label

__all__ = [
    "MAX_TTL",
    "Cost",
    "Freshness",
    "Policy",
    "backfill_ttl",
    "freshness",
    "lifetimes",
    "refresh_in_background",
    "seconds",
    "servable",
    "worth_storing",
]

#: What a call cost: (USD or None if unknown, usage document or None).
Cost = tuple[float | None, dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Policy:
    """How the calls of one function (or one provider method and model) are cached."""

    label: Label
    ttl: float | None
    stale_ttl: float | None = None
    should_cache: Callable[[Any], bool] | None = None
    cost: Callable[[Any], Cost] | None = None
    lock: bool = False  # single-flight across processes, through a tier that lends leases


#: The longest ``ttl`` or ``stale_ttl``: 100 years. Longer ones overflow Redis's expiry time
#: (``value is not an integer or out of range``); ``None`` keeps an entry until it is evicted.
MAX_TTL = 100 * 365.25 * 86400


class Freshness(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"  # past its ttl, inside stale_ttl: serve it and refresh in the background
    EXPIRED = "expired"


def freshness(entry: Entry, now: float) -> Freshness:
    if entry.expires is None or now < entry.expires:
        return Freshness.FRESH
    if entry.stale_until is not None and now < entry.stale_until:
        return Freshness.STALE
    return Freshness.EXPIRED


def servable(state: Freshness, allow_stale: bool) -> bool:
    """Whether an entry in ``state`` may be served (a stale one only where stale is allowed)."""
    return state is Freshness.FRESH or (allow_stale and state is Freshness.STALE)


def refresh_in_background(write: bool, in_flight: bool) -> bool:
    """Whether serving a stale entry should start a refresh: only if results may be stored and
    no call for the key is already on its way."""
    return write and not in_flight


def backfill_ttl(entry: Entry, now: float) -> tuple[bool, float | None]:
    """``(copy, ttl)``: whether a copy of ``entry`` made at ``now`` is worth writing to the tiers
    above the one that served it, and for how long (what is left of its lifetime, stale window
    included; ``None``: until evicted)."""
    end = entry.stale_until or entry.expires
    if end is None:
        return True, None
    return end > now, end - now


def worth_storing(value: Any, policy: Policy) -> bool:
    """Whether ``policy.should_cache`` accepts ``value`` (its own exception propagates)."""
    return policy.should_cache is None or bool(policy.should_cache(value))


def lifetimes(
    now: float, ttl: float | None, stale_ttl: float | None
) -> tuple[float | None, float | None, float | None]:
    """``(expires, stale_until, storage_ttl)`` for an entry stored at ``now``.

    Tiers keep an entry for its ttl plus its stale window; freshness is judged from the entry.
    """
    if ttl is None:
        return None, None, None
    expires = now + ttl
    if not stale_ttl:
        return expires, None, ttl
    return expires, expires + stale_ttl, ttl + stale_ttl


def seconds(name: str, value: float | timedelta | None, *, allow_none: bool = True) -> float | None:
    """Validate a duration option given as seconds or a ``timedelta``."""
    if value is None:
        if allow_none:
            return None
        raise ConfigError(f"{name} must be a number of seconds or a timedelta, not None")
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_TTL  # an infinite ttl is None ("until evicted")
    ):
        forever = " (or None: until evicted)" if allow_none else ""
        raise ConfigError(
            f"{name} must be a positive number of seconds up to {MAX_TTL:.0f} (100 years) or a "
            f"timedelta{forever}, not {value!r}"
        )
    return float(value)
