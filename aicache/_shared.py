"""The caches that decorators and cached clients share, one per ``backend=`` spec."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from . import _fleet, _runner
from ._cache import AICache
from ._config import generation, get_config
from .backends import Backend, BackendSpec

__all__ = ["close", "lifespan", "shared_cache"]

_caches: dict[Hashable, tuple[int, AICache]] = {}
_retired: list[AICache] = []
_lock = threading.Lock()


def _spec_key(spec: BackendSpec) -> Hashable:
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, Backend):
        return id(spec)
    return tuple(item if isinstance(item, str) else id(item) for item in spec)


def shared_cache(spec: BackendSpec) -> AICache:
    """The cache for ``spec`` under the current settings, built on first use."""
    key = _spec_key(spec)
    gen = generation()
    found = _caches.get(key)
    if found is not None and found[0] == gen:
        return found[1]
    with _lock:
        found = _caches.get(key)
        if found is not None and found[0] == gen:
            return found[1]
        if found is not None:
            _retired.append(found[1])  # settings changed: closed by the next close()
        cache = AICache(get_config(), backend=spec)
        _caches[key] = (gen, cache)
        return cache


async def close() -> None:
    """Close every shared cache's tiers (connection pools, files). Safe to call twice."""
    with _lock:
        caches = [c for _, c in _caches.values()] + _retired
        _caches.clear()
        _retired.clear()
    for cache in caches:
        await cache.close()
    await asyncio.to_thread(_runner.stop)  # the sync callers' loop, restarted on next use
    await asyncio.to_thread(_fleet.flush)  # this process's counters, for `aicache stats`


@asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """``async with aicache.lifespan():`` closes the shared caches on the way out."""
    try:
        yield
    finally:
        await close()
