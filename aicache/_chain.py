"""Tiers in order, each behind a circuit breaker. Bytes in, bytes out.

A tier that raises or times out is skipped (its breaker opens) and the next one answers; no
backend error ever leaves the chain. Stores go to every tier whose breaker is closed. What an
error means depends on its kind:

- :class:`EntryError` (one entry is unusable: a Redis key of another type, a directory where an
  entry file belongs) is a miss for that key only; the next store overwrites it.
- :class:`WriteRefused` (a full disk, Redis out of memory) holds the tier's stores back for a
  cool-down; its reads go on.
- Anything else (refused connection, timeout, disk error) is the tier's: its breaker opens.

A tier that missed a store or a delete of a key (skipped while its breaker was open, or failed)
holds an older entry, or one that should be gone: it is not read for that key again until a store
reaches it, and when its breaker closes those keys are deleted from it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._breaker import Breaker
from ._errors import EntryError, WriteRefused
from ._log import log, warn_once
from .backends import WOULD_BLOCK, Backend

__all__ = ["Chain", "Lookup", "Tier"]

#: Keys a tier may be remembered to be behind on; past that the oldest are forgotten (logged).
MAX_BEHIND = 100_000


@dataclass(slots=True)
class Tier:
    backend: Backend
    breaker: Breaker
    #: Keys whose last store or delete this tier missed, oldest first.
    behind: OrderedDict[str, None] = field(default_factory=OrderedDict)
    #: Prefixes whose clear this tier missed.
    behind_prefixes: set[str] = field(default_factory=set)
    #: The key whose delete a repair is waiting for: no store may race it.
    repairing: str | None = None

    @property
    def name(self) -> str:
        return self.backend.name

    def is_behind(self, key: str) -> bool:
        """Whether this tier may hold an entry of ``key`` older than the one last stored."""
        if key in self.behind:
            return True
        return (
            any(key.startswith(p) for p in self.behind_prefixes) if self.behind_prefixes else False
        )

    def missed(self, key: str) -> None:
        self.behind[key] = None
        self.behind.move_to_end(key)
        if len(self.behind) > MAX_BEHIND:
            self.behind.popitem(last=False)
            warn_once(
                f"behind:{self.name}",
                "aicache: tier %s missed stores of more than %d keys; the oldest may serve an "
                "older entry when it is back",
                self.name,
                MAX_BEHIND,
            )

    def caught_up(self, key: str) -> None:
        self.behind.pop(key, None)


@dataclass(slots=True)
class Lookup:
    """What a read found: the bytes and the tier that served them, the healthy tiers that missed
    (candidates for a back-fill) and the names of the tiers that failed."""

    data: bytes | None
    tier: Tier | None
    missed: tuple[Tier, ...] = ()
    failed: tuple[str, ...] = ()


class _Read:
    """A read of the chain in progress: its loop, ``Chain.stores`` as it began, and the callers
    waiting to share what it finds."""

    __slots__ = ("loop", "stores", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, stores: int) -> None:
        self.loop = loop
        self.stores = stores
        self.waiting: list[asyncio.Future[Lookup | None]] = []

    def settle(self, found: Lookup | None) -> None:
        """Hand ``found`` to every caller still waiting (``None``: the reader was cancelled)."""
        for waiter in self.waiting:
            if not waiter.done():  # its caller gave up
                waiter.set_result(found)


_NOTHING = Lookup(None, None)
_ABSENT: tuple[None, None] = (None, None)


class Chain:
    def __init__(self, backends: Sequence[Backend], cooldown: float) -> None:
        if not backends:
            raise ValueError("a cache needs at least one backend")
        self.tiers = tuple(Tier(b, Breaker(b.name, cooldown)) for b in backends)
        #: Calls of :meth:`set` that have returned: a read begun when this was ``n`` has seen
        #: every entry stored before, so a miss may trust it while it is still ``n``.
        self.stores = 0
        # Reads of the whole chain in progress, when a tier is remote: concurrent callers of one
        # key (a stampede, a hot key) then share one round trip instead of sending one each.
        self._reads: dict[str, _Read] | None = None if all(b.local for b in backends) else {}
        self._repairs: set[asyncio.Task[None]] = set()

    async def get(self, key: str, tiers: Sequence[Tier] | None = None) -> Lookup:
        """The first of the healthy tiers (or of ``tiers``) that holds ``key``. It sees every
        entry stored (by :meth:`set`) before it was called."""
        reads = self._reads
        if reads is None or tiers is not None:
            return await self._get(key, self.tiers if tiers is None else tiers)
        loop = asyncio.get_running_loop()
        pending = reads.get(key)
        # A read begun before the last store returned may not see that entry: not shared.
        if pending is not None and pending.stores == self.stores and pending.loop is loop:
            waiter: asyncio.Future[Lookup | None] = loop.create_future()
            pending.waiting.append(waiter)
            found = await waiter
            if found is not None:
                # The bytes only: the reader alone counts failures and back-fills.
                return Lookup(found.data, found.tier)
            return await self._get(key, self.tiers)  # the reader was cancelled: read ourselves
        if pending is not None:  # older than a store, or on another event loop (thread)
            return await self._get(key, self.tiers)
        read = reads[key] = _Read(loop, self.stores)
        found = None
        try:
            found = await self._get(key, self.tiers)
            return found
        finally:
            del reads[key]
            if read.waiting:
                # On the loop's next turn: what the reader does next with a miss (start the
                # flight of a stampede) comes before the 999 others wake.
                loop.call_soon(read.settle, found)

    def peek(self, key: str) -> tuple[bytes, Tier] | tuple[None, None] | None:
        """:meth:`get` without suspending: ``(data, tier)`` when the first tier holds ``key``,
        ``(None, None)`` when every tier answered at once and none holds it, ``None`` when only
        :meth:`get` can tell (a tier that would await, failed, is open or behind on ``key``; or
        the entry is in a tier below one that missed it, which :meth:`get` copies up)."""
        first = True
        for tier in self.tiers:
            if tier.breaker.opened_at is not None or (
                (tier.behind or tier.behind_prefixes) and tier.is_behind(key)
            ):
                return None  # a probe, a skipped tier, a copy older than a store: get() decides
            try:
                data = tier.backend.get_nowait(key)
            except Exception:
                return None  # get() records the failure
            if data is None:
                first = False
                continue
            if data is WOULD_BLOCK or not first:
                return None
            return data, tier
        return _ABSENT

    async def _get(self, key: str, tiers: Sequence[Tier]) -> Lookup:
        missed: tuple[Tier, ...] = ()
        failed: tuple[str, ...] = ()
        for tier in tiers:
            if tier.is_behind(key):
                missed += (tier,)  # its copy is older than the last store: never served
                continue
            if not tier.breaker.allow():
                continue
            try:
                data = await tier.backend.get(key)
            except EntryError as exc:
                _entry_failed(tier, exc)
                failed += (tier.name,)
                missed += (tier,)  # the back-fill or the next store overwrites it
                continue
            except Exception as exc:
                self._failed(tier, exc)
                failed += (tier.name,)
                continue
            except BaseException:
                tier.breaker.probing = False
                raise
            self._worked(tier)
            if data is not None:
                return Lookup(data, tier, missed, failed)
            missed += (tier,)
        return Lookup(None, None, missed, failed) if missed or failed else _NOTHING

    async def set(
        self, key: str, data: bytes, ttl: float | None, tiers: Sequence[Tier] | None = None
    ) -> tuple[list[str], list[str]]:
        """Write to every healthy tier (or to ``tiers``); return (stored in, failed) tier names."""
        try:
            return await self._set(key, data, ttl, self.tiers if tiers is None else tiers)
        finally:
            self.stores += 1  # also when cancelled: a tier may hold the entry already

    async def _set(
        self, key: str, data: bytes, ttl: float | None, tiers: Sequence[Tier]
    ) -> tuple[list[str], list[str]]:
        stored: list[str] = []
        failed: list[str] = []
        for tier in tiers:
            if key == tier.repairing:
                continue  # being deleted from the tier: it will hold nothing older
            if not tier.breaker.writable() or not tier.breaker.allow():
                tier.missed(key)
                continue
            try:
                await tier.backend.set(key, data, ttl)
            except (EntryError, WriteRefused) as exc:
                if isinstance(exc, WriteRefused):
                    tier.breaker.write_refused(exc)
                else:
                    _entry_failed(tier, exc)
                failed.append(tier.name)
                await self._drop(tier, key)  # at least stop serving the entry it replaces
                continue
            except Exception as exc:
                self._failed(tier, exc)
                tier.missed(key)
                failed.append(tier.name)
                continue
            except BaseException:
                tier.breaker.probing = False
                tier.missed(key)
                raise
            tier.caught_up(key)
            self._worked(tier)
            stored.append(tier.name)
        return stored, failed

    async def delete(self, key: str, tiers: Sequence[Tier] | None = None) -> bool:
        """Remove ``key`` from every reachable tier; return whether any tier held it."""
        found = False
        for tier in self.tiers if tiers is None else tiers:
            if not tier.breaker.closed:
                tier.missed(key)  # deleted from it when it is back
                continue
            try:
                found = await tier.backend.delete(key) or found
            except Exception as exc:
                tier.missed(key)
                if not isinstance(exc, EntryError):
                    self._failed(tier, exc)
                continue
            tier.caught_up(key)
        return found

    async def clear(self, prefix: str) -> int:
        """Remove every key under ``prefix`` from every reachable tier; return the most any held."""
        most = 0
        for tier in self.tiers:
            try:
                most = max(most, await tier.backend.clear(prefix))
            except Exception as exc:
                tier.behind_prefixes.add(prefix)  # cleared when it is back
                self._failed(tier, exc)
        return most

    async def close(self) -> None:
        for task in list(self._repairs):
            task.cancel()
        for tier in self.tiers:
            try:
                await tier.backend.close()
            except Exception as exc:  # closing must not fail shutdown
                log.debug("aicache: closing tier %s failed: %r", tier.name, exc)

    # -- health ---------------------------------------------------------------------------------

    @staticmethod
    def _failed(tier: Tier, exc: Exception) -> None:
        tier.breaker.failure(exc)

    def _worked(self, tier: Tier) -> None:
        if tier.breaker.success() and (tier.behind or tier.behind_prefixes):
            task = asyncio.get_running_loop().create_task(self._repair(tier))
            self._repairs.add(task)
            task.add_done_callback(self._repairs.discard)

    async def _drop(self, tier: Tier, key: str) -> None:
        """Delete ``key`` from a tier that refused its store; else remember it is behind."""
        try:
            await tier.backend.delete(key)
        except Exception:
            tier.missed(key)
        else:
            tier.caught_up(key)

    async def _repair(self, tier: Tier) -> None:
        """A tier is back: delete what it missed the clearing, deleting or storing of."""
        for prefix in list(tier.behind_prefixes):
            try:
                await tier.backend.clear(prefix)
            except Exception as exc:
                self._failed(tier, exc)
                return
            tier.behind_prefixes.discard(prefix)
        for key in list(tier.behind):
            if key not in tier.behind or not tier.breaker.closed:
                continue
            tier.repairing = key
            try:
                await tier.backend.delete(key)
            except Exception as exc:
                if not isinstance(exc, EntryError):
                    self._failed(tier, exc)
                    return
            finally:
                tier.repairing = None
            tier.caught_up(key)


def _entry_failed(tier: Tier, exc: Exception) -> None:
    warn_once(
        f"entry:{tier.name}:{type(exc).__name__}",
        "aicache: tier %s cannot use one entry (%s); a miss for that key only",
        tier.name,
        exc,
    )
