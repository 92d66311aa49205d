"""``cache_info(result)``: how aicache produced a value, without touching the value itself."""

from __future__ import annotations

import sys
import weakref
from collections import deque
from typing import Any, NamedTuple

from . import _clock

__all__ = ["CacheInfo", "cache_info", "remember"]

_LIMIT = 512
#: The most bytes of returned values kept alive for ``cache_info`` (by their stored size).
_MAX_HELD = 32 * 1024 * 1024
# Plain scalars are shared objects (None, True, small ints, interned strings): nothing to attach.
_UNTRACKED = frozenset({type(None), bool, int, float, str, bytes})


class CacheInfo(NamedTuple):
    """How aicache produced one value."""

    hit: bool
    tier: str | None  # the tier that served a hit; None for a fresh call
    age_s: float  # seconds since the call that produced the value ran
    saved_usd: float | None  # the price of the call a hit replaced; None if unknown
    key: str
    stale: bool = False  # served after its ttl while a refresh runs
    coalesced: bool = False  # shared another caller's in-flight call


_Record = tuple[Any, int, bool, str | None, float, float | None, str, bool, bool]

# (holder, size, hit, tier, created, saved_usd, key, stale, coalesced), newest last, from
# remember(). The holder is a weak reference when the value's type allows one (models, most
# objects): it keeps nothing alive. A dict or a list cannot be referred to weakly, so it is held,
# and counted by its stored size: the oldest go first past _LIMIT records or _MAX_HELD bytes.
# Records are found by identity, newest first, only when cache_info() asks (usually for the
# result just returned: the newest): a hit pays an append and no index, no callback, no CacheInfo.
_recent: deque[_Record] = deque()
_held = 0


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
    size: int = -1,
) -> None:
    """Note where ``value`` came from, for :func:`cache_info`: a hit served by ``tier`` (or
    ``"coalesced"``: a shared call), or with ``hit=False`` a call of its own, made at ``created``.
    ``size`` is its stored size in bytes (``-1``: unknown, estimated shallowly).
    """
    global _held
    kind = type(value)
    if kind in _UNTRACKED:
        return
    if kind.__weakrefoffset__:
        holder: Any = weakref.ref(value)
        size = 0
    else:
        holder = value
        if size < 0:
            size = sys.getsizeof(value)
    recent = _recent
    recent.append((holder, size, hit, tier, created, saved_usd, key, stale, coalesced))
    _held += size
    while len(recent) > _LIMIT or _held > _MAX_HELD:
        try:  # another thread may have evicted it first
            _held -= recent.popleft()[1]
        except IndexError:
            break


def cache_info(value: Any) -> CacheInfo | None:
    """What aicache knows of a value it returned recently: hit or not, tier, age, dollars saved.

    ``None`` for an object aicache never returned, for scalars (``None``, numbers, strings) and
    for values older than the last few hundred results.
    """
    if type(value) in _UNTRACKED:
        return None
    try:
        found = _find(value, _recent)
    except RuntimeError:  # another thread appended meanwhile: look through a copy
        found = _find(value, _recent.copy())
    if found is None:
        return None
    _, _, hit, tier, created, saved, key, stale, coalesced = found
    return CacheInfo(
        hit, tier, max(0.0, _clock.now() - created), saved if hit else 0.0, key, stale, coalesced
    )


def _find(value: Any, records: deque[_Record]) -> _Record | None:
    """The newest record of ``value`` itself (by identity, never by equality)."""
    for found in reversed(records):
        holder = found[0]
        if holder is value or (type(holder) is weakref.ref and holder() is value):
            return found
    return None
