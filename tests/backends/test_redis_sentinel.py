"""The Redis tier on a Sentinel-managed primary: 1 primary, 1 replica, 3 Sentinels, all real."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

import aicache
from aicache import ConfigError, ai_cached
from aicache.backends import RedisBackend

if TYPE_CHECKING:
    from conftest import SentinelGroup


async def test_a_sentinel_url_reaches_the_primary(sentinel_group: SentinelGroup) -> None:
    tier = RedisBackend(sentinel_group.url)
    assert tier.target.mode == "sentinel"
    await tier.set("aicache:default:f:1", b"v", 60)
    assert await tier.get("aicache:default:f:1") == b"v"
    port = sentinel_group.primary_port()
    async with aioredis.Redis(host="127.0.0.1", port=port) as on_primary:
        assert await on_primary.get("aicache:default:f:1") == b"v"
    assert await tier.clear("aicache:default:") == 1
    await tier.close()


async def test_a_sentinel_url_in_redis_url_serves_hits(
    sentinel_group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", sentinel_group.url)
    aicache.configure(aicache.CacheConfig.from_env(backend="redis"))
    runs = []

    @ai_cached
    async def f(i: int) -> dict[str, int]:
        runs.append(i)
        return {"i": i}

    for _ in range(2):
        for i in range(10):
            assert await f(i) == {"i": i}
    assert len(runs) == 10
    assert aicache.stats.snapshot()["hits_by_tier"] == {"redis": 10}
    await aicache.close()  # flush the fleet stats while the group still runs


def test_sentinel_urls_are_read_or_refused_with_the_fix() -> None:
    t = RedisBackend("redis+sentinel://u:p%40ss@a:1,b:2,c/svc/3?sentinel_password=s").target
    assert (t.sentinels, t.service, t.db, t.username, t.password, t.sentinel_password) == (
        (("a", 1), ("b", 2), ("c", 26379)),
        "svc",
        3,
        "u",
        "p@ss",
        "s",
    )
    with pytest.raises(ConfigError, match="/<service>"):
        RedisBackend("redis+sentinel://a:1")
    with pytest.raises(ConfigError, match="no port number"):
        RedisBackend("redis+sentinel://a:x/svc")
    with pytest.raises(ConfigError, match="redis\\+sentinel://"):
        RedisBackend("redis://a:1", mode="sentinel")
    assert aicache.CacheConfig(redis_url="redis+sentinel://a:1/svc").redis_url
