"""Large entries are stored compressed in the file and Redis tiers; a bomb is a miss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import zstandard

import aicache
from aicache import ai_cached, cache_info

ANSWER = {"text": "a long and repetitive model answer " * 30_000}  # about 1 MB of JSON


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "fleet" not in p.name]


async def test_a_1mb_result_is_stored_compressed_in_the_file_tier() -> None:
    runs = []

    @ai_cached(backend="file")
    async def answer() -> dict[str, str]:
        runs.append(1)
        return ANSWER

    assert await answer() == ANSWER
    sizes = [p.stat().st_size for p in stored_files(aicache.get_config().cache_dir)]
    assert sizes and max(sizes) < 100_000
    value = await answer()
    assert value == ANSWER and len(runs) == 1
    info = cache_info(value)
    assert info is not None and info.tier == "file"


async def test_a_1mb_result_is_stored_compressed_in_redis(redis_server: Any) -> None:
    aicache.configure(redis_url=redis_server.url)

    @ai_cached(backend="redis")
    async def answer() -> dict[str, str]:
        return ANSWER

    await answer()
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        stored = await raw.get(answer.cache.key())
    assert stored is not None and stored[:5] == b"aic1z" and len(stored) < 100_000
    info = cache_info(await answer())
    assert info is not None and info.tier == "redis"


async def test_a_compression_bomb_in_redis_is_a_miss(redis_server: Any) -> None:
    aicache.configure(redis_url=redis_server.url, max_entry_bytes=1 << 20)
    runs = []

    @ai_cached(backend="redis")
    async def answer() -> dict[str, int]:
        runs.append(1)
        return {"a": 1}

    bomb = b"aic1z" + zstandard.ZstdCompressor().compress(b"[" + b" " * (64 << 20) + b"]")
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        await raw.set(answer.cache.key(), bomb)
    assert await answer() == {"a": 1}
    assert runs == [1]
    assert aicache.stats.snapshot()["errors"] >= 1
