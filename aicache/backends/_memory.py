"""The in-process tier: an LRU ``OrderedDict`` of bytes with expiry times, bounded by entries and
by bytes.

An own structure rather than cachetools' TLRU: ~146 bytes of bookkeeping per entry against ~340
(a timer heap, an item object and a size table per entry), which keeps the tier within 1.2x of the
bytes it stores at a million entries (see the benchmarks' ``hot`` family). Expired entries are
dropped when read, when their room is needed, or on a sweep by :meth:`MemoryBackend.keys`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator

from .. import _clock
from .._errors import ConfigError
from ._base import Backend

__all__ = ["MemoryBackend"]

_FOREVER = float("inf")


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
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest use first
        self._bytes = 0
        # Worker threads (a sync client wrapper, a to_thread sweep) may share the tier.
        self._lock = threading.Lock()

    async def get(self, key: str) -> bytes | None:
        return self.get_nowait(key)

    def get_nowait(self, key: str) -> bytes | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            if found[1] <= _clock.now():
                self._bytes -= len(self._data.pop(key)[0])
                return None
            self._data.move_to_end(key)
            return found[0]

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        expires = _FOREVER if ttl is None else _clock.now() + ttl
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            if len(value) > self.max_bytes:
                return  # not storable here: at least the value it replaces is gone
            data = self._data
            if len(data) >= self.max_entries or self._bytes + len(value) > self.max_bytes:
                self._expire()
            while data and (
                len(data) >= self.max_entries or self._bytes + len(value) > self.max_bytes
            ):
                self._bytes -= len(data.popitem(last=False)[1][0])
            data[key] = (value, expires)
            self._bytes += len(value)

    def _expire(self) -> None:
        now = _clock.now()
        for key in [k for k, (_, expires) in self._data.items() if expires <= now]:
            self._bytes -= len(self._data.pop(key)[0])

    async def delete(self, key: str) -> bool:
        with self._lock:
            old = self._data.pop(key, None)
            if old is None:
                return False
            self._bytes -= len(old[0])
            return old[1] > _clock.now()

    async def clear(self, prefix: str) -> int:
        """Remove the keys under ``prefix``; return how many of them were live."""
        now = _clock.now()
        live = 0
        with self._lock:
            for k in [k for k in self._data if k.startswith(prefix)]:
                value, expires = self._data.pop(k)
                self._bytes -= len(value)
                live += expires > now
        return live

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        with self._lock:
            self._expire()
            found = [k for k in self._data if k.startswith(prefix)]
        for k in found:
            yield k

    def __len__(self) -> int:
        return len(self._data)
