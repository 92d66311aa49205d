"""The cache core: look up, serve, or make one call for every concurrent caller and store it.

``AICache`` is what ``@ai_cached`` and the provider clients are built on, and it can be used
directly with keys made of plain parts. It owns a chain of tiers and the in-flight calls; the
policy (what is fresh, what to store) and the format (envelope, types) live in their own modules.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from . import _clock, _fleet, _stats
from ._chain import Chain, Lookup, Tier
from ._config import CacheConfig, get_config
from ._controls import switches
from ._envelope import BadEntry, Entry, TamperedEntry, decode, encode
from ._info import remember
from ._keys import KEY_PREFIX, check_function, check_name, make_key
from ._log import log, warn_once
from ._policy import Freshness, freshness, lifetimes, seconds
from ._types import UnknownType, UnstorableResult, dump_value, load_value
from .backends import BackendSpec, build_backends

if TYPE_CHECKING:
    from ._lease import Leases

__all__ = ["AICache", "Cost", "Policy"]

#: What a call cost: (USD or None if unknown, usage document or None).
Cost = tuple[float | None, dict[str, Any] | None]
_NO_COST: Cost = (None, None)
_MANUAL: _stats.Label = ("manual", "", "")


@dataclass(frozen=True, slots=True)
class Policy:
    """How the calls of one function (or one provider method and model) are cached."""

    label: _stats.Label
    ttl: float | None
    stale_ttl: float | None = None
    should_cache: Callable[[Any], bool] | None = None
    cost: Callable[[Any], Cost] | None = None
    lock: bool = False  # single-flight across processes through a Redis lease


_UNCOPYABLE = ("", b"")


@dataclass(slots=True)
class _Outcome:
    """What one real call (or another process's stored entry) produced."""

    value: Any
    entry: Entry | None  # None when the value was not stored
    _frozen: tuple[str | None, bytes] | None = None

    def copy(self) -> Any:
        """A fresh copy of the value for a caller that shared the call (the value itself when it
        cannot be copied). The value is serialised once, however many callers share it."""
        if self._frozen is None:
            try:
                entry = self.entry
                tag, payload = (entry.tag, entry.payload) if entry else dump_value(self.value)
                self._frozen = (tag, orjson.dumps(payload))
            except Exception:
                self._frozen = _UNCOPYABLE
        if self._frozen is _UNCOPYABLE:
            return self.value
        tag, data = self._frozen
        return load_value(tag, orjson.loads(data))


class _Flight:
    """One real call in progress, shared by every caller of the same key."""

    __slots__ = ("background", "task", "waiters")

    def __init__(self, task: asyncio.Future[_Outcome]) -> None:
        self.task = task
        self.waiters = 0
        self.background = (
            False  # a stale-while-revalidate refresh: callers are served the stale entry
        )


def _tokens(entry: Entry) -> dict[str, Any] | None:
    usage = entry.usage
    tokens = usage.get("tokens") if usage else None
    return tokens if type(tokens) is dict else None  # a stored entry may hold anything here


def _redis_tier(chain: Chain) -> Tier | None:
    """The chain's first Redis tier (whose server can hold leases), if any."""
    module = sys.modules.get("aicache.backends._redis")  # loaded if any RedisBackend exists
    if module is None:
        return None
    return next((t for t in chain.tiers if isinstance(t.backend, module.RedisBackend)), None)


class AICache:
    """A cache over a chain of tiers.

    ``AICache(CacheConfig(...))`` builds its tiers from the settings (``backend="auto"``: Redis
    when ``redis_url`` is set, then files, then memory). Use ``await cache.get(*parts)`` and
    ``await cache.set(*parts, value=...)`` for keys made of plain parts, or ``@ai_cached`` and
    ``cached_client`` which are built on :meth:`call`.
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        backend: BackendSpec = None,
        namespace: str | None = None,
    ) -> None:
        self.config = config or get_config()
        self.namespace = check_name("namespace", namespace or self.config.namespace)
        self.secret = self.config.secret
        self.chain = Chain(build_backends(backend, self.config), self.config.cooldown)
        self._flights: dict[str, _Flight] = {}
        self._lease_tier = _redis_tier(self.chain)
        self._leases: Leases | None = None
        _fleet.start()

    # -- keys made of parts -------------------------------------------------------------------

    def key(self, *parts: Any, **named: Any) -> str:
        """The key of a lookup by parts: ``aicache:<namespace>:manual:<sha256>``."""
        return make_key(self.namespace, "manual", {"parts": list(parts), "named": named})

    async def get(self, *parts: Any, default: Any = None) -> Any:
        """The fresh value stored under these parts, else ``default``."""
        key = self.key(*parts)
        if not switches()[0]:  # cache_control(read=False)
            _stats.miss(_MANUAL, bypass=True)
            return default
        found = await self.lookup(key, _MANUAL, allow_stale=False)
        if found is None:
            _stats.miss(_MANUAL)
            return default
        return found[0]

    async def set(
        self, *parts: Any, value: Any, ttl: float | None = None, cost: float | None = None
    ) -> bool:
        """Store ``value`` under these parts for ``ttl`` seconds (default: the configured ttl).

        Returns whether any tier stored it.
        """
        key = self.key(*parts)
        if not switches()[1]:  # cache_control(write=False)
            return False
        policy = Policy(_MANUAL, self.config.ttl if ttl is None else seconds("ttl", ttl))
        return await self.store(key, value, policy, duration=0.0, cost=(cost, None))

    async def delete(self, *parts: Any) -> bool:
        return await self.chain.delete(self.key(*parts))

    async def clear(self, function: str | None = None) -> int:
        """Remove this namespace's entries (or one function's) from every tier."""
        prefix = f"{KEY_PREFIX}:{self.namespace}:"
        if function is not None:
            prefix += f"{check_function('function', function)}:"
        return await self.chain.clear(prefix)

    def get_stats(self) -> dict[str, Any]:
        """The global stats snapshot (see :mod:`aicache.stats`)."""
        return _stats.snapshot()

    async def close(self) -> None:
        for flight in list(self._flights.values()):
            flight.task.cancel()
        if self._leases is not None:
            await self._leases.close()
        await self.chain.close()

    async def __aenter__(self) -> AICache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the core -----------------------------------------------------------------------------

    async def call(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        *,
        bypass: bool = False,
    ) -> Any:
        """Serve ``key`` from the tiers, or run ``fn`` once for all concurrent callers and store
        what it returns. ``bypass`` skips the lookup and refreshes the stored entry."""
        read, write = switches()
        if bypass or not read:
            return await self._join(key, fn, policy, write, fresh=True)
        flight = self._flight(key)
        if flight is not None and not flight.background:
            # The entry is on its way: a lookup now would miss and only add load (a stampede).
            return await self._join(key, fn, policy, write, fresh=False)
        found = await self.lookup(key, policy.label, allow_stale=True)
        if found is not None:
            value, stale = found
            if stale and write and self._flight(key) is None:
                self._start(key, fn, policy, write).background = True
            return value
        return await self._join(key, fn, policy, write, fresh=False)

    async def lookup(
        self, key: str, label: _stats.Label, *, allow_stale: bool
    ) -> tuple[Any, bool] | None:
        """``(value, stale)`` for a servable entry, counted as a hit; ``None`` otherwise."""
        read = await self._read(key, label)
        if read is None:
            return None
        value, entry, found = read
        now = _clock.now()
        state = freshness(entry, now)
        if state is not Freshness.FRESH and (state is Freshness.EXPIRED or not allow_stale):
            return None
        if found.missed:
            await self._backfill(key, found.data, entry, now, found.missed)
        stale = state is Freshness.STALE
        self._served(key, value, entry, found, label, stale)
        return value, stale

    async def _read(
        self, key: str, label: _stats.Label, tiers: Sequence[Tier] | None = None
    ) -> tuple[Any, Entry, Lookup] | None:
        """The first entry the tiers (or ``tiers``) hold for ``key``, opened: ``(value, entry,
        lookup)``. An entry that cannot be served is discarded and the tiers below it are read."""
        bad: tuple[Tier, ...] = ()  # tiers whose entry was discarded: back-filled like misses
        while True:
            found = await self.chain.get(key, tiers)
            for name in found.failed:
                _stats.error(label, name)
            if found.data is None or found.tier is None:
                return None
            try:
                entry = decode(key, found.data, self.secret, self.config.secret_previous)
                value = load_value(entry.tag, entry.payload)
            except Exception as exc:
                await self._discard(key, found.tier, label, exc)
                every = self.chain.tiers if tiers is None else tiers
                tiers = every[every.index(found.tier) + 1 :]
                if not tiers:
                    return None
                bad += () if isinstance(exc, UnknownType) else (found.tier,)
                continue
            if bad:
                found = Lookup(found.data, found.tier, (*bad, *found.missed), found.failed)
            return value, entry, found

    @staticmethod
    def _served(
        key: str, value: Any, entry: Entry, found: Lookup, label: _stats.Label, stale: bool
    ) -> None:
        """Count a hit and remember where ``value`` came from."""
        tier = found.tier.name if found.tier else "?"
        _stats.hit(label, tier, entry.cost, entry.duration, _tokens(entry), stale=stale)
        remember(value, True, tier, entry.created, entry.cost, key, stale)

    async def _discard(self, key: str, tier: Tier, label: _stats.Label, exc: Exception) -> None:
        """An entry that cannot be served: unknown type (kept), or bad (counted and deleted)."""
        if isinstance(exc, UnknownType):
            warn_once(
                f"type:{exc}",
                "aicache: an entry holds a %s, which this process has not registered; treating "
                "it as a miss (call aicache.register_type, or import the provider module)",
                exc,
            )
            return
        if isinstance(exc, BadEntry):
            reason = "tampered" if isinstance(exc, TamperedEntry) else "corrupt"
        else:  # a registered type refused the stored data
            reason = f"unreadable ({type(exc).__name__})"
        _stats.error(label, tier.name, tampered=reason == "tampered")
        warn_once(
            f"bad:{tier.name}:{reason}",
            "aicache: %s entry in tier %s; deleting it (%s)",
            reason,
            tier.name,
            key,
        )
        await self.chain.delete(key, [tier])

    async def _backfill(
        self, key: str, data: bytes | None, entry: Entry, now: float, tiers: Sequence[Tier]
    ) -> None:
        """Copy an entry served by a lower tier into ``tiers`` above it (which missed it or held a
        stale copy), for what is left of its lifetime."""
        end = entry.stale_until or entry.expires
        ttl = None if end is None else end - now
        if data is not None and (ttl is None or ttl > 0):
            await self.chain.set(key, data, ttl, tiers)

    async def _join(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        write: bool,
        *,
        fresh: bool,
    ) -> Any:
        flight = None if fresh else self._flight(key)
        leader = flight is None
        if flight is None:
            _stats.miss(policy.label, bypass=fresh)
            flight = self._start(key, fn, policy, write, fresh)
        flight.waiters += 1
        try:
            outcome = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                # The last caller gave up: stop the call rather than let it run for nobody.
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1
        if leader:
            remember(outcome.value, False, None, _clock.now(), 0.0, key)
            return outcome.value
        return self._share(key, outcome, policy)

    def _flight(self, key: str) -> _Flight | None:
        """The call in flight for ``key`` on this event loop (a cache may serve several loops)."""
        flight = self._flights.get(key)
        if flight is None or flight.task.get_loop() is not asyncio.get_running_loop():
            return None
        return flight

    def _share(self, key: str, outcome: _Outcome, policy: Policy) -> Any:
        """A coalesced caller's copy of the leader's result, counted as a hit it did not pay for
        (when the result was stored; a result that was not is still each caller's own copy)."""
        _stats.count(policy.label, "coalesced")
        value = outcome.copy()
        entry = outcome.entry
        if entry is not None:
            _stats.hit(policy.label, "coalesced", entry.cost, entry.duration, _tokens(entry))
            remember(value, True, "coalesced", entry.created, entry.cost, key, coalesced=True)
        return value

    def _start(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        write: bool,
        fresh: bool = False,
    ) -> _Flight:
        flight = _Flight(asyncio.ensure_future(self._run(key, fn, policy, write, fresh)))
        self._flights[key] = flight
        flight.task.add_done_callback(functools.partial(self._landed, key, flight, policy))
        return flight

    def _landed(
        self, key: str, flight: _Flight, policy: Policy, task: asyncio.Future[_Outcome]
    ) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if task.cancelled():
            return
        exc = task.exception()  # also marks it retrieved when nobody waited (a refresh)
        if exc is not None and flight.waiters == 0:
            _stats.count(policy.label, "refresh_failures")
            log.warning(
                "aicache: background refresh of %s failed: %r; the stale entry stays", key, exc
            )

    async def _run(
        self, key: str, fn: Callable[[], Awaitable[Any]], policy: Policy, write: bool, fresh: bool
    ) -> _Outcome:
        make = functools.partial(self._make, key, fn, policy, write)
        if fresh:
            return await make()  # a bypass wants a call of its own
        return await self._call(key, make, policy, write)

    async def _make(
        self, key: str, fn: Callable[[], Awaitable[Any]], policy: Policy, write: bool
    ) -> _Outcome:
        """Call ``fn``, count what it cost, and store its result."""
        started = _clock.monotonic()
        try:
            value = await fn()
        except Exception:
            _stats.count(policy.label, "failures")
            raise
        duration = _clock.monotonic() - started
        cost = self._cost(value, policy)
        _stats.spent(policy.label, cost[0], cost[1].get("tokens") if cost[1] else None)
        if not (write and self._worth_storing(value, policy)):
            return _Outcome(value, None)
        encoded = self._encode(key, value, policy, duration, cost)
        if encoded is None:
            return _Outcome(value, None)
        entry, data, ttl = encoded
        await self._write(key, data, ttl, policy.label)
        return _Outcome(value, entry)

    async def _call(
        self, key: str, make: Callable[[], Awaitable[_Outcome]], policy: Policy, write: bool
    ) -> _Outcome:
        """``make()`` unless the entry has landed meanwhile.

        A caller's lookup may miss, then take long enough (a busy Redis) for the flight it
        missed to store and land before this flight starts: so look once more first. With
        ``policy.lock``, that and ``make()`` happen under a Redis lease, so that one process
        makes the call while the others wait for its entry.
        """
        stored = functools.partial(self._stored, key, policy.label)
        # A result that is not stored cannot be shared across processes.
        leases = self._lease_manager() if policy.lock and write else None
        if leases is None:
            found = await stored()
            return found if found is not None else await make()
        outcome, waited = await leases.run(key, make, stored)
        if waited:
            _stats.count(policy.label, "lock_waits")
        return outcome

    def _lease_manager(self) -> Leases | None:
        """Leases over the chain's Redis tier while its breaker is closed, else ``None``."""
        tier = self._lease_tier
        if tier is None or not tier.breaker.closed:
            return None
        if self._leases is None:
            from ._lease import Leases

            self._leases = Leases(
                tier.backend.client,  # type: ignore[attr-defined]
                lease=self.config.lock_lease,
                wait=self.config.lock_wait,
                failed=tier.breaker.failure,
            )
        return self._leases

    async def _stored(self, key: str, label: _stats.Label) -> _Outcome | None:
        """The fresh entry another caller stored for ``key``, counted as a hit; else ``None``.

        Unlike :meth:`lookup` it looks past a stale copy (this process's memory tier, say) for a
        fresh entry another process stored in a tier below, and copies that over the stale ones.
        """
        tiers = self.chain.tiers
        while tiers:
            read = await self._read(key, label, tiers)
            if read is None:
                return None
            value, entry, found = read
            assert found.tier is not None
            now = _clock.now()
            if freshness(entry, now) is Freshness.FRESH:
                above = self.chain.tiers[: self.chain.tiers.index(found.tier)]
                if above:
                    await self._backfill(key, found.data, entry, now, above)
                self._served(key, value, entry, found, label, stale=False)
                return _Outcome(value, entry)
            tiers = tiers[tiers.index(found.tier) + 1 :]
        return None

    def _cost(self, value: Any, policy: Policy) -> Cost:
        if policy.cost is None:
            return _NO_COST
        try:
            return policy.cost(value)
        except Exception as exc:
            warn_once(f"cost:{policy.label}", "aicache: pricing %s failed: %r", policy.label, exc)
            return _NO_COST

    def _worth_storing(self, value: Any, policy: Policy) -> bool:
        if policy.should_cache is None:
            return True
        try:
            if policy.should_cache(value):
                return True
        except Exception:
            log.exception("aicache: should_cache of %s raised; not storing", policy.label[0])
        _stats.count(policy.label, "not_stored")
        return False

    async def store(
        self, key: str, value: Any, policy: Policy, duration: float, cost: Cost
    ) -> bool:
        """Encode ``value`` and write it to every healthy tier; return whether any stored it."""
        encoded = self._encode(key, value, policy, duration, cost)
        return encoded is not None and await self._write(key, encoded[1], encoded[2], policy.label)

    def _encode(
        self, key: str, value: Any, policy: Policy, duration: float, cost: Cost
    ) -> tuple[Entry, bytes, float | None] | None:
        """``(entry, stored bytes, storage ttl)``, or ``None`` (logged, counted) if not storable."""
        name = policy.label[0]
        try:
            tag, payload = dump_value(value)
            now = _clock.now()
            expires, stale_until, storage_ttl = lifetimes(now, policy.ttl, policy.stale_ttl)
            entry = Entry(payload, tag, now, expires, stale_until, duration, cost[0], cost[1])
            data = encode(key, entry, self.secret)
        except (UnstorableResult, TypeError, orjson.JSONEncodeError) as exc:
            warn_once(f"unstorable:{name}:{type(value)}", "aicache: %s: not caching: %s", name, exc)
            _stats.count(policy.label, "not_stored")
            return None
        if len(data) > self.config.max_entry_bytes:
            warn_once(
                f"size:{name}",
                "aicache: an entry of %s is %d bytes, over max_entry_bytes=%d; not storing it",
                name,
                len(data),
                self.config.max_entry_bytes,
            )
            _stats.count(policy.label, "not_stored")
            return None
        return entry, data, storage_ttl

    async def _write(self, key: str, data: bytes, ttl: float | None, label: _stats.Label) -> bool:
        stored, failed = await self.chain.set(key, data, ttl)
        for name in failed:
            _stats.error(label, name)
        if stored:
            _stats.count(label, "stores")
        return bool(stored)
