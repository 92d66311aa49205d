"""The in-process tier: an LRU ``OrderedDict`` of bytes with expiry times, bounded by entries and
by bytes.

An own structure rather than cachetools' TLRU: ~146 bytes of bookkeeping per entry against ~340
(a timer heap, an item object and a size table per entry), which keeps the tier within 1.2x of the
bytes it stores at a million entries (see the benchmarks' ``hot`` family). Expired entries are
dropped when read, by :meth:`MemoryBackend.keys`, or by a sweep when a full tier needs room: only
once an entry can have expired, and at most once per inserts numbering an eighth of the tier
(a sweep walks every entry; between sweeps the least recently used make room).
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
_FIRST_SWEEP = 1 << 62


class MemoryBackend(Backend):
    """Entries live in this process only; the least recently used go first when a bound is hit.

    Storing bytes (not objects) is what makes every hit a fresh object that the caller may mutate.
    """

    name = "memory"
    local = True
    same_bytes = True

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
        # The earliest expiry stored since the last sweep: a full tier sweeps for expired entries
        # only once one can have expired, so an insert into a full tier is not a walk of it all.
        self._soonest = _FOREVER
        # Inserts into a full tier since its last sweep: a sweep walks every entry, so the next one
        # waits for an eighth of them (meanwhile the least recently used make room, as always).
        self._full_inserts = _FIRST_SWEEP
        # Worker threads (a sync client wrapper, a to_thread sweep) may share the tier.
        self._lock = threading.Lock()

    async def get(self, key: str) -> bytes | None:
        return self.get_nowait(key)

    def get_nowait(self, key: str) -> bytes | None:
        # A hit takes no lock: each OrderedDict call is atomic under the GIL, and a store or an
        # eviction that removes the key meanwhile only makes the move a no-op.
        data = self._data
        found = data.get(key)
        if found is None:
            return None
        if found[1] <= _clock.now():
            with self._lock:
                if data.get(key) is found:
                    del data[key]
                    self._bytes -= len(found[0])
            return None
        try:  # noqa: SIM105 (contextlib.suppress would cost a context manager per hit)
            data.move_to_end(key)
        except KeyError:
            pass
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
                self._full_inserts += 1
                if self._full_inserts > len(data) // 8:
                    self._expire()
            while data and (
                len(data) >= self.max_entries or self._bytes + len(value) > self.max_bytes
            ):
                self._bytes -= len(data.popitem(last=False)[1][0])
            data[key] = (value, expires)
            self._bytes += len(value)
            if expires < self._soonest:
                self._soonest = expires

    def _expire(self) -> None:
        """Drop the expired entries, if any can have expired since the last sweep."""
        now = _clock.now()
        if self._soonest > now:
            return
        self._full_inserts = 0
        soonest = _FOREVER
        for key, (value, expires) in list(self._data.items()):
            if expires <= now:
                self._bytes -= len(value)
                del self._data[key]
            elif expires < soonest:
                soonest = expires
        self._soonest = soonest

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
            # list(): a snapshot taken in one call, as a lock-free hit may reorder the table.
            for k in [k for k in list(self._data) if k.startswith(prefix)]:
                value, expires = self._data.pop(k)
                self._bytes -= len(value)
                live += expires > now
        return live

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        with self._lock:
            self._expire()
            found = [k for k in list(self._data) if k.startswith(prefix)]
        for k in found:
            yield k

    def __len__(self) -> int:
        return len(self._data)
