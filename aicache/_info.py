"""``cache_info(result)``: how aicache produced a value, without touching the value itself."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import _clock

__all__ = ["CacheInfo", "Origin", "cache_info", "remember"]

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


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value the cache returned came from; :func:`cache_info` reports it."""

    hit: bool
    tier: str | None  # the tier that served a hit ("coalesced" for a shared call); None: a call
    created: float  # when the call that produced the value ran (clock time)
    saved_usd: float | None
    key: str
    stale: bool = False
    coalesced: bool = False


# id() -> (value, origin). Holding the value keeps its id from being reused while listed; the
# oldest goes first. The CacheInfo is built only when asked for, to keep the hit path short.
_recent: OrderedDict[int, tuple[Any, Origin]] = OrderedDict()


def remember(value: Any, origin: Origin) -> None:
    """Note where ``value`` came from, for :func:`cache_info`."""
    if type(value) in _UNTRACKED:
        return
    _recent[id(value)] = (value, origin)
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
    o = found[1]
    return CacheInfo(
        o.hit,
        o.tier,
        max(0.0, _clock.now() - o.created),
        o.saved_usd if o.hit else 0.0,
        o.key,
        o.stale,
        o.coalesced,
    )
