"""A Redis tier that comes back at once: after a restart or ``CLIENT KILL`` of its connections."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

import aicache
from aicache import ai_cached, cache_info
from aicache.backends import RedisBackend


async def test_connections_closed_by_the_server_are_retried_on_fresh_ones(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url)
    await tier.set("aicache:default:f:1", b"v", 60)
    # Open several pooled connections (the tier itself would batch these reads into one), then
    # have the server close every one of them.
    client = await tier.client()
    assert (
        await asyncio.gather(*(client.get("aicache:default:f:1") for _ in range(20))) == [b"v"] * 20
    )
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        assert await raw.client_kill_filter(_type="normal", skipme=True) >= 2
    got = await asyncio.gather(*(tier.get("aicache:default:f:1") for _ in range(20)))
    assert got == [b"v"] * 20  # not one ConnectionError
    assert [await tier.get("aicache:default:f:1") for _ in range(5)] == [b"v"] * 5
    await tier.close()


async def test_a_restarted_redis_serves_at_once_without_a_breaker_trip(redis_server: Any) -> None:
    aicache.configure(redis_url=redis_server.url)
    runs = []

    @ai_cached(backend="redis")
    async def f(i: int) -> dict[str, int]:
        runs.append(i)
        return {"i": i}

    await asyncio.gather(*(f(i % 50) for i in range(200)))  # a pool's worth of connections
    redis_server.restart()  # comes back empty
    await asyncio.gather(*(f(i % 50) for i in range(200)))
    assert aicache.stats.snapshot()["errors"] == 0  # the stale connections were not failures
    values = await asyncio.gather(*(f(i) for i in range(50)))
    assert all((info := cache_info(v)) is not None and info.tier == "redis" for v in values)


async def test_a_restarted_empty_redis_is_refilled_by_write_through(redis_server: Any) -> None:
    aicache.configure(redis_url=redis_server.url)
    runs = []

    @ai_cached(backend=["redis", "file"])
    async def f(i: int) -> dict[str, int]:
        runs.append(i)
        return {"i": i}

    for i in range(20):
        await f(i)
    redis_server.restart()
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        assert await raw.dbsize() == 0
        for i in range(20):
            info = cache_info(await f(i))
            assert info is not None and info.tier == "file"
        assert await raw.dbsize() == 20  # each read from the file tier went back up to Redis
    assert len(runs) == 20
    for i in range(20):
        info = cache_info(await f(i))
        assert info is not None and info.tier == "redis"


async def test_ttl_none_is_stored_with_the_configured_maximum(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_ttl=100)
    await tier.set("aicache:default:f:forever", b"v", None)
    raw = await tier.client()
    assert 0 < await raw.pttl("aicache:default:f:forever") <= 100_000
    await tier.close()
    aicache.configure(redis_url=redis_server.url, ttl=None)
    assert aicache.get_config().redis_max_ttl == 30 * 24 * 3600.0

    @ai_cached(backend="redis")
    async def f() -> dict[str, int]:
        return {"a": 1}

    await f()
    key = f.cache.key()
    async with aioredis.Redis.from_url(redis_server.url) as raw2:
        assert 29 * 24 * 3600_000 < await raw2.pttl(key) <= 30 * 24 * 3600_000
    assert aicache.CacheConfig.from_env({"AI_CACHE_REDIS_MAX_TTL_HOURS": "2"}).redis_max_ttl == 7200
