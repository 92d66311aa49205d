"""The Redis tier on a real 6-node Redis Cluster (3 primaries, 3 replicas) from the fixtures."""

from __future__ import annotations

import logging
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import redis

import aicache
from aicache import ConfigError, _fleet, _stats, ai_cached
from aicache.backends import RedisBackend

if TYPE_CHECKING:
    from conftest import RedisClusterNodes


def keys_per_primary(cluster: RedisClusterNodes) -> dict[int, int]:
    return {
        n.port: int(subprocess.check_output(["redis-cli", "-p", str(n.port), "dbsize"], text=True))
        for n in cluster.primaries()
    }


async def test_cluster_get_set_delete_reach_every_shard(redis_cluster: RedisClusterNodes) -> None:
    tier = RedisBackend(redis_cluster.url + "?cluster=true")
    keys = [f"aicache:default:f:{i}" for i in range(40)]
    for i, key in enumerate(keys):
        await tier.set(key, f"v{i}".encode(), 60)
    assert [await tier.get(k) for k in keys] == [f"v{i}".encode() for i in range(40)]
    spread = keys_per_primary(redis_cluster)
    assert len(spread) == 3 and all(n > 0 for n in spread.values()), spread
    assert await tier.delete(keys[0]) is True
    assert await tier.get(keys[0]) is None
    await tier.close()


async def test_cluster_mode_by_setting_or_env(
    redis_cluster: RedisClusterNodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("AI_CACHE_REDIS_MODE", "cluster")
    aicache.configure(aicache.CacheConfig.from_env(backend="redis"))
    calls = []

    @ai_cached
    async def f(i: int) -> dict[str, int]:
        calls.append(i)
        return {"i": i}

    for _ in range(2):
        for i in range(40):
            assert await f(i) == {"i": i}
    assert len(calls) == 40  # every second call was a Redis hit
    assert aicache.stats.snapshot()["hits_by_tier"] == {"redis": 40}


async def test_cluster_clear_scans_every_primary(redis_cluster: RedisClusterNodes) -> None:
    tier = RedisBackend(redis_cluster.url + "?cluster=true")
    for i in range(30):
        await tier.set(f"aicache:ns:f:{i}", b"v", 60)
    await tier.set("aicache:other:f:0", b"keep", 60)
    listed = [k async for k in tier.keys("aicache:ns:")]
    assert sorted(listed) == sorted(f"aicache:ns:f:{i}" for i in range(30))
    assert await tier.clear("aicache:ns:") == 30
    assert [k async for k in tier.keys("aicache:ns:")] == []
    assert await tier.get("aicache:other:f:0") == b"keep"
    await tier.close()


async def test_a_standalone_client_on_a_cluster_says_so_once_and_never_fails(
    redis_cluster: RedisClusterNodes, caplog: pytest.LogCaptureFixture
) -> None:
    aicache.configure(redis_url=redis_cluster.url, backend="redis", cooldown=0)
    runs = []

    @ai_cached
    async def f(i: int) -> dict[str, int]:
        runs.append(i)
        return {"i": i}

    with caplog.at_level(logging.WARNING, logger="aicache"):
        for i in range(40):
            assert await f(i) == {"i": i}
    told = [r for r in caplog.records if "is a Redis Cluster node" in r.getMessage()]
    assert len(told) == 1
    assert "?cluster=true" in told[0].getMessage()
    assert "AI_CACHE_REDIS_MODE=cluster" in told[0].getMessage()
    assert aicache.stats.snapshot()["errors"] > 0  # counted, not hidden


def test_the_cluster_flag_in_the_url_is_never_ignored() -> None:
    assert RedisBackend("redis://h:7000?cluster=true").target.mode == "cluster"
    assert RedisBackend("redis://h:7000?cluster=false").target.mode == "standalone"
    assert RedisBackend("redis://h:7000", mode="cluster").target.mode == "cluster"
    with pytest.raises(ConfigError, match="cluster='maybe'"):
        RedisBackend("redis://h:7000?cluster=maybe")
    with pytest.raises(ConfigError, match="standalone"):
        RedisBackend("redis://h:7000?cluster=true", mode="standalone")
    with pytest.raises(ConfigError, match="redis_mode"):
        aicache.CacheConfig(redis_mode="shard")
    with pytest.raises(ConfigError, match="AI_CACHE_REDIS_MODE"):
        aicache.CacheConfig.from_env({"AI_CACHE_REDIS_MODE": "shard"})


async def test_fleet_stats_on_a_cluster(redis_cluster: RedisClusterNodes) -> None:
    aicache.configure(redis_url=redis_cluster.url + "?cluster=true", backend="redis")
    _fleet.reset()
    _stats.count(("f", "p", "m"), "hits")
    assert _fleet.flush()
    assert _fleet.read().snapshot["hits"] == 1
    client = redis.RedisCluster.from_url(redis_cluster.url)
    try:
        assert 0 < client.pttl(_fleet.REDIS_KEY) <= aicache.get_config().redis_max_ttl * 1000
    finally:
        client.close()
    _fleet.reset()
    assert _fleet.read().snapshot["hits"] == 0


async def test_cluster_keys_written_with_ttl_none_expire(redis_cluster: RedisClusterNodes) -> None:
    tier = RedisBackend(redis_cluster.url + "?cluster=true", max_ttl=120)
    await tier.set("aicache:default:f:forever", b"v", None)
    client: Any = await tier.client()
    assert 0 < await client.pttl("aicache:default:f:forever") <= 120_000
    await tier.close()
