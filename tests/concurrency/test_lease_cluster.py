"""The Redis lease on a Redis Cluster (sharded pub/sub) and on a Sentinel-managed primary.

As in test_lease.py, two caches in one process stand for two processes: each has its own lease
manager and notification connections; the shared event loop lets the tests decide who goes
first. The leases are 30 s, so a waiter that missed its message would sleep far longer than
these tests allow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

import aicache
from aicache import AICache, Policy
from aicache.backends._redis_lease import done_channel, lock_key

from .conftest import PATIENT, Gated

if TYPE_CHECKING:
    from conftest import RedisClusterNodes, SentinelGroup

POLICY = Policy(("f", "", ""), 60.0, lock=True)
#: Commands that the tests' own probes issue, or that a cluster's nodes issue on their own.
_PROBES = ("info", "pubsub|", "cluster|", "ping", "replconf", "hello", "client|")


def _key(i: int) -> str:
    return f"aicache:lease:f:{i}"


@pytest.fixture
async def caches() -> AsyncIterator[Callable[..., AICache]]:
    made: list[AICache] = []

    def make(url: str, **settings: Any) -> AICache:
        config = aicache.get_config().replace(
            redis_url=url, lock_lease=30.0, lock_wait=60.0, **{**PATIENT, **settings}
        )
        cache = AICache(config, backend=["memory", "redis"])
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


def call(cache: AICache, key: str, fn: Callable[[str], Awaitable[Any]]) -> asyncio.Future[Any]:
    return asyncio.ensure_future(cache.call(key, lambda: fn("q"), POLICY))


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def _primary_ports(cluster: RedisClusterNodes) -> list[int]:
    return [n.port for n in cluster.primaries()]


async def _commands(ports: list[int]) -> dict[str, int]:
    """Every command the servers at ``ports`` ran, by name, less the tests' own probes."""
    total: dict[str, int] = {}
    for port in ports:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            info = await client.info("commandstats")
        finally:
            await client.aclose()
        for name, value in info.items():
            command = name.removeprefix("cmdstat_")
            if not command.startswith(_PROBES):
                total[command] = total.get(command, 0) + int(value["calls"])
    return total


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    out = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in out.items() if v}


async def test_a_cluster_waiter_is_woken_by_its_shards_message_and_is_silent_until_then(
    redis_cluster: RedisClusterNodes, caches: Callable[..., AICache]
) -> None:
    url = redis_cluster.url + "?cluster=true"
    a, b = caches(url), caches(url)
    rc = await RedisCluster.from_url(redis_cluster.url).initialize()
    channel = done_channel(_key(0))
    owner = rc.get_node_from_key(channel)
    assert owner.name == rc.get_node_from_key(lock_key(_key(0))).name  # one slot, one shard
    shard = aioredis.Redis(host=owner.host, port=owner.port)

    async def listening() -> int:
        reply = await shard.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])

    try:
        fn = Gated()
        first = call(a, _key(0), fn)
        await asyncio.wait_for(fn.started.wait(), 5)
        second = call(b, _key(0), fn)
        await _until(lambda: _is(listening, 1))
        ports = _primary_ports(redis_cluster)
        settled = await _quiet(ports)
        await asyncio.sleep(1.0)  # a poller would issue commands here
        assert _minus(await _commands(ports), settled) == {}
        fn.open()
        started = time.monotonic()
        assert (await asyncio.wait_for(first, 10))["run"] == 1
        assert (await asyncio.wait_for(second, 10))["run"] == 1
        woken = time.monotonic() - started
        exchange = _minus(await _commands(ports), settled)

        assert fn.runs == 1
        assert woken < 5  # the lease is 30 s: only the message wakes it this soon
        assert exchange.get("spublish", 0) == 1 and "publish" not in exchange, exchange
        assert await listening() == 0  # the waiter stopped listening
        assert await rc.exists(lock_key(_key(0))) == 0  # released
        print(f"\nwoken {woken * 1000:.0f} ms after the call returned; commands: {exchange}")
    finally:
        await shard.aclose()
        await rc.aclose()


async def _is(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() == n


async def _quiet(ports: list[int]) -> dict[str, int]:
    """The command counts once two readings 0.2 s apart agree (within 5 s)."""
    last = await _commands(ports)
    for _ in range(25):
        await asyncio.sleep(0.2)
        now = await _commands(ports)
        moved = _minus(now, last)
        if moved == {}:
            return now
        last = now
    raise AssertionError(f"the cluster never went quiet: {moved}")


async def test_cluster_leases_on_keys_of_every_shard_share_each_call(
    redis_cluster: RedisClusterNodes, caches: Callable[..., AICache]
) -> None:
    url = redis_cluster.url + "?cluster=true"
    a, b = caches(url), caches(url)
    rc = await RedisCluster.from_url(redis_cluster.url).initialize()
    try:
        keys = [_key(i) for i in range(12)]
        shards = {rc.get_node_from_key(done_channel(k)).name for k in keys}
        assert len(shards) == 3, shards  # the keys cover every primary
        fns = [Gated() for _ in keys]
        firsts = [call(a, k, f) for k, f in zip(keys, fns, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(f.started.wait() for f in fns)), 10)
        seconds = [call(b, k, f) for k, f in zip(keys, fns, strict=True)]
        await asyncio.sleep(0.5)  # the waiters subscribe
        started = time.monotonic()
        for f in fns:
            f.open()
        done = await asyncio.wait_for(asyncio.gather(*firsts, *seconds), 10)
        assert time.monotonic() - started < 5
        assert all(r["run"] == 1 for r in done)
        assert [f.runs for f in fns] == [1] * len(keys)
        assert aicache.stats.snapshot()["lock_waits"] == len(keys)
    finally:
        await rc.aclose()


async def test_a_sentinel_lease_wakes_its_waiter_before_and_after_a_failover(
    sentinel_group: SentinelGroup, caches: Callable[..., AICache]
) -> None:
    a, b = caches(sentinel_group.url), caches(sentinel_group.url)

    async def exchange(key: str) -> float:
        """Seconds from the holder's return to the waiter's; fails unless one call served both."""
        fn = Gated()
        first = call(a, key, fn)
        try:
            await asyncio.wait_for(fn.started.wait(), 10)
            second = call(b, key, fn)
            await _until(lambda: _subscribed(sentinel_group.primary_port(), done_channel(key)))
        finally:
            fn.open()
        started = time.monotonic()
        assert (await asyncio.wait_for(first, 20))["run"] == 1
        assert (await asyncio.wait_for(second, 20))["run"] == 1
        assert fn.runs == 1
        return time.monotonic() - started

    assert await exchange(_key(0)) < 5  # the lease is 30 s: woken by the message
    old = sentinel_group.primary()
    old.kill()
    deadline = time.monotonic() + 30
    while sentinel_group.primary_port() == old.port:
        assert time.monotonic() < deadline, "no failover"
        await asyncio.sleep(0.1)
    # The first calls after the failover may find the old primary gone and call for themselves
    # (the tier's breaker trips); once the clients follow the new primary, leases work again.
    recovered = time.monotonic() + 30
    while True:
        try:
            woken = await exchange(f"aicache:lease:f:after-{time.monotonic()}")
            break
        except AssertionError:
            assert time.monotonic() < recovered, "the lease never worked on the new primary"
            await asyncio.sleep(0.5)
    assert woken < 5


async def _subscribed(port: int, channel: str) -> bool:
    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        counts = await client.pubsub_numsub(channel)
    except (OSError, aioredis.ConnectionError):
        return False
    finally:
        await client.aclose()
    return int(counts[0][1]) == 1


def test_lease_keys_and_channels_hash_to_one_slot() -> None:
    for key in ("aicache:default:f:abc", "aicache:ns{x}:f:1", "aicache:}odd{:f:2"):
        assert key_slot(lock_key(key).encode()) == key_slot(done_channel(key).encode())


async def test_a_fresh_cluster_tier_under_a_burst_of_leases_neither_fails_nor_waits_for_itself(
    redis_cluster: RedisClusterNodes,
) -> None:
    """A cluster client first used by many calls at once ran some commands twice (a lease taken
    twice looked held by another process: a 30 s wait) and failed others."""
    from aicache.backends import RedisBackend

    tier = RedisBackend(redis_cluster.url + "?cluster=true", timeout=2.0)
    failures: list[Exception] = []
    leases = tier.leases(lease=30.0, wait=60.0, failed=failures.append)

    async def one(i: int) -> tuple[int, bool]:
        async def make() -> int:
            await tier.set(_key(i), b"v", 60)
            return i

        async def stored() -> int | None:
            return i if await tier.get(_key(i)) is not None else None

        return await leases.run(_key(i), make, stored)

    try:
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(60))), 20)
        assert time.monotonic() - started < 10
        assert results == [(i, False) for i in range(60)]  # each made its own call, unwaiting
        assert failures == []
    finally:
        await leases.close()
        await tier.close()
