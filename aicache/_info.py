"""``cache_info(result)``: how aicache produced a value, without touching the value itself."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any, NamedTuple

from . import _clock

__all__ = ["CacheInfo", "cache_info", "remember"]

_LIMIT = 512
# Plain scalars are shared objects (None, True, small ints, interned strings): nothing to attach.
_UNTRACKED = (type(None), bool, int, float, str, bytes)


class CacheInfo(NamedTuple):
    """How aicache produced one value."""

    hit: bool
    tier: str | None  # the tier that served a hit; None for a fresh call
    age_s: float  # seconds since the call that produced the value ran
    saved_usd: float | None  # the price of the call a hit replaced; None if unknown
    key: str
    stale: bool = False  # served after its ttl while a refresh runs
    coalesced: bool = False  # shared another caller's in-flight call


# id() -> (value, hit, tier, created, saved_usd, key, stale, coalesced), from remember().
# Holding the value keeps its id from being reused while listed; the oldest goes first. A plain
# tuple, private to this module, and the CacheInfo built only when asked for: this is the hit path
# (a frozen dataclass per hit measured twice the cost of this step).
_recent: OrderedDict[int, tuple[Any, bool, str | None, float, float | None, str, bool, bool]] = (
    OrderedDict()
)


def remember(
    value: Any,
    key: str,
    tier: str | None,
    created: float,
    saved_usd: float | None,
    *,
    hit: bool = True,
    stale: bool = False,
    coalesced: bool = False,
) -> None:
    """Note where ``value`` came from, for :func:`cache_info`: a hit served by ``tier`` (or
    ``"coalesced"``: a shared call), or with ``hit=False`` a call of its own, made at ``created``.
    """
    if type(value) in _UNTRACKED:
        return
    _recent[id(value)] = (value, hit, tier, created, saved_usd, key, stale, coalesced)
    if len(_recent) > _LIMIT:
        with contextlib.suppress(KeyError):  # another thread evicted it first
            _recent.popitem(last=False)


def cache_info(value: Any) -> CacheInfo | None:
    """What aicache knows of a value it returned recently: hit or not, tier, age, dollars saved.

    ``None`` for an object aicache never returned, for scalars (``None``, numbers, strings) and
    for values older than the last few hundred results.
    """
    found = _recent.get(id(value))
    if found is None or found[0] is not value:
        return None
    _, hit, tier, created, saved, key, stale, coalesced = found
    return CacheInfo(
        hit, tier, max(0.0, _clock.now() - created), saved if hit else 0.0, key, stale, coalesced
    )
