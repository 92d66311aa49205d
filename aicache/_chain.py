"""Tiers in order, each behind a circuit breaker. Bytes in, bytes out.

A tier that raises or times out is skipped (its breaker opens) and the next one answers; no
backend error ever leaves the chain. Stores go to every tier whose breaker is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ._breaker import Breaker
from ._log import log
from .backends import WOULD_BLOCK, Backend

__all__ = ["Chain", "Lookup", "Tier"]


@dataclass(slots=True)
class Tier:
    backend: Backend
    breaker: Breaker

    @property
    def name(self) -> str:
        return self.backend.name


@dataclass(slots=True)
class Lookup:
    """What a read found: the bytes and the tier that served them, the healthy tiers that missed
    (candidates for a back-fill) and the names of the tiers that failed."""

    data: bytes | None
    tier: Tier | None
    missed: tuple[Tier, ...] = ()
    failed: tuple[str, ...] = ()


_NOTHING = Lookup(None, None)


class Chain:
    def __init__(self, backends: Sequence[Backend], cooldown: float) -> None:
        if not backends:
            raise ValueError("a cache needs at least one backend")
        self.tiers = tuple(Tier(b, Breaker(b.name, cooldown)) for b in backends)
        # Reads of the whole chain in progress, when a tier is remote: concurrent callers of one
        # key (a stampede, a hot key) then share one round trip instead of sending one each.
        self._reads: dict[str, asyncio.Future[Lookup | None]] | None = (
            None if all(b.local for b in backends) else {}
        )

    async def get(self, key: str, tiers: Sequence[Tier] | None = None) -> Lookup:
        """The first of the healthy tiers (or of ``tiers``) that holds ``key``."""
        reads = self._reads
        if reads is None or tiers is not None:
            return await self._get(key, self.tiers if tiers is None else tiers)
        loop = asyncio.get_running_loop()
        shared = reads.get(key)
        if shared is not None and shared.get_loop() is loop:
            found = await asyncio.shield(shared)
            if found is not None:
                # The bytes only: the reader alone counts failures and back-fills.
                return Lookup(found.data, found.tier)
            return await self._get(key, self.tiers)  # the reader was cancelled: read ourselves
        if shared is not None:  # a read on another event loop (another thread)
            return await self._get(key, self.tiers)
        shared = reads[key] = loop.create_future()
        found = None
        try:
            found = await self._get(key, self.tiers)
            return found
        finally:
            del reads[key]
            shared.set_result(found)

    def peek(self, key: str) -> Lookup | None:
        """:meth:`get` without suspending: ``None`` when a tier could answer only after an
        ``await`` (a remote tier, a large file) or failed; the caller then awaits :meth:`get`,
        which also records the failure."""
        missed: tuple[Tier, ...] = ()
        for tier in self.tiers:
            if not tier.breaker.closed:
                return None  # a probe, or a skipped tier: left to get()
            try:
                data = tier.backend.get_nowait(key)
            except Exception:
                return None
            if data is WOULD_BLOCK:
                return None
            if data is not None:
                return Lookup(data, tier, missed)
            missed += (tier,)
        return Lookup(None, None, missed)

    async def _get(self, key: str, tiers: Sequence[Tier]) -> Lookup:
        missed: tuple[Tier, ...] = ()
        failed: tuple[str, ...] = ()
        for tier in tiers:
            if not tier.breaker.allow():
                continue
            try:
                data = await tier.backend.get(key)
            except Exception as exc:
                tier.breaker.failure(exc)
                failed += (tier.name,)
                continue
            except BaseException:
                tier.breaker.probing = False
                raise
            tier.breaker.success()
            if data is not None:
                return Lookup(data, tier, missed, failed)
            missed += (tier,)
        return Lookup(None, None, missed, failed) if missed or failed else _NOTHING

    async def set(
        self, key: str, data: bytes, ttl: float | None, tiers: Sequence[Tier] | None = None
    ) -> tuple[list[str], list[str]]:
        """Write to every healthy tier (or to ``tiers``); return (stored in, failed) tier names."""
        stored: list[str] = []
        failed: list[str] = []
        for tier in self.tiers if tiers is None else tiers:
            if not tier.breaker.allow():
                continue
            try:
                await tier.backend.set(key, data, ttl)
            except Exception as exc:
                tier.breaker.failure(exc)
                failed.append(tier.name)
                continue
            except BaseException:
                tier.breaker.probing = False
                raise
            tier.breaker.success()
            stored.append(tier.name)
        return stored, failed

    async def delete(self, key: str, tiers: Sequence[Tier] | None = None) -> bool:
        """Remove ``key`` from every reachable tier; return whether any tier held it."""
        found = False
        for tier in self.tiers if tiers is None else tiers:
            try:
                found = await tier.backend.delete(key) or found
            except Exception as exc:
                tier.breaker.failure(exc)
        return found

    async def clear(self, prefix: str) -> int:
        """Remove every key under ``prefix`` from every reachable tier; return the most any held."""
        most = 0
        for tier in self.tiers:
            try:
                most = max(most, await tier.backend.clear(prefix))
            except Exception as exc:
                tier.breaker.failure(exc)
        return most

    async def close(self) -> None:
        for tier in self.tiers:
            try:
                await tier.backend.close()
            except Exception as exc:  # closing must not fail shutdown
                log.debug("aicache: closing tier %s failed: %r", tier.name, exc)
