"""The cache core: read, decide, serve or make one call for every concurrent caller, store.

``AICache`` is what ``@ai_cached`` and the provider clients are built on, and it can be used
directly with keys made of plain parts. It drives the pieces and counts what happens: the tiers
(``_chain``), the decisions (``_policy``), single-flight (``_flight``), the stored format
(``_envelope``, ``_codecs``), and cross-process leases from whichever tier lends them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import orjson

from . import _clock, _fleet, _stats
from ._chain import Chain, Lookup, Tier
from ._codecs import UnknownType, UnstorableResult, dump_value, load_value
from ._config import CacheConfig, get_config
from ._controls import overrides, switches
from ._envelope import (
    BadEntry,
    Entry,
    EntryTooLarge,
    TamperedEntry,
    decode,
    encode,
    payload_at,
    reload,
)
from ._errors import ReplayMiss
from ._flight import Flight, Flights, Outcome
from ._info import remember
from ._keys import KEY_PREFIX, canonical, check_function, check_name, make_key
from ._log import log, warn_once
from ._policy import (
    Cost,
    Freshness,
    Policy,
    backfill_ttl,
    freshness,
    lifetimes,
    refresh_in_background,
    seconds,
    servable,
    worth_storing,
)
from .backends import BackendSpec, Leases, build_backends

__all__ = ["MISS", "AICache"]

_NO_COST: Cost = (None, None)
_MANUAL: _stats.Label = ("manual", "", "")
_UNSET: Any = object()
#: Entries :meth:`AICache.peek` keeps opened (their bytes held: at most this many times
#: ``COMPRESS_OVER``, 16 KB, beyond what the tiers hold); past that it starts afresh.
_OPENED = 512
#: :meth:`AICache.peek`: every tier answered at once, and none holds the key.
MISS: tuple[()] = ()


def _tokens(entry: Entry) -> dict[str, Any] | None:
    usage = entry.usage
    tokens = usage.get("tokens") if usage else None
    return tokens if type(tokens) is dict else None  # a stored entry may hold anything here


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
        self._previous = self.config.secret_previous
        self._limit = self.config.max_entry_bytes
        #: Record mode: every stored entry keeps the request that made it.
        self.recording = self.config.mode == "record"
        self.replaying = self.config.mode == "replay"
        #: Whether callers should pass ``request=`` to :meth:`call`: to keep it, or to name it.
        self.wants_request = self.recording or self.replaying
        self.chain = Chain(build_backends(backend, self.config), self.config.cooldown)
        self.flights = Flights()
        # key -> (bytes, their entry without its payload, where the body starts): bytes a tier
        # hands back as the same object (memory) were decoded and checked once, under this
        # cache's secret; a hit of them only parses the body again, for a fresh copy.
        self._opened: dict[str, tuple[bytes, Entry, int]] = {}
        # (tier, its leases): found on the first call with lock=True; None when no tier lends any
        self._leases: tuple[Tier, Leases] | None = _UNSET
        _fleet.start()

    # -- keys made of parts -------------------------------------------------------------------

    def _namespace(self) -> str:
        """This cache's namespace, or the one ``cache_control(namespace=...)`` chose."""
        over = overrides()
        return self.namespace if over is None or over.namespace is None else over.namespace

    def key(self, *parts: Any, **named: Any) -> str:
        """The key of a lookup by parts: ``aicache:<namespace>:manual:<sha256>``."""
        return make_key(self._namespace(), "manual", {"parts": list(parts), "named": named})

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
        request = {"parts": list(parts)} if self.recording else None
        return await self.store(
            key, value, policy, duration=0.0, cost=(cost, None), request=request
        )

    async def delete(self, *parts: Any) -> bool:
        return await self.chain.delete(self.key(*parts))

    async def clear(self, function: str | None = None) -> int:
        """Remove this namespace's entries (or one function's) from every tier; inside
        ``cache_control(namespace=...)``, that namespace's. Other namespaces keep theirs."""
        prefix = f"{KEY_PREFIX}:{self._namespace()}:"
        if function is not None:
            prefix += f"{check_function('function', function)}:"
        return await self.chain.clear(prefix)

    def get_stats(self) -> dict[str, Any]:
        """The global stats snapshot (see :mod:`aicache.stats`)."""
        return _stats.snapshot()

    async def close(self) -> None:
        self.flights.cancel_all()
        if self._leases is not _UNSET and self._leases is not None:
            await self._leases[1].close()
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
        request: Any = None,
        refresh: Callable[[], Awaitable[Any]] | None = None,
        peeked: tuple[Any] | tuple[()] | None = _UNSET,
    ) -> Any:
        """Serve ``key`` from the tiers, or run ``fn`` once for all concurrent callers and store
        what it returns. ``bypass`` skips the lookup and refreshes the stored entry. ``request``
        (record mode) is kept with the entry: what the call asked, for review. ``refresh``
        (default ``fn``) makes the call that refreshes a stale entry in the background.
        ``peeked``: what the caller's own :meth:`peek` of ``key`` answered (:data:`MISS` or
        ``None``), with nothing awaited since; it is not asked again."""
        read, write = switches()
        if bypass or not read:
            self.replay_miss(key, policy.label, request)
            return await self._join(key, fn, policy, write, fresh=True, request=request)
        if peeked is _UNSET:
            peeked = self.peek(key, policy.label)
        if peeked:
            return peeked[0]
        flight = self.flights.get(key)
        if peeked is MISS or (flight is not None and not flight.background):
            # Nothing stored, or the entry is on its way: a lookup now would miss and only add
            # load (a stampede).
            if flight is None:
                self.replay_miss(key, policy.label, request)
            looked = self.chain.stores if peeked is MISS else None
            return await self._join(
                key, fn, policy, write, fresh=False, request=request, looked=looked
            )
        looked = self.chain.stores
        found = await self._lookup(key, policy.label, allow_stale=True)
        if type(found) is tuple:
            value, stale = found
            if (
                stale
                and not self.replaying
                and refresh_in_background(write, self.flights.get(key) is not None)
            ):
                self._start(key, refresh or fn, policy, write, background=True, request=request)
            return value
        self.replay_miss(key, policy.label, request)
        # A tier held an entry it could not serve: a fresh one may be below it (see _stored).
        return await self._join(
            key, fn, policy, write, fresh=False, request=request, looked=None if found else looked
        )

    def replay_miss(self, key: str, label: _stats.Label, request: Any = None) -> None:
        """In replay mode, fail a call that would reach the provider: :class:`ReplayMiss`
        naming the call. Otherwise nothing."""
        if not self.replaying:
            return
        _stats.count(label, "replay_misses")
        function, _, model = label
        asked = ""
        if request is not None:
            text = orjson.dumps(request, default=repr).decode()
            asked = f"; it asked {text[:400]}{'...' if len(text) > 400 else ''}"
        raise ReplayMiss(
            f"aicache replay: no recorded entry for {function}"
            f"{f' (model {model})' if model else ''} under {key}{asked}. Replay mode "
            "(AI_CACHE_MODE=replay) never calls the provider: record this call first (run it "
            "with AI_CACHE_MODE=record, or run the test outside CI to record its cache file)"
        )

    def peek(self, key: str, label: _stats.Label) -> tuple[Any] | tuple[()] | None:
        """A lookup that awaits nothing: ``(value,)`` for a fresh entry in a tier that answers at
        once (counted as a hit), :data:`MISS` when every tier answered and none holds ``key``,
        ``None`` when only :meth:`lookup` can tell (a remote or large entry, a stale or bad one,
        a copy to make into a tier above)."""
        found = self.chain.peek(key)
        if found is None:
            return None
        data, tier = found
        if data is None:
            return MISS
        opened = self._opened.get(key)
        try:
            if opened is not None and opened[0] is data:
                entry = opened[1]
                value = reload(data, opened[2])
                if entry.tag is not None:
                    value = load_value(entry.tag, value)
            else:
                value, entry = self._open(key, data)
                if tier is not None and tier.backend.same_bytes:
                    self._keep_opened(key, data, entry)
        except Exception:  # lookup() deletes or keeps it, and says why
            return None
        if entry.expires is not None and _clock.now() >= entry.expires:
            return None  # stale or expired (freshness()): lookup() decides
        self._served(key, value, entry, tier, label, False, len(data))
        return (value,)

    def _keep_opened(self, key: str, data: bytes, entry: Entry) -> None:
        """Remember that ``data`` holds ``entry`` (see ``_opened``), when it is not compressed
        and keeps no request."""
        at = payload_at(data)
        if at is None or entry.request is not None:
            return
        opened = self._opened
        if len(opened) >= _OPENED:
            opened.clear()
        opened[key] = (data, dataclasses.replace(entry, payload=None), at)

    async def lookup(
        self, key: str, label: _stats.Label, *, allow_stale: bool
    ) -> tuple[Any, bool] | None:
        """``(value, stale)`` for a servable entry, counted as a hit; ``None`` otherwise."""
        found = await self._lookup(key, label, allow_stale=allow_stale)
        return found if type(found) is tuple else None

    async def _lookup(
        self, key: str, label: _stats.Label, *, allow_stale: bool
    ) -> tuple[Any, bool] | bool:
        """:meth:`lookup`, telling its misses apart: ``False`` when no tier held ``key``,
        ``True`` when one held an entry that cannot be served (too old)."""
        read = await self._read(key, label)
        if read is None:
            return False
        value, entry, found = read
        now = _clock.now()
        state = freshness(entry, now)
        if not servable(state, allow_stale):
            return True
        if found.missed:
            await self._backfill(key, found.data, entry, now, found.missed)
        stale = state is Freshness.STALE
        self._served(key, value, entry, found.tier, label, stale, len(found.data or b""))
        return value, stale

    def _open(self, key: str, data: bytes) -> tuple[Any, Entry]:
        """``(value, entry)`` of stored bytes; raises if they cannot be served."""
        entry = decode(key, data, self.secret, previous=self._previous, limit=self._limit)
        return entry.payload if entry.tag is None else load_value(entry.tag, entry.payload), entry

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
                value, entry = self._open(key, found.data)
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
        key: str,
        value: Any,
        entry: Entry,
        tier: Tier | None,
        label: _stats.Label,
        stale: bool,
        size: int,
    ) -> None:
        """Count a hit and remember where ``value`` (``size`` bytes stored) came from."""
        name = tier.backend.name if tier else "?"
        cost = entry.cost
        tokens = _tokens(entry) if entry.usage else None
        _stats.hit(label, name, cost, entry.duration, tokens, stale=stale)
        remember(value, key, name, entry.created, cost, stale=stale, size=size)

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
        copy, ttl = backfill_ttl(entry, now)
        if data is not None and copy:
            await self.chain.set(key, data, ttl, tiers)

    # -- one call for every caller: the miss path ---------------------------------------------

    async def _join(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        write: bool,
        *,
        fresh: bool,
        request: Any = None,
        looked: int | None = None,
    ) -> Any:
        """Join the call in flight for ``key``, or start it (``fresh``: always a new one).
        ``looked``: ``chain.stores`` when the caller began a lookup that found no ``key`` in any
        tier; a new flight need not look again before calling while nothing was stored since."""
        flight = None if fresh else self.flights.get(key)
        leader = flight is None
        if flight is None:
            _stats.miss(policy.label, bypass=fresh)
            flight = self._start(
                key, fn, policy, write, fresh=fresh, request=request, looked=looked
            )
        outcome = await self.flights.wait(key, flight)
        if leader:
            remember(outcome.value, key, None, _clock.now(), 0.0, hit=False, size=outcome.size)
            return outcome.value
        return self._share(key, outcome, policy)

    def _share(self, key: str, outcome: Outcome, policy: Policy) -> Any:
        """A coalesced caller's copy of the leader's result, counted as a hit it did not pay for
        (when the result was stored; a result that was not is still each caller's own copy)."""
        _stats.count(policy.label, "coalesced")
        value = outcome.copy()
        entry = outcome.entry
        if entry is not None:
            _stats.hit(policy.label, "coalesced", entry.cost, entry.duration, _tokens(entry))
            remember(
                value,
                key,
                "coalesced",
                entry.created,
                entry.cost,
                coalesced=True,
                size=outcome.size,
            )
        return value

    def _start(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        write: bool,
        *,
        fresh: bool = False,
        background: bool = False,
        request: Any = None,
        looked: int | None = None,
    ) -> Flight:
        make = functools.partial(self._make, key, fn, policy, write, request)
        # A bypass wants a call of its own; any other call first looks whether one has landed.
        run = make() if fresh else self._call(key, make, policy, write, looked)
        orphaned = functools.partial(self._refresh_failed, key, policy.label)
        return self.flights.start(key, run, orphaned, background=background)

    @staticmethod
    def _refresh_failed(key: str, label: _stats.Label, exc: BaseException) -> None:
        _stats.count(label, "refresh_failures")
        log.warning("aicache: background refresh of %s failed: %r; the stale entry stays", key, exc)

    async def _make(
        self,
        key: str,
        fn: Callable[[], Awaitable[Any]],
        policy: Policy,
        write: bool,
        request: Any = None,
    ) -> Outcome:
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
        if not (write and self.accepts(value, policy)):
            return Outcome(value, None)
        encoded = self._encode(key, value, policy, duration, cost, request)
        if encoded is None:
            return Outcome(value, None)
        entry, data, ttl = encoded
        await self._write(key, data, ttl, policy.label)
        return Outcome(value, entry, size=len(data))

    async def _call(
        self,
        key: str,
        make: Callable[[], Awaitable[Outcome]],
        policy: Policy,
        write: bool,
        looked: int | None = None,
    ) -> Outcome:
        """``make()`` unless the entry has landed meanwhile.

        A caller's lookup may miss, then take long enough (a busy Redis) for the flight it
        missed to store and land before this flight starts: so look once more first, unless
        nothing was stored since the caller ``looked`` (in a stampede, the 1,000 callers'
        lookups all miss and nothing lands before this flight: it calls at once).
        With ``policy.lock``, that and ``make()`` happen under a lease a tier lends, so that
        one process makes the call while the others wait for its entry.
        """
        stored = functools.partial(self._stored, key, policy.label)
        # A result that is not stored cannot be shared across processes.
        leases = self._lender() if policy.lock and write else None
        if leases is None:
            found = None if looked == self.chain.stores else await stored()
            return found if found is not None else await make()
        outcome, waited = await leases.run(key, make, stored)
        if waited:
            _stats.count(policy.label, "lock_waits")
        return outcome

    def _lender(self) -> Leases | None:
        """The leases of the first tier that lends them, while its breaker is closed."""
        if self._leases is _UNSET:
            self._leases = None
            config = self.config
            for tier in self.chain.tiers:
                lent = tier.backend.leases(
                    lease=config.lock_lease, wait=config.lock_wait, failed=tier.breaker.failure
                )
                if lent is not None:
                    self._leases = (tier, lent)
                    break
        if self._leases is None or not self._leases[0].breaker.closed:
            return None
        return self._leases[1]

    async def _stored(self, key: str, label: _stats.Label) -> Outcome | None:
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
            if servable(freshness(entry, now), allow_stale=False):
                above = self.chain.tiers[: self.chain.tiers.index(found.tier)]
                if above:
                    await self._backfill(key, found.data, entry, now, above)
                self._served(key, value, entry, found.tier, label, False, len(found.data or b""))
                return Outcome(value, entry, size=len(found.data or b""))
            tiers = tiers[tiers.index(found.tier) + 1 :]
        return None

    # -- storing ------------------------------------------------------------------------------

    def _cost(self, value: Any, policy: Policy) -> Cost:
        if policy.cost is None:
            return _NO_COST
        try:
            return policy.cost(value)
        except Exception as exc:
            warn_once(f"cost:{policy.label}", "aicache: pricing %s failed: %r", policy.label, exc)
            return _NO_COST

    @staticmethod
    def accepts(value: Any, policy: Policy) -> bool:
        """Whether ``policy.should_cache`` accepts ``value``; if not (or if it raised: logged),
        counted under ``not_stored``."""
        try:
            if worth_storing(value, policy):
                return True
        except Exception:
            log.exception("aicache: should_cache of %s raised; not storing", policy.label[0])
        _stats.count(policy.label, "not_stored")
        return False

    async def store(
        self,
        key: str,
        value: Any,
        policy: Policy,
        duration: float,
        cost: Cost,
        request: Any = None,
    ) -> bool:
        """Encode ``value`` and write it to every healthy tier; return whether any stored it.
        ``request`` is kept with the entry in record mode."""
        encoded = self._encode(key, value, policy, duration, cost, request)
        return encoded is not None and await self._write(key, encoded[1], encoded[2], policy.label)

    def _encode(
        self,
        key: str,
        value: Any,
        policy: Policy,
        duration: float,
        cost: Cost,
        request: Any = None,
    ) -> tuple[Entry, bytes, float | None] | None:
        """``(entry, stored bytes, storage ttl)``, or ``None`` (logged, counted) if not storable."""
        name = policy.label[0]
        try:
            tag, payload = dump_value(value)
            now = _clock.now()
            expires, stale_until, storage_ttl = lifetimes(now, policy.ttl, policy.stale_ttl)
            entry = Entry(payload, tag, now, expires, stale_until, duration, cost[0], cost[1])
            if self.recording and request is not None:
                entry.request = canonical(request, "request")
            data = encode(key, entry, self.secret, limit=self.config.max_entry_bytes)
        except EntryTooLarge as exc:
            warn_once(
                f"size:{name}",
                "aicache: an entry of %s is %d bytes, over max_entry_bytes=%d; not storing it",
                name,
                exc.size,
                exc.limit,
            )
            _stats.count(policy.label, "not_stored")
            return None
        except (UnstorableResult, TypeError, orjson.JSONEncodeError) as exc:
            warn_once(f"unstorable:{name}:{type(value)}", "aicache: %s: not caching: %s", name, exc)
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
