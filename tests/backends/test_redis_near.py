"""The Redis tier's near cache: copies in process memory, dropped when another process changes the
key, and none served while the invalidation channel is down. Real servers, real processes."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import redis.asyncio as aioredis

from aicache import ConfigError
from aicache.backends import WOULD_BLOCK, RedisBackend
from aicache.backends._redis_near import NearCache

KEY = "aicache:near:mod.fn:" + "ab" * 32
#: How long a stale copy may be served after another process's write returned: the documented
#: worst case is a lost channel noticed after two ping intervals (1 s); a live channel takes
#: well under a millisecond (see the benchmarks' near-cache family).
BOUND = 1.0

WRITER = """
import asyncio, sys
from aicache.backends import RedisBackend

async def main():
    tier = RedisBackend(sys.argv[1])
    if sys.argv[2] == "set":
        await tier.set(sys.argv[3], sys.argv[4].encode(), 60)
    else:
        await tier.delete(sys.argv[3])
    await tier.close()

asyncio.run(main())
"""


async def other_process(url: str, *args: str) -> None:
    """Another process writes through its own RedisBackend (no near cache) and exits."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, url, *args)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


async def live(tier: RedisBackend, timeout: float = 5.0) -> None:
    """Wait for the near cache's channel to be subscribed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await tier.get(KEY + "warm")  # opens the pool, which starts the channel
    while not tier.near_stats().get("live"):
        assert loop.time() < deadline, "the invalidation channel never came up"
        await asyncio.sleep(0.01)


async def written(tier: RedisBackend, key: str, value: bytes) -> None:
    """Write through ``tier``, and let the write's own invalidation arrive (it drops the copy
    of a read that was in flight meanwhile)."""
    await tier.set(key, value, 60)
    await asyncio.sleep(0.05)


async def served_until_changed(tier: RedisBackend, old: bytes | None) -> float:
    """Seconds until ``tier`` stops serving ``old``, polling while the loop turns."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await tier.get(KEY) == old:
        assert loop.time() - started < BOUND, "kept serving the old copy past the bound"
        await asyncio.sleep(0.001)
    return loop.time() - started


async def test_near_cache_serves_a_hot_entry_from_memory(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await written(tier, KEY, b"v1")
    assert tier.peek(KEY) is None  # not read yet
    assert await tier.get(KEY) == b"v1"
    assert tier.peek(KEY) == b"v1"
    hits = tier.near_stats()["hits"]
    assert await tier.get(KEY) == b"v1"
    assert tier.near_stats()["hits"] == hits + 1
    await tier.close()


async def test_a_near_copy_is_served_without_an_await(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await other_process(redis_server.url, "set", KEY, "v1")
    assert tier.get_nowait(KEY) is WOULD_BLOCK  # not held: only Redis can tell
    assert await tier.get(KEY) == b"v1"
    assert tier.get_nowait(KEY) == b"v1"  # a chain's peek serves it: the hit awaits nothing
    await other_process(redis_server.url, "set", KEY, "v2")
    loop = asyncio.get_running_loop()
    started = loop.time()
    while tier.get_nowait(KEY) == b"v1":
        assert loop.time() - started < BOUND, "kept serving the old copy past the bound"
        await asyncio.sleep(0.001)
    assert tier.get_nowait(KEY) is WOULD_BLOCK
    await tier.close()


async def test_near_copy_dropped_when_another_process_overwrites(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await other_process(redis_server.url, "set", KEY, "v1")
    assert await tier.get(KEY) == b"v1"
    assert tier.peek(KEY) == b"v1"
    await other_process(redis_server.url, "set", KEY, "v2")
    await served_until_changed(tier, b"v1")
    assert await tier.get(KEY) == b"v2"
    assert tier.near_stats()["invalidated"] >= 1
    await tier.close()


async def test_near_copy_dropped_when_another_process_deletes(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await other_process(redis_server.url, "set", KEY, "v1")
    assert await tier.get(KEY) == b"v1"
    await other_process(redis_server.url, "delete", KEY)
    await served_until_changed(tier, b"v1")
    assert await tier.get(KEY) is None
    await tier.close()


async def test_lost_channel_drops_copies_and_pauses_until_back(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await written(tier, KEY, b"v1")
    assert await tier.get(KEY) == b"v1"
    assert tier.peek(KEY) == b"v1"
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        killed = await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert killed == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while tier.peek(KEY) is not None:
        assert loop.time() < deadline, "kept the copy after its channel was killed"
        await asyncio.sleep(0.001)
    assert tier.near_stats()["losses"] == 1
    await live(tier)  # it comes back, and caches again
    assert await tier.get(KEY) == b"v1"
    assert tier.peek(KEY) == b"v1"
    await tier.close()


async def test_silent_channel_drops_copies_within_two_pings(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100, timeout=0.2)
    await live(tier)
    await written(tier, KEY, b"v1")
    assert await tier.get(KEY) == b"v1"
    assert tier.peek(KEY) == b"v1"
    redis_server.freeze()  # a partition: nothing answers, nothing closes
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while tier.peek(KEY) is not None:
            assert loop.time() - started < 3 * BOUND, "served from a silent channel"
            await asyncio.sleep(0.01)
        assert not tier.near_stats()["live"]
    finally:
        redis_server.thaw()
    await tier.close()


async def test_own_write_replaces_the_near_copy(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=100)
    await live(tier)
    await tier.set(KEY, b"v1", 60)
    assert await tier.get(KEY) == b"v1"
    await tier.set(KEY, b"v2", 60)
    assert await tier.get(KEY) == b"v2"
    assert await tier.delete(KEY) is True
    assert await tier.get(KEY) is None
    await tier.set(KEY, b"v3", 60)
    assert await tier.get(KEY) == b"v3"
    assert await tier.clear("aicache:near:") == 1
    assert await tier.get(KEY) is None
    await tier.close()


async def test_near_cache_bounded_by_entries_and_bytes(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, near=3, near_bytes=10)
    await live(tier)
    for i in range(5):
        await written(tier, f"{KEY}{i}", b"1234")
        assert await tier.get(f"{KEY}{i}") == b"1234"
    assert tier.near_stats()["entries"] == 2  # 10 bytes hold two 4-byte copies
    assert [tier.peek(f"{KEY}{i}") for i in range(5)] == [None, None, None, b"1234", b"1234"]
    await tier.close()


def test_read_in_flight_when_its_key_changes_keeps_nothing() -> None:
    near = NearCache(lambda: None, max_entries=10, max_bytes=1000, prefix="aicache:", check=1.0)
    near.live = True
    epoch = near.begin(KEY)
    near.forget(KEY)  # an invalidation arrives before the read's reply
    near.end(KEY, b"v1", epoch)
    assert near.get(KEY) is None
    epoch = near.begin(KEY)  # the next read keeps its copy
    near.end(KEY, b"v2", epoch)
    assert near.get(KEY) == b"v2"
    epoch = near.begin(KEY)
    near.drop_all()  # the channel was lost and came back meanwhile
    near.end(KEY, b"v3", epoch)
    assert near.get(KEY) is None


def test_near_cache_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="near"):
        RedisBackend("redis://127.0.0.1:1/0", near=-1)
    with pytest.raises(ConfigError, match="Cluster"):
        RedisBackend("redis://127.0.0.1:1/0?cluster=true", near=10)
