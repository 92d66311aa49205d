"""When an entry is fresh, servable while stale, or gone. Pure functions: no I/O, no clock."""

from __future__ import annotations

import enum
from datetime import timedelta

from ._envelope import Entry
from ._errors import ConfigError

__all__ = ["MAX_TTL", "Freshness", "freshness", "lifetimes", "seconds"]

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
