"""Faults of one entry, and write-only faults, on real redis-servers and real files: a key of the
wrong type, a server out of memory, and a refresh made while Redis hiccups. None of them may
switch a tier off for reads or let it serve an entry older than one a refresh replaced."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

import aicache
from aicache import ai_cached, cache_info
from aicache.backends import FileBackend, MemoryBackend, RedisBackend

if TYPE_CHECKING:
    from conftest import RedisServer


def hits() -> dict[str, int]:
    result: dict[str, int] = aicache.stats.snapshot()["hits_by_tier"]
    return result


async def test_a_key_of_the_wrong_redis_type_misses_only_that_key(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis = RedisBackend(redis_server.url)
    calls: Counter[int] = Counter()

    @ai_cached(backend=[redis, FileBackend(tmp_path)], ttl=3600)
    async def f(x: int) -> dict[str, int]:
        calls[x] += 1
        return {"x": x}

    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await raw.rpush(f.cache.key(0), "a", "list", "not", "an", "entry")
        for _ in range(3):
            for x in range(20):
                assert await f(x) == {"x": x}
        assert hits()["redis"] >= 2 * 19  # the healthy keys keep hitting Redis
        assert calls[0] == 1  # the bad key was overwritten by the store, then hit
        assert await raw.type(f.cache.key(0)) == b"string"
    finally:
        await raw.aclose()


async def test_redis_out_of_memory_stops_writes_not_reads(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    calls: Counter[int] = Counter()

    @ai_cached(backend=[RedisBackend(redis_server.url)], ttl=3600)
    async def f(x: int) -> str:
        calls[x] += 1
        return "big" * 20_000 if x >= 10 else "small"

    for x in range(10):
        await f(x)  # stored while there is room
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        used = int((await raw.info("memory"))["used_memory"])
        await raw.config_set("maxmemory", used + 4096)
        await raw.config_set("maxmemory-policy", "noeviction")
        for x in range(10, 20):
            assert await f(x) == "big" * 20_000  # each store: OOM command not allowed
        aicache.stats.reset()
        for x in range(10):
            assert await f(x) == "small"
        assert hits().get("redis") == 10  # entries stored before the outage keep hitting
        assert sum(calls[x] for x in range(10)) == 10
    finally:
        await raw.config_set("maxmemory", 0)
        await raw.aclose()


async def test_a_refresh_during_a_redis_hiccup_is_not_undone_when_redis_returns(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.extra_args = ["--enable-debug-command", "yes"]
    redis_server.restart()
    aicache.configure(cooldown=0.5)
    version = 1

    def service() -> object:
        @ai_cached(
            backend=[
                RedisBackend(redis_server.url, timeout=0.1, connect_timeout=0.1),
                FileBackend(tmp_path),
                MemoryBackend(),
            ],
            ttl=3600,
            name="svc.answer",
        )
        async def answer(q: str) -> dict[str, int]:
            return {"version": version}

        return answer

    answer = service()
    assert await answer("q") == {"version": 1}  # type: ignore[operator]
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        hiccup = asyncio.create_task(raw.execute_command("DEBUG", "SLEEP", "0.4"))
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, "aicache"):
            await answer("p")  # type: ignore[operator]  # times out: the breaker opens
            version = 2
            assert await answer.cache.refresh("q") == {"version": 2}  # type: ignore[attr-defined]
        await hiccup
        await asyncio.sleep(0.6)  # past the cool-down: Redis is used again
        for _ in range(3):
            result = await answer("q")  # type: ignore[operator]
            assert result == {"version": 2}, cache_info(result)
        another_process = service()  # shares only Redis and the directory
        assert await another_process("q") == {"version": 2}  # type: ignore[operator]
        other = aioredis.Redis.from_url(redis_server.url)
        assert b'"version":2' in (await other.get(answer.cache.key("q")) or b"")  # type: ignore[attr-defined]
        await other.aclose()
    finally:
        await raw.aclose()
