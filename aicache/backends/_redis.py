"""The Redis tier: ``redis.asyncio`` with the hiredis parser and short timeouts.

One server, a Redis Cluster or a Sentinel-managed primary: :mod:`._redis_target` reads which from
the URL. A connection the server closed (a restart, ``CLIENT KILL``) is retried once on a fresh
one, and the pool's other idle connections, opened before the same event, are dropped with it.

Connections belong to the event loop that opened them, so a pool is kept per (loop, URL,
settings) and shared by every backend using those. A backend called from a new loop takes that
loop's pool instead of failing. A pool closes when the last backend using it closes, or when its
loop shuts down: each pool parks an async generator on its loop, and ``asyncio.run`` (like any
``asyncio.Runner``) finalises those before closing the loop, so even a program that never calls
``aicache.close()`` leaves no unclosed connections behind.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

try:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import (
        AskError,
        ClusterCrossSlotError,
        MovedError,
        OutOfMemoryError,
        ReadOnlyError,
        ResponseError,
    )
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Redis tier needs the redis package: pip install 'aicache[redis]'"
    ) from exc

from .._errors import BackendError, ConfigError, EntryError, WriteRefused
from .._log import log, warn_once
from ._base import WOULD_BLOCK, Backend, Nowait
from ._redis_batch import Batcher
from ._redis_lease import RedisLeases
from ._redis_near import NearCache
from ._redis_target import Target, async_client, parse_target, safe_url
from ._redis_wire import ClientCommands, Commands, Wire

__all__ = ["RedisBackend"]

T = TypeVar("T")

_SCAN_COUNT = 500  # keys per SCAN step and per UNLINK
_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})
#: Errors that mean the server is unreachable or not answering (not a bad command).
_SERVER_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)

#: Replies a single-server client gets from a cluster node.
_CLUSTER_REPLIES = (MovedError, AskError, ClusterCrossSlotError)
#: The longest ``ttl=None`` lasts in Redis, so that ``volatile-*`` eviction can remove it.
DEFAULT_MAX_TTL = 30 * 24 * 3600.0
#: The keys a near cache watches: aicache's own (see ``aicache._keys.KEY_PREFIX``).
NEAR_PREFIX = "aicache:"
#: Seconds of silence after which the near cache's channel is pinged (and then must answer).
NEAR_CHECK = 0.5

# (loop, target, timeout, connect timeout, connections, near entries, near bytes)
_PoolKey = tuple[asyncio.AbstractEventLoop, Target, float, float, int, int, int]


class _Gate:
    """``size`` slots: one is taken without an await while any is free (``free``); past them,
    callers queue in order and each freed slot passes straight to the first still waiting."""

    __slots__ = ("free", "waiting")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def queue(self, wait: float) -> bool:
        """Wait up to ``wait`` s for a slot; ``False`` if none was passed on in time."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await asyncio.wait_for(turn, wait)  # on a timeout, cancels the turn: leave() skips it
        except asyncio.TimeoutError:
            return False
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.leave()  # passed a slot as this caller left: pass it on
            raise
        return True

    def leave(self) -> None:
        """Free a slot: to the first caller still waiting, else to ``free``."""
        waiting = self.waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


class _Pool:
    """One loop's connections to one server, with a gate of ``size`` slots in front.

    Callers past the gate hold a connection; the others wait their turn, so a burst of calls
    queues instead of failing. When the server fails, the callers that were waiting give up at
    once rather than each paying a socket timeout in turn.
    """

    def __init__(self, key: _PoolKey) -> None:
        self.key = key
        self.loop, self.target, timeout, connect_timeout, size, near_entries, near_bytes = key
        options: dict[str, Any] = {
            "max_connections": size,
            "socket_timeout": timeout,
            "socket_connect_timeout": connect_timeout,
        }
        if self.target.mode == "standalone":
            # Direct client() users (leases, clear, the application) queue in a pool of their own.
            self.client: Any = async_client(
                self.target, timeout=None, **options, retry=Retry(NoBackoff(), 0)
            )
            # The tier's reads and writes: the gate never lets more than `size` in, so they
            # need no pool, only connections of their own.
            self.wire: Wire | None = Wire(self.new_connection)
            self.commands: Commands = self.wire
        else:
            if self.target.mode == "sentinel":
                self.client = async_client(self.target, **options, retry=Retry(NoBackoff(), 0))
            else:
                # The cluster client follows MOVED/ASK and re-reads the slot map itself.
                self.client = async_client(self.target, **options)
            self.wire = None
            self.commands = ClientCommands(self.client)
        # A cluster client first used by many calls at once may run some commands twice (INCR
        # gave 2 and 3; redis-py 8.1): it reads the slot map once, for all, before any command.
        self.fresh = self.target.mode == "cluster"
        self.starting = asyncio.Lock()
        self.gate = _Gate(size)
        self.batcher = Batcher(self.run, cluster=self.target.mode == "cluster")
        self.near = (
            NearCache(
                self.new_connection,
                max_entries=near_entries,
                max_bytes=near_bytes,
                prefix=NEAR_PREFIX,
                check=NEAR_CHECK,
            )
            if near_entries
            else None
        )
        self.failures = 0
        self.users = 0
        self.closed = False
        self.watch: AsyncGenerator[None, None] | None = None

    def new_connection(self) -> Any:
        """A RESP2 connection of its own (the tier's commands, the near cache's channel),
        outside the pool."""
        pool = self.client.connection_pool
        return pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})

    async def run(self, op: Callable[[Commands], Awaitable[T]], wait: float) -> T | None:
        """``op(client)`` once a slot is free; ``None`` if none freed up within ``wait`` s."""
        gate = self.gate
        if gate.free:
            gate.free -= 1  # a free slot: taken without an await
        else:
            seen = self.failures
            if not await gate.queue(wait):
                warn_once(
                    "redis:busy",
                    "aicache: every Redis connection stayed busy for %.1f s; treating calls as "
                    "misses until one frees up (raise AI_CACHE_REDIS_MAX_CONNECTIONS)",
                    wait,
                )
                return None
            if self.failures != seen:
                gate.leave()
                raise BackendError("Redis failed while this call waited for a connection")
        try:
            try:
                if self.fresh:
                    await self.start()
                return await op(self.commands)
            except RedisConnectionError:
                # Closed by the server (a restart, CLIENT KILL): the pool's idle connections
                # are as stale as this one. Drop them all and try once on a fresh connection.
                await self.drop_idle()
                return await op(self.commands)
        except _SERVER_DOWN:
            self.failures += 1
            raise
        except _CLUSTER_REPLIES as exc:
            if self.target.mode == "cluster":
                raise
            warn_once(
                "redis:cluster",
                "aicache: the Redis at %s is a Redis Cluster node (it answered %s), so this "
                "single-server client cannot use it: add ?cluster=true to REDIS_URL or set "
                "AI_CACHE_REDIS_MODE=cluster",
                safe_url(self.target.url),
                type(exc).__name__,
            )
            raise BackendError(f"Redis is a cluster node, not a single server: {exc}") from None
        finally:
            gate.leave()

    async def start(self) -> Any:
        """The client, once its cluster slot map has been read (by one caller)."""
        if self.fresh:
            async with self.starting:
                if self.fresh:
                    await self.client.initialize()
                    self.fresh = False
        return self.client

    async def drop_idle(self) -> None:
        """Close every pooled connection not in use (the cluster client manages its own)."""
        if self.wire is not None:
            await self.wire.drop_idle()
        pool = getattr(self.client, "connection_pool", None)
        if pool is not None:
            await pool.disconnect(inuse_connections=False)

    async def start_watch(self) -> None:
        self.watch = _watch(self)
        await self.watch.__anext__()  # runs to its yield without suspending
        if self.near is not None:
            self.near.start()

    async def dispose(self) -> None:
        """Disconnect every connection (runs on the pool's own loop)."""
        with _registry_lock:
            self.closed = True
            if _registry.get(self.key) is self:
                del _registry[self.key]
        if self.near is not None:
            await self.near.close()
        try:
            if self.target.mode == "cluster":
                await self.client.aclose()
            else:
                if self.wire is not None:
                    await self.wire.close()
                await self.client.aclose(close_connection_pool=True)
        except Exception as exc:  # closing must not fail shutdown
            log.debug("aicache: closing a Redis pool failed: %r", exc)


async def _watch(pool: _Pool) -> AsyncGenerator[None, None]:
    """Parked on the pool's loop; finalised (so the pool disposed) when the loop shuts down."""
    try:
        yield
    finally:
        await pool.dispose()


_registry: dict[_PoolKey, _Pool] = {}
_registry_lock = threading.Lock()


async def _acquire(key: _PoolKey) -> _Pool:
    with _registry_lock:
        pool = _registry.get(key)
        created = pool is None
        if pool is None:
            pool = _registry[key] = _Pool(key)
        pool.users += 1
    if created:
        await pool.start_watch()
    return pool


async def _release(pool: _Pool) -> None:
    with _registry_lock:
        pool.users -= 1
        last = pool.users <= 0 and not pool.closed
        if last and _registry.get(pool.key) is pool:
            del _registry[pool.key]
    if not last or pool.watch is None:
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if pool.loop is running:
        await pool.watch.aclose()
    elif pool.loop.is_running():  # a loop in another thread
        asyncio.run_coroutine_threadsafe(pool.watch.aclose(), pool.loop)
    # A closed loop finalised the pool when it shut down; a stopped one will when it does.


class RedisBackend(Backend):
    """Entries in Redis, shared by every process that uses the same server.

    ``url`` is a ``redis://`` or ``rediss://`` (TLS) URL; a user name, password and database
    go in it (``rediss://user:secret@host:6380/2``). A cluster node's URL with ``?cluster=true``
    (or ``mode="cluster"``) uses the whole Redis Cluster; ``redis+sentinel://h1:26379,h2:26379/
    <service>`` the primary those Sentinels manage. ``ttl=None`` is stored for ``max_ttl``
    seconds, so every key can be evicted and expires. ``timeout`` bounds each operation and
    ``connect_timeout`` each new connection, in seconds: a cache must answer fast or step aside.
    At most ``max_connections`` operations run at once per event loop; the others wait (up to
    ``pool_wait`` seconds, then they count as misses, not failures). On one server :meth:`client`
    has a pool of its own, so the application's commands never hold up the tier's. The reads and
    writes that concurrent callers issue in one turn of the event loop go to Redis as one round
    trip.

    ``near=N`` keeps up to ``N`` entries (and ``near_bytes`` bytes) read from Redis in this
    process and serves them from memory, dropping each as soon as Redis reports that any client
    changed it (client-side caching, see :mod:`._redis_near`); while that report channel is
    down, nothing is served from memory. One server or Sentinel only, not a cluster.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        connect_timeout: float = 1.0,
        max_connections: int = 64,
        pool_wait: float = 2.0,
        name: str = "redis",
        mode: str = "auto",
        max_ttl: float = DEFAULT_MAX_TTL,
        near: int = 0,
        near_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        try:
            target = parse_target(url, mode)
        except ConfigError as exc:
            raise ConfigError(f"RedisBackend url={safe_url(url)!r} is not usable: {exc}") from None
        for option, count in (("near", near), ("near_bytes", near_bytes)):
            if isinstance(count, bool) or not (isinstance(count, int) and count >= 0):
                raise ConfigError(
                    f"RedisBackend {option} must be a whole number >= 0, not {count!r}"
                )
        if near and target.mode == "cluster":
            raise ConfigError(
                "RedisBackend near= is not supported on a Redis Cluster: use near=0, or a "
                "MemoryBackend in front for entries that never change"
            )
        for option, value in (
            ("timeout", timeout),
            ("connect_timeout", connect_timeout),
            ("pool_wait", pool_wait),
            ("max_ttl", max_ttl),
        ):
            if not (isinstance(value, int | float) and 0 < value < math.inf):
                raise ConfigError(f"RedisBackend {option} must be positive seconds, not {value!r}")
        if isinstance(max_connections, bool) or not (
            isinstance(max_connections, int) and max_connections >= 1
        ):
            raise ConfigError(f"RedisBackend max_connections must be >= 1, not {max_connections!r}")
        self.url = url
        self.target = target
        self.max_ttl = float(max_ttl)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_connections = max_connections
        self.pool_wait = float(pool_wait)
        self.near = near if near_bytes else 0
        self.near_bytes = near_bytes
        self.name = name
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}

    async def client(self) -> Any:
        """The ``redis.asyncio`` client for the running event loop (shares this tier's pool): a
        ``Redis``, or a ``RedisCluster`` for a cluster."""
        return await (await self._pool()).start()

    async def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None and not pool.closed:
            return pool
        return await self._bind(loop)

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> _Pool:
        ended = [p for p in list(self._pools.values()) if p.closed or p.loop.is_closed()]
        for old in ended:
            self._pools.pop(old.loop, None)
        key = (
            loop,
            self.target,
            self.timeout,
            self.connect_timeout,
            self.max_connections,
            self.near,
            self.near_bytes,
        )
        pool = self._pools[loop] = await _acquire(key)
        for old in ended:
            await _release(old)
        return pool

    def peek(self, key: str) -> bytes | None:
        """The near cache's copy of ``key`` on the running loop, if it holds one; never
        suspends. ``None`` says nothing about Redis: ask :meth:`get`."""
        try:
            pool = self._pools.get(asyncio.get_running_loop())
        except RuntimeError:
            return None
        near = pool.near if pool is not None and not pool.closed else None
        return None if near is None else near.get(key)

    def get_nowait(self, key: str) -> bytes | Nowait | None:
        """The near cache's copy, so that a near hit awaits nothing; else :data:`WOULD_BLOCK`."""
        if not self.near:
            return WOULD_BLOCK
        found = self.peek(key)
        return WOULD_BLOCK if found is None else found

    async def get(self, key: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None or pool.closed:
            pool = await self._bind(loop)
        near = pool.near
        try:
            if near is None:
                value = await pool.batcher.submit(("get", key, None, 0), self.pool_wait)
            else:
                value = near.get(key)
                if value is not None:
                    return value
                epoch = near.begin(key)
                value = None
                try:
                    value = await pool.batcher.submit(("get", key, None, 0), self.pool_wait)
                finally:
                    near.end(key, value if isinstance(value, bytes) else None, epoch)
        except ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):  # this key holds a list, a hash...: not ours
                raise EntryError(f"Redis key holds another type: {exc}") from exc
            raise
        if value is None or isinstance(value, bytes):
            return value
        raise EntryError(f"Redis GET returned {type(value).__name__}, not bytes")

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        pool = await self._pool()
        if pool.near is not None:
            pool.near.forget(key)
        try:
            if ttl is None or ttl > 0:
                px = max(1, math.ceil((self.max_ttl if ttl is None else ttl) * 1000))
                await pool.batcher.submit(("set", key, value, px), self.pool_wait)
            else:
                await pool.batcher.submit(("unlink", key, None, 0), self.pool_wait)
        except (OutOfMemoryError, ReadOnlyError) as exc:  # maxmemory + noeviction; a replica
            raise WriteRefused(f"Redis refused the store: {exc}") from exc

    def leases(
        self, *, lease: float, wait: float, failed: Callable[[Exception], None]
    ) -> RedisLeases:
        sharded = self.target.mode == "cluster"
        return RedisLeases(self.client, lease=lease, wait=wait, failed=failed, sharded=sharded)

    async def delete(self, key: str) -> bool:
        pool = await self._pool()
        if pool.near is not None:
            pool.near.forget(key)
        return bool(await pool.client.unlink(key))

    def near_stats(self) -> dict[str, int]:
        """The near cache's counters on the running loop (empty without one): copies held,
        hits, invalidations received, channel losses."""
        try:
            pool = self._pools.get(asyncio.get_running_loop())
        except RuntimeError:
            return {}
        near = pool.near if pool is not None else None
        if near is None:
            return {}
        return {
            "entries": len(near),
            "hits": near.hits,
            "invalidated": near.invalidated,
            "losses": near.losses,
            "live": int(near.live),
        }

    async def clear(self, prefix: str) -> int:
        pool = await self._pool()
        if pool.near is not None:
            pool.near.forget_prefix(prefix)
        client = pool.client
        removed = 0
        batch: list[bytes] = []
        async for found in client.scan_iter(match=_pattern(prefix), count=_SCAN_COUNT):
            batch.append(found)
            if len(batch) >= _SCAN_COUNT:
                removed += await client.unlink(*batch)
                batch.clear()
        if batch:
            removed += await client.unlink(*batch)
        return removed

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        client = await self.client()
        async for found in client.scan_iter(match=_pattern(prefix), count=_SCAN_COUNT):
            yield found.decode("utf-8", "replace")

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await _release(pool)

    def __repr__(self) -> str:
        return f"<RedisBackend {self.name} {self.target.mode} {safe_url(self.url)}>"


def _pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for keys starting with ``prefix`` taken literally."""
    return prefix.translate(_GLOB_SPECIALS) + "*"
