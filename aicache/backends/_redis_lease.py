"""Cross-process single-flight: one process makes a call, the others wait for its stored entry.

A process that misses takes a lease, ``SET aicache-lock:{<key>} <token> NX PX <lease ms>``,
before it calls; a renewal task extends the lease while the call runs, and the lease is released
by compare-and-delete, so a holder never removes another holder's lease. Leases are separate from
entries' TTLs and short (seconds): a holder that dies blocks nobody for longer than one lease.

A process that finds the lease taken does not poll. It subscribes to ``aicache-done:{<key>}``, on
which the holder publishes once it has stored its result (or failed), and re-checks the cache
after subscribing, so a result that landed just before it listened is not missed. Without a
message it wakes when the holder's lease would run out and tries to take it over. After
``wait`` seconds in all it calls for itself. Any Redis failure makes a caller call for itself.

The braces are a Redis Cluster hash tag: a key's lease and its channel share one slot, so the
release script publishes (``SPUBLISH``, sharded pub/sub) on the very shard its waiters listen
to (see :mod:`._redis_notify`). A Sentinel's primary is one server; after a failover the
client finds the new primary and the waiters' next subscription follows it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import ResponseError

from .. import _clock
from .._log import log, warn_once
from ._redis_notify import make_waker

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["DONE_PREFIX", "LOCK_PREFIX", "RedisLeases", "done_channel", "lock_key"]

T = TypeVar("T")

LOCK_PREFIX = "aicache-lock:"
DONE_PREFIX = "aicache-done:"


def lock_key(key: str) -> str:
    """The Redis key of ``key``'s lease (hash-tagged: the same cluster slot as its channel)."""
    return f"{LOCK_PREFIX}{{{key}}}"


def done_channel(key: str) -> str:
    """The channel on which ``key``'s lease holder says it is done."""
    return f"{DONE_PREFIX}{{{key}}}"


# Take the lease if it is free (0), else how many ms the holder's lease has left. Already ours
# counts as taken: a client that retries after a lost reply (the cluster client does) must not
# then wait for itself.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('get', KEYS[1]) == ARGV[1] then return 0 end
return redis.call('pttl', KEYS[1])
"""
# Extend the lease only while it is still ours.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
# Drop the lease only if it is still ours; tell the waiters either way (ARGV[3] is PUBLISH, or
# SPUBLISH on a cluster).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
return redis.call(ARGV[3], ARGV[2], '1')
"""


class _Link:
    """The scripts and the waiters' wake-ups over one event loop's Redis client."""

    def __init__(self, client: Any, *, sharded: bool) -> None:
        self.client = client
        self.acquire: AsyncScript = client.register_script(_ACQUIRE)
        self.extend: AsyncScript = client.register_script(_EXTEND)
        self.release: AsyncScript = client.register_script(_RELEASE)
        self.publish = "spublish" if sharded else "publish"
        self.notifier = make_waker(client, sharded=sharded)


class RedisLeases:
    """Cross-process single-flight over one Redis server, a Sentinel's primary or a cluster.

    ``client`` returns the ``redis.asyncio`` client of the running loop (a ``RedisCluster`` when
    ``sharded``); ``lease`` is the lease in seconds, ``wait`` how long a caller waits for another
    process before calling itself; ``failed`` hears of every Redis error (after which the caller
    went ahead without a lease).
    """

    def __init__(
        self,
        client: Callable[[], Awaitable[Any]],
        *,
        lease: float,
        wait: float,
        failed: Callable[[Exception], None],
        sharded: bool = False,
    ) -> None:
        self._client = client
        self.sharded = sharded
        self.lease = lease
        self.wait = wait
        self._failed = failed
        self._lease_ms = max(1, round(lease * 1000))
        self._link: _Link | None = None
        self.refused = False  # the server refuses scripts or pub/sub: leases are off

    async def _get_link(self) -> _Link:
        client = await self._client()
        link = self._link
        if link is not None and link.client is client and not link.notifier.broken:
            return link
        fresh = self._link = _Link(client, sharded=self.sharded)
        if link is not None and link.client is client:
            await link.notifier.close()  # broken: give its connection back to the pool
        return fresh

    async def run(
        self,
        key: str,
        make: Callable[[], Awaitable[T]],
        stored: Callable[[], Awaitable[T | None]],
    ) -> tuple[T, bool]:
        """``(result, waited)``: ``make()``'s result if this process made the call, else the
        entry another process stored as ``stored()`` found it. ``make`` must store its result
        before it returns. ``waited`` says whether this caller waited for another process."""
        if self.refused:
            return await make(), False
        token = secrets.token_hex(16)
        try:
            link = await self._get_link()
            held = int(await link.acquire(keys=[lock_key(key)], args=[token, self._lease_ms]))
            turn = None if held == 0 else await self._wait(link, key, token, held, stored)
        except Exception as exc:  # only Redis operations (and the never-failing lookup) run here
            self._trouble(exc)
            return await make(), False
        if held == 0:
            # A result may have landed between this process's lookup and its lease.
            return await self._hold(link, key, token, make, stored, recheck=True), False
        if isinstance(turn, _Turn):
            return await self._hold(link, key, token, make, stored, recheck=turn.recheck), True
        if turn is None:
            warn_once(
                f"lease-wait:{self.wait}",
                "aicache: waited %.0f s for another process's call of %s; calling here "
                "(raise lock_wait / AI_CACHE_LOCK_WAIT_S if calls take longer)",
                self.wait,
                key,
            )
            return await make(), True
        return turn, True

    def _trouble(self, exc: Exception) -> None:
        if not isinstance(exc, ResponseError):
            self._failed(exc)  # unreachable or hung: the tier's breaker decides what happens next
            return
        # Refused (an ACL without EVALSHA or SUBSCRIBE, a proxy without pub/sub): not an outage,
        # and it will not pass, so the tier stays in use and only the leases stop.
        self.refused = True
        warn_once(
            "lease-refused",
            "aicache: Redis refused a command that lock=True needs (%s); calls are shared within "
            "each process only (allow EVALSHA, SCRIPT LOAD, PUBLISH and SUBSCRIBE to share them "
            "across processes; on a Redis Cluster SPUBLISH and SSUBSCRIBE, Redis 7 or later)",
            exc,
        )

    async def _wait(
        self,
        link: _Link,
        key: str,
        token: str,
        held_ms: int,
        stored: Callable[[], Awaitable[T | None]],
    ) -> T | _Turn | None:
        """What another process stored, or :class:`_Turn` once the lease is ours, or ``None``
        when ``wait`` seconds have passed."""
        deadline = _clock.monotonic() + self.wait
        lock = lock_key(key)
        async with link.notifier.listen(done_channel(key)) as done:
            # Subscribed: whatever the holder publishes from now on sets ``done``.
            found = await stored()
            if found is not None:
                return found
            while True:
                left = deadline - _clock.monotonic()
                if left <= 0:
                    return None
                # Wake when told, or when the holder's lease would run out (it may have died).
                nap = held_ms / 1000 if held_ms > 0 else self.lease
                nap += random.uniform(0, min(0.1, self.lease / 10))
                notified = await _wait_for(done, min(left, nap))
                if notified:
                    done.clear()
                    found = await stored()
                    if found is not None:
                        return found
                held_ms = int(await link.acquire(keys=[lock], args=[token, self._lease_ms]))
                if held_ms == 0:
                    # Untold, the last holder may have stored before this process listened.
                    return _Turn(recheck=not notified)

    async def _hold(
        self,
        link: _Link,
        key: str,
        token: str,
        make: Callable[[], Awaitable[T]],
        stored: Callable[[], Awaitable[T | None]],
        *,
        recheck: bool,
    ) -> T:
        lock = lock_key(key)
        renewer = asyncio.ensure_future(self._renew(link, lock, token))
        try:
            if recheck:
                found = await stored()
                if found is not None:
                    return found
            return await make()
        finally:
            renewer.cancel()
            try:
                await link.release(keys=[lock], args=[token, done_channel(key), link.publish])
            except Exception as exc:  # the lease runs out by itself
                log.debug("aicache: releasing the lease on %s failed: %r", key, exc)

    async def _renew(self, link: _Link, lock: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                ours = await link.extend(keys=[lock], args=[token, self._lease_ms])
            except Exception as exc:
                log.debug("aicache: renewing the lease %s failed: %r", lock, exc)
                continue
            if not ours:
                warn_once(
                    "lease-lost",
                    "aicache: the lease %s ran out while its call was still running (the "
                    "process stalled for longer than lock_lease=%.1f s); another process may "
                    "make the same call",
                    lock,
                    self.lease,
                )
                return

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.notifier.close()


@dataclass(frozen=True, slots=True)
class _Turn:
    """The lease became this caller's while it waited."""

    recheck: bool  # look the key up once more before calling


async def _wait_for(event: asyncio.Event, timeout: float) -> bool:
    """Whether ``event`` was set within ``timeout`` seconds."""
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True
