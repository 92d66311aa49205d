"""The chain's own behaviour: one shared read of a key among concurrent callers of remote tiers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from aicache import ai_cached, cache_info
from aicache._chain import Chain, Lookup
from aicache.backends import MemoryBackend, RedisBackend


@pytest.fixture
async def redis(redis_server: Any) -> AsyncIterator[RedisBackend]:
    """The Redis tier on the test's server, with timeouts a loaded machine never hits."""
    tier = RedisBackend(redis_server.url, timeout=2.0, connect_timeout=2.0)
    try:
        yield tier
    finally:
        await tier.close()


async def _gets(url: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        stats: dict[str, Any] = await client.info("commandstats")
        return int(stats.get("cmdstat_get", {}).get("calls", 0))
    finally:
        await client.aclose()


async def test_concurrent_hits_on_redis_share_one_get(
    redis_server: Any, redis: RedisBackend
) -> None:
    calls = 0

    @ai_cached(backend=[redis], ttl=60)
    async def classify(track: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"track": track, "genre": "house"}

    await classify("a")  # stored
    before = await _gets(redis_server.url)
    results = await asyncio.gather(*(classify("a") for _ in range(200)))
    after = await _gets(redis_server.url)

    assert calls == 1
    assert after - before == 1
    assert all(r == {"track": "a", "genre": "house"} for r in results)
    assert len({id(r) for r in results}) == 200  # each caller its own copy
    assert {cache_info(r).tier for r in results} == {"redis"}  # type: ignore[union-attr]


async def test_a_stampede_on_redis_reads_once_and_calls_once(
    redis_server: Any, redis: RedisBackend
) -> None:
    calls = 0

    @ai_cached(backend=[redis], ttl=60)
    async def classify(track: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"track": track}

    before = await _gets(redis_server.url)
    results = await asyncio.gather(*(classify("b") for _ in range(500)))
    after = await _gets(redis_server.url)

    assert calls == 1
    assert results == [{"track": "b"}] * 500
    # The shared lookup only: nothing was stored since it began, so the flight calls at once.
    assert after - before == 1


async def test_cancelled_reader_leaves_the_others_to_read(
    redis_server: Any, redis: RedisBackend
) -> None:
    chain = Chain([redis], cooldown=5.0)
    await redis.set("k", b"value", 60)
    redis_server.freeze()  # the first read hangs until thawed
    try:
        reader = asyncio.create_task(chain.get("k"))
        await asyncio.sleep(0.05)
        followers = [asyncio.create_task(chain.get("k")) for _ in range(5)]
        await asyncio.sleep(0.05)
        reader.cancel()
        await asyncio.sleep(0.05)
    finally:
        redis_server.thaw()
    found = await asyncio.gather(*followers)
    assert [f.data for f in found] == [b"value"] * 5


async def test_local_tiers_do_not_share_reads() -> None:
    chain = Chain([MemoryBackend()], cooldown=5.0)
    assert chain._reads is None  # memory reads never wait: nothing to share


async def test_a_read_begun_before_a_store_returned_is_not_shared_after_it(
    redis_server: Any, redis: RedisBackend
) -> None:
    memory = MemoryBackend()
    chain = Chain([memory, redis], cooldown=5.0)
    redis_server.freeze()  # the first read hangs in Redis until thawed
    try:
        reader = asyncio.create_task(chain.get("k"))
        await asyncio.sleep(0.05)
        await chain.set("k", b"new", 60, [chain.tiers[0]])  # stored in memory meanwhile
        # A read that shared the one in Redis might not see the entry: this one reads itself.
        found = await asyncio.wait_for(chain.get("k"), 1.0)
    finally:
        redis_server.thaw()
    assert found.data == b"new"
    await reader


async def test_a_caller_that_gives_up_on_a_shared_read_leaves_it_to_the_others(
    redis_server: Any, redis: RedisBackend
) -> None:
    chain = Chain([redis], cooldown=5.0)
    await redis.set("k", b"value", 60)
    redis_server.freeze()
    try:
        reader = asyncio.create_task(chain.get("k"))
        await asyncio.sleep(0.05)
        followers = [asyncio.create_task(chain.get("k")) for _ in range(3)]
        await asyncio.sleep(0.05)
        followers[0].cancel()
    finally:
        redis_server.thaw()
    found = await asyncio.gather(reader, *followers, return_exceptions=True)
    assert isinstance(found[1], asyncio.CancelledError)
    assert [f.data for f in found if isinstance(f, Lookup)] == [b"value"] * 3
    assert chain._reads == {}
