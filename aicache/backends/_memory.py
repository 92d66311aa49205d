"""The in-process tier: a cachetools TLRU cache of bytes, bounded by entries and by bytes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

from cachetools import TLRUCache

from .. import _clock
from .._errors import ConfigError
from ._base import Backend

__all__ = ["MemoryBackend"]

_FOREVER = float("inf")


def _expires_at(_key: str, value: tuple[bytes, float], _now: float) -> float:
    return value[1]


def _size(value: tuple[bytes, float]) -> int:
    return len(value[0])


class MemoryBackend(Backend):
    """Entries live in this process only; the least recently used go first when a bound is hit.

    Storing bytes (not objects) is what makes every hit a fresh object that the caller may mutate.
    """

    name = "memory"
    local = True

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ConfigError(
                f"MemoryBackend needs max_entries >= 1 and max_bytes >= 1, not "
                f"max_entries={max_entries!r}, max_bytes={max_bytes!r}"
            )
        self.max_entries = max_entries
        self._data: TLRUCache[str, tuple[bytes, float]] = TLRUCache(
            maxsize=max_bytes, ttu=_expires_at, timer=lambda: _clock.now(), getsizeof=_size
        )
        # Worker threads (a sync client wrapper, a to_thread sweep) may share the tier.
        self._lock = threading.Lock()

    async def get(self, key: str) -> bytes | None:
        return self.get_nowait(key)

    def get_nowait(self, key: str) -> bytes | None:
        try:
            with self._lock:
                return self._data[key][0]
        except KeyError:
            return None

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if len(value) > self._data.maxsize:
            with self._lock:  # not storable here: at least stop serving the value it replaces
                self._data.pop(key, None)
            return
        expires = _FOREVER if ttl is None else _clock.now() + ttl
        with self._lock:
            if key not in self._data and len(self._data) >= self.max_entries:
                self._data.expire()
                while len(self._data) >= self.max_entries:
                    self._data.popitem()
            self._data[key] = (value, expires)

    async def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    async def clear(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for k in doomed:
                del self._data[k]
        return len(doomed)

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        with self._lock:
            self._data.expire()
            found = [k for k in self._data if k.startswith(prefix)]
        for k in found:
            yield k

    def __len__(self) -> int:
        return len(self._data)
