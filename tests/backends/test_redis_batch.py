"""Auto-pipelining: one event-loop turn's Redis commands as one round trip, against real servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from aicache import ai_cached
from aicache.backends import EntryError, RedisBackend

PREFIX = "aicache:batch:f:"


async def calls_of(url: str, command: str) -> int:
    """How many times the server ran ``command`` since its stats were reset."""
    async with aioredis.Redis.from_url(url) as raw:
        stats = await raw.info("commandstats")
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def reset_stats(url: str) -> None:
    async with aioredis.Redis.from_url(url) as raw:
        await raw.config_resetstat()


async def test_concurrent_reads_in_one_turn_go_as_one_mget(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    for i in range(0, 300, 2):  # every other key exists
        await tier.set(f"{PREFIX}{i}", f"v{i}".encode(), 60)
    await reset_stats(redis_server.url)
    found = await asyncio.gather(*(tier.get(f"{PREFIX}{i}") for i in range(300)))
    assert found == [f"v{i}".encode() if i % 2 == 0 else None for i in range(300)]
    # The first found nothing on the way and went at once; the 299 behind it, as one MGET.
    assert await calls_of(redis_server.url, "get") == 1
    assert await calls_of(redis_server.url, "mget") == 1
    await tier.close()


async def test_mixed_reads_and_writes_in_one_turn_keep_their_own_replies(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url)
    await tier.set(PREFIX + "old", b"old", 60)
    await tier.set(PREFIX + "gone", b"x", 60)
    await reset_stats(redis_server.url)
    results = await asyncio.gather(
        tier.set(PREFIX + "new", b"new", 60),
        tier.get(PREFIX + "old"),
        tier.set(PREFIX + "gone", b"", 0),  # no time left: unlinked
        tier.get(PREFIX + "missing"),
    )
    assert results == [None, b"old", None, None]
    assert await calls_of(redis_server.url, "set") == 1  # one pipeline, not a MGET
    assert await tier.get(PREFIX + "new") == b"new"
    assert await tier.get(PREFIX + "gone") is None
    await tier.close()


async def test_an_error_in_a_batch_reaches_only_its_own_caller(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    raw = await tier.client()
    await raw.rpush(PREFIX + "list", b"not a string")
    await tier.set(PREFIX + "fine", b"ok", 60)
    results = await asyncio.gather(
        tier.get(PREFIX + "list"),
        tier.set(PREFIX + "written", b"w", 60),  # a write: the batch is a pipeline of GETs
        tier.get(PREFIX + "fine"),
        return_exceptions=True,
    )
    assert isinstance(results[0], EntryError)  # WRONGTYPE, for this key only
    assert results[1:] == [None, b"ok"]
    await tier.close()


async def test_cancelled_opener_leaves_the_batch_to_the_others(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    for i in range(6):
        await tier.set(f"{PREFIX}{i}", b"v", 60)
    await reset_stats(redis_server.url)
    first = asyncio.ensure_future(tier.get(PREFIX + "5"))
    await asyncio.sleep(0)  # sent at once, and on the way while the next ones come
    opener = asyncio.ensure_future(tier.get(PREFIX + "0"))
    others = [asyncio.ensure_future(tier.get(f"{PREFIX}{i}")) for i in range(1, 5)]
    await asyncio.sleep(0)  # the opener yields its turn with the batch open; the others join
    opener.cancel()
    assert await asyncio.gather(*others) == [b"v"] * 4
    with pytest.raises(asyncio.CancelledError):
        await opener
    assert await first == b"v"
    assert await calls_of(redis_server.url, "mget") == 1  # the others' batch went without it
    await tier.close()


async def test_frozen_server_fails_each_batched_operation_within_the_timeout(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url, timeout=0.2)
    await tier.set(PREFIX + "warm", b"v", 60)  # a pooled connection exists
    redis_server.freeze()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(
            *(tier.get(f"{PREFIX}{i}") for i in range(50)), return_exceptions=True
        )
        assert all(isinstance(r, Exception) for r in results)
        assert loop.time() - started < 2.0  # one timeout for the batch, not fifty in turn
    finally:
        redis_server.thaw()
    await tier.close()


async def test_stampede_on_distinct_keys_through_the_decorator_batches(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)

    @ai_cached(backend=tier, namespace="batch")
    async def double(x: int) -> int:
        return 2 * x

    assert await asyncio.gather(*(double(i) for i in range(100))) == [2 * i for i in range(100)]
    await reset_stats(redis_server.url)
    assert await asyncio.gather(*(double(i) for i in range(100))) == [2 * i for i in range(100)]
    assert await calls_of(redis_server.url, "get") <= 3  # callers that found nothing on the way
    assert 1 <= await calls_of(redis_server.url, "mget") <= 3
    await tier.close()


async def test_cluster_batches_reads_across_slots(redis_cluster: Any) -> None:
    tier = RedisBackend(redis_cluster.url + "?cluster=true")
    for i in range(60):
        await tier.set(f"{PREFIX}c{i}", f"v{i}".encode(), 60)
    found = await asyncio.gather(*(tier.get(f"{PREFIX}c{i}") for i in range(60)))
    assert found == [f"v{i}".encode() for i in range(60)]
    await tier.close()
