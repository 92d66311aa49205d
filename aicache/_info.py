"""``cache_info(result)``: how aicache produced a value, without touching the value itself."""

from __future__ import annotations

import contextlib
import functools
import sys
import weakref
from collections import OrderedDict
from typing import Any, NamedTuple

from . import _clock

__all__ = ["CacheInfo", "cache_info", "remember"]

_LIMIT = 512
#: The most bytes of returned values kept alive for ``cache_info`` (by their stored size).
_MAX_HELD = 32 * 1024 * 1024
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


_Record = tuple[Any, int, bool, str | None, float, float | None, str, bool, bool]

# id() -> (holder, size, hit, tier, created, saved_usd, key, stale, coalesced), from remember().
# The holder is a weak reference when the value's type allows one (models, most objects): it
# keeps nothing alive, and the record goes when the value does. A dict or a list cannot be
# referred to weakly, so it is held (which keeps its id from being reused while listed), and
# counted by its stored size: the oldest go first past _LIMIT records or _MAX_HELD bytes. A plain
# tuple, private to this module, and the CacheInfo built only when asked for: this is the hit path.
_recent: OrderedDict[int, _Record] = OrderedDict()
_held = 0


def _forget(ident: int, ref: weakref.ref[Any]) -> None:
    """A weakly held value died: its record goes (before its id can be reused)."""
    found = _recent.get(ident)
    if found is not None and found[0] is ref:
        with contextlib.suppress(KeyError):
            del _recent[ident]


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
    ident = id(value)
    if kind.__weakrefoffset__:
        holder: Any = weakref.ref(value, functools.partial(_forget, ident))
        size = 0
    else:
        holder = value
        if size < 0:
            size = sys.getsizeof(value)
    old = _recent.pop(ident, None)
    if old is not None:
        _held -= old[1]
    _recent[ident] = (holder, size, hit, tier, created, saved_usd, key, stale, coalesced)
    _held += size
    while len(_recent) > _LIMIT or _held > _MAX_HELD:
        try:  # another thread may have evicted it first
            _held -= _recent.popitem(last=False)[1][1]
        except KeyError:
            break


def cache_info(value: Any) -> CacheInfo | None:
    """What aicache knows of a value it returned recently: hit or not, tier, age, dollars saved.

    ``None`` for an object aicache never returned, for scalars (``None``, numbers, strings) and
    for values older than the last few hundred results.
    """
    found = _recent.get(id(value))
    if found is None:
        return None
    holder, _, hit, tier, created, saved, key, stale, coalesced = found
    if (holder() if type(holder) is weakref.ref else holder) is not value:
        return None
    return CacheInfo(
        hit, tier, max(0.0, _clock.now() - created), saved if hit else 0.0, key, stale, coalesced
    )
