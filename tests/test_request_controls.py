"""Per-request controls: ``namespace=`` and ``ttl=`` on one call, and ``cache_control(...)``
scopes, on decorated functions over real tiers (files and a real Redis)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

import aicache
from aicache import AICache, ConfigError, ai_cached, cache_control

if TYPE_CHECKING:
    from conftest import Clock, RedisServer


def _counting() -> tuple[Any, list[Any]]:
    calls: list[Any] = []

    @ai_cached(name="tenancy.answer")
    async def answer(question: str) -> dict[str, Any]:
        calls.append(question)
        return {"question": question, "n": len(calls)}

    return answer, calls


@pytest.fixture(params=["file", "redis"])
def tiers(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Settings on the file tier, or on a real Redis of this test's own."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        aicache.configure(backend="redis", redis_url=server.url)
    else:
        aicache.configure(backend="file", cache_dir=tmp_path / "cache")
    return str(request.param)


async def _keys(prefix: str) -> list[str]:
    cache = AICache(aicache.get_config())
    try:
        return [k for tier in cache.chain.tiers async for k in tier.backend.keys(prefix)]
    finally:
        await cache.close()


async def test_namespace_per_call_keeps_tenants_apart(tiers: str) -> None:
    answer, _ = _counting()
    a1 = await answer("q", namespace="tenant-a")
    a2 = await answer("q", namespace="tenant-a")
    b1 = await answer("q", namespace="tenant-b")
    plain = await answer("q")
    assert a1 == a2 == {"question": "q", "n": 1}
    assert b1 == {"question": "q", "n": 2}  # never served tenant-a's entry
    assert plain == {"question": "q", "n": 3}
    assert len(await _keys("aicache:tenant-a:tenancy.answer:")) == 1
    assert len(await _keys("aicache:tenant-b:tenancy.answer:")) == 1


async def test_cache_control_namespace_covers_the_tasks_it_starts(tiers: str) -> None:
    answer, calls = _counting()
    with cache_control(namespace="tenant-a"):
        first = await asyncio.gather(*(asyncio.create_task(answer(q)) for q in "xyz"))
        assert answer.cache.key("x").startswith("aicache:tenant-a:tenancy.answer:")
    with cache_control(namespace="tenant-b"):
        other = await asyncio.gather(*(answer(q) for q in "xyz"))
        with cache_control(namespace="tenant-a"):  # the inner block's namespace wins
            again = await asyncio.gather(*(answer(q) for q in "xyz"))
        # a call's own namespace= wins over the block's
        assert await answer("x", namespace="tenant-a") == first[0]
    assert len(calls) == 6
    assert again == first
    assert {r["n"] for r in other}.isdisjoint({r["n"] for r in first})
    assert len(await _keys("aicache:tenant-a:")) == 3
    assert len(await _keys("aicache:tenant-b:")) == 3
    assert await _keys("aicache:default:") == []


async def test_clearing_one_namespace_never_touches_another(tiers: str) -> None:
    answer, calls = _counting()
    for tenant in ("tenant-a", "tenant-b"):
        with cache_control(namespace=tenant):
            await answer("q")
            await AICache(aicache.get_config()).set("manual", value=tenant)
    with cache_control(namespace="tenant-a"):
        assert await answer.cache.clear() == 1
        cache = AICache(aicache.get_config())
        assert await cache.clear() == 1  # the manual entry: the rest of tenant-a
        await cache.close()
    assert await _keys("aicache:tenant-a:") == []
    assert len(await _keys("aicache:tenant-b:")) == 2
    assert await answer("q", namespace="tenant-b") == {"question": "q", "n": 2}
    assert len(calls) == 2
    await answer("q", namespace="tenant-a")
    assert len(calls) == 3


async def test_ttl_per_call_and_per_block(clock: Clock, tmp_path: Any) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path / "cache", ttl=3600.0)
    answer, calls = _counting()
    await answer("short", ttl=10)
    with cache_control(ttl=20):
        await answer("block")
        await answer("own", ttl=5)  # a call's own ttl wins over the block's
    await answer("default")
    clock.advance(6)
    await answer("own")
    assert calls.count("own") == 2
    clock.advance(5)  # 11 s
    for q in ("short", "block", "default"):
        await answer(q)
    assert calls.count("short") == 2
    assert calls.count("block") == 1
    clock.advance(10)  # 21 s
    await answer("block")
    await answer("default")
    assert calls.count("block") == 2
    assert calls.count("default") == 1


async def test_ttl_none_per_call_keeps_the_entry_until_evicted(clock: Clock) -> None:
    aicache.configure(ttl=60.0)
    answer, calls = _counting()
    await answer("q", ttl=None)
    clock.advance(10 * 24 * 3600)
    await answer("q")
    assert calls == ["q"]


@pytest.mark.parametrize(
    ("controls", "named"),
    [
        ({"namespace": "tenant a"}, "namespace"),
        ({"namespace": "a:b"}, "namespace"),
        ({"namespace": 7}, "namespace"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": "60"}, "ttl"),
        ({"ttl": float("inf")}, "ttl"),
    ],
)
async def test_bad_namespace_or_ttl_is_an_error_naming_the_argument(
    controls: dict[str, Any], named: str
) -> None:
    answer, calls = _counting()
    with pytest.raises(ConfigError, match=named):
        await answer("q", **controls)
    with pytest.raises(ConfigError, match=named), cache_control(**controls):
        pass
    assert calls == []


async def test_a_parameter_named_namespace_or_ttl_keeps_its_meaning() -> None:
    seen: list[tuple[str, int]] = []

    @ai_cached(name="tenancy.own")
    async def lookup(namespace: str, ttl: int) -> str:
        seen.append((namespace, ttl))
        return f"{namespace}/{ttl}"

    assert await lookup(namespace="x", ttl=1) == "x/1"
    assert await lookup(namespace="x", ttl=1) == "x/1"
    assert await lookup(namespace="y", ttl=1) == "y/1"
    assert seen == [("x", 1), ("y", 1)]
    with cache_control(namespace="tenant-a"):  # the scope still picks its namespace
        assert lookup.cache.key(namespace="x", ttl=1).startswith("aicache:tenant-a:")


async def test_config_namespace_default_still_applies_without_controls() -> None:
    aicache.configure(namespace="app")
    answer, _ = _counting()
    assert answer.cache.key("q").startswith("aicache:app:tenancy.answer:")
    with cache_control(namespace="tenant-a"):
        assert answer.cache.key("q").startswith("aicache:tenant-a:tenancy.answer:")
