"""Rotating ``AI_CACHE_SECRET``: processes with different secrets share one Redis without calling
each other's entries tampered, as long as each lists the other's secret as a previous one."""

from __future__ import annotations

from typing import Any

import pytest

import aicache
from aicache import AICache, CacheConfig, ConfigError


def _process(url: str, secret: str, *previous: str) -> AICache:
    config = CacheConfig(redis_url=url, secret=secret, secret_previous=previous)
    return AICache(config, backend="redis")


async def test_processes_mid_rotation_read_each_others_entries(redis_server: Any) -> None:
    old = _process(redis_server.url, "old-secret", "new-secret")  # step 1: accepts the new one
    new = _process(redis_server.url, "new-secret", "old-secret")  # step 2: signs with it
    try:
        for i in range(20):
            await (old if i % 2 else new).set("q", i, value={"answer": i})
        for i in range(20):
            assert await (new if i % 2 else old).get("q", i) == {"answer": i}
        assert aicache.stats.snapshot()["tampered"] == 0
        assert aicache.stats.snapshot()["hits"] == 20
    finally:
        await old.close()
        await new.close()


async def test_a_secret_that_is_neither_current_nor_previous_is_still_refused(
    redis_server: Any,
) -> None:
    writer = _process(redis_server.url, "retired-secret")
    reader = _process(redis_server.url, "new-secret", "old-secret")
    try:
        await writer.set("q", value={"answer": 1})
        assert await reader.get("q") is None
        assert aicache.stats.snapshot()["tampered"] == 1
    finally:
        await writer.close()
        await reader.close()


def test_previous_secrets_come_from_the_environment_comma_separated() -> None:
    config = CacheConfig.from_env(
        {"AI_CACHE_SECRET": "new", "AI_CACHE_SECRET_PREVIOUS": "old, older ,"}
    )
    assert config.secret == b"new"
    assert config.secret_previous == (b"old", b"older")


def test_previous_secrets_without_a_current_one_are_refused() -> None:
    with pytest.raises(ConfigError, match="AI_CACHE_SECRET"):
        CacheConfig.from_env({"AI_CACHE_SECRET_PREVIOUS": "old"})
    with pytest.raises(ConfigError, match="secret_previous"):
        CacheConfig(secret="new", secret_previous="old")  # type: ignore[arg-type]
