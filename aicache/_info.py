"""``cache_info(result)``: how aicache produced a value, without touching the value itself."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheInfo", "cache_info", "remember"]

_LIMIT = 512
# Plain scalars are shared objects (None, True, small ints, interned strings): nothing to attach.
_UNTRACKED = (type(None), bool, int, float, str, bytes)


@dataclass(frozen=True, slots=True)
class CacheInfo:
    hit: bool
    tier: str | None  # the tier that served a hit; None for a fresh call
    age_s: float  # seconds since the stored call ran (0 for a fresh call)
    saved_usd: float | None  # the price of the call a hit replaced; None if unknown
    key: str
    stale: bool = False  # served after its ttl while a refresh runs
    coalesced: bool = False  # shared another caller's in-flight call


# id() -> (value, info). Holding the value keeps its id from being reused while listed.
_recent: OrderedDict[int, tuple[Any, CacheInfo]] = OrderedDict()
_lock = threading.Lock()


def remember(value: Any, info: CacheInfo) -> None:
    if type(value) in _UNTRACKED:
        return
    with _lock:
        _recent[id(value)] = (value, info)
        if len(_recent) > _LIMIT:
            _recent.popitem(last=False)


def cache_info(value: Any) -> CacheInfo | None:
    """What aicache knows of a value it returned recently: hit or not, tier, age, dollars saved.

    ``None`` for an object aicache never returned, for scalars (``None``, numbers, strings) and
    for values older than the last few hundred results.
    """
    with _lock:
        found = _recent.get(id(value))
    if found is None or found[0] is not value:
        return None
    return found[1]
