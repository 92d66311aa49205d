"""``AICache`` used directly, with keys made of parts: the shape the music app first used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from aicache import AICache, CacheConfig, KeyBuildError, MemoryBackend, _cache, cache_control
from aicache import stats as aistats
from aicache._policy import Policy

if TYPE_CHECKING:
    from conftest import Clock


@pytest.fixture
async def cache() -> AsyncIterator[AICache]:
    async with AICache(CacheConfig(backend="memory")) as c:
        yield c


async def test_set_then_get_by_parts(cache: AICache) -> None:
    features = {"tempo": 120.0, "key": "C#m"}
    assert await cache.set("song-1", "mood", features, value={"mood": "dark"}) is True
    assert await cache.get("song-1", "mood", {"key": "C#m", "tempo": 120.0}) == {"mood": "dark"}


async def test_a_missing_entry_gives_the_default(cache: AICache) -> None:
    assert await cache.get("nothing") is None
    assert await cache.get("nothing", default="fallback") == "fallback"


async def test_a_stored_none_is_not_a_miss(cache: AICache) -> None:
    await cache.set("k", value=None)
    assert await cache.get("k", default="fallback") is None
    assert aistats.snapshot()["hits"] == 1


async def test_parts_are_keyed_canonically(cache: AICache) -> None:
    await cache.set("a", "b", value=1)
    assert await cache.get("b", "a") is None  # order matters
    assert await cache.get("a:b") is None  # no joining
    await cache.set(1, value="int")
    await cache.set("1", value="str")
    assert (await cache.get(1), await cache.get("1")) == ("int", "str")
    assert cache.key("a", "b").startswith("aicache:default:manual:")
    assert cache.key({"x": 1, "y": 2}) == cache.key({"y": 2, "x": 1})


async def test_every_get_returns_a_fresh_copy(cache: AICache) -> None:
    await cache.set("k", value={"list": [1, 2]})
    first = await cache.get("k")
    first["list"].append(3)
    assert await cache.get("k") == {"list": [1, 2]}


async def test_set_takes_a_ttl_in_seconds(cache: AICache, clock: Clock) -> None:
    await cache.set("short", value=1, ttl=10)
    await cache.set("default", value=2)  # the configured ttl: 168 hours
    clock.advance(11)
    assert await cache.get("short") is None
    assert await cache.get("default") == 2
    clock.advance(168 * 3600)
    assert await cache.get("default") is None


async def test_delete_removes_one_entry(cache: AICache) -> None:
    await cache.set("a", value=1)
    await cache.set("b", value=2)
    assert await cache.delete("a") is True
    assert await cache.delete("a") is False
    assert (await cache.get("a"), await cache.get("b")) == (None, 2)


async def test_clear_removes_this_namespace_only() -> None:
    shared = MemoryBackend()
    mine = AICache(CacheConfig(namespace="mine"), backend=shared)
    theirs = AICache(CacheConfig(namespace="theirs"), backend=shared)
    await mine.set("a", value=1)
    await mine.set("b", value=2)
    await theirs.set("a", value=3)
    assert await mine.clear() == 2
    assert (await mine.get("a"), await mine.get("b")) == (None, None)
    assert await theirs.get("a") == 3


async def test_get_stats_counts_hits_misses_and_savings(cache: AICache) -> None:
    await cache.get("k")
    await cache.set("k", value="v", cost=0.02)
    await cache.get("k")
    await cache.get("k")
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["stores"]) == (2, 1, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["cost_saved_usd"] == pytest.approx(0.04)
    assert stats["functions"]["manual"]["hits"] == 2


async def test_a_value_that_cannot_be_stored_is_refused_quietly(cache: AICache) -> None:
    assert await cache.set("k", value=object()) is False
    assert await cache.get("k") is None
    assert cache.get_stats()["not_stored"] == 1


async def test_parts_that_cannot_be_keyed_raise_key_build_error(cache: AICache) -> None:
    with pytest.raises(KeyBuildError, match="object"):
        await cache.get(object())


async def test_a_cache_is_an_async_context_manager() -> None:
    async with AICache(CacheConfig(backend="memory")) as cache:
        await cache.set("k", value=1)
        assert await cache.get("k") == 1


def test_a_bad_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="namespace"):
        AICache(CacheConfig(backend="memory"), namespace="a b")


async def test_cache_control_reaches_direct_gets_and_sets(cache: AICache) -> None:
    await cache.set("k", value="stored")
    with cache_control(read=False):
        assert await cache.get("k", default="fresh") == "fresh"
    with cache_control(write=False):
        assert await cache.get("k") == "stored"  # reads still served
        assert await cache.set("k", value="new") is False
        assert await cache.set("other", value="new") is False
    assert (await cache.get("k"), await cache.get("other")) == ("stored", None)
    snap = cache.get_stats()
    assert (snap["hits"], snap["misses"], snap["bypasses"], snap["stores"]) == (2, 1, 1, 1)


# -- peek: a hit that awaits nothing, and the entries it keeps opened ---------------------------

LABEL = ("fn", "", "")


async def _stored(cache: AICache, key: str, value: object, **policy: float) -> None:
    assert await cache.store(
        key, value, Policy(LABEL, policy.pop("ttl", 60), **policy), 0.0, (0.01, None)
    )


async def test_peek_hands_out_a_fresh_copy_on_every_hit(cache: AICache) -> None:
    await _stored(cache, "k", {"list": [1, 2]})
    for _ in range(3):
        found = cache.peek("k", LABEL)
        assert found == ({"list": [1, 2]},)
        found[0]["list"].append(3)
    assert aistats.snapshot()["hits"] == 3


async def test_peek_opens_an_entry_once(cache: AICache, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    decode = _cache.decode
    monkeypatch.setattr(_cache, "decode", lambda *a, **k: decoded.append(a[0]) or decode(*a, **k))
    await _stored(cache, "k", {"a": 1})
    assert [cache.peek("k", LABEL) for _ in range(3)] == [({"a": 1},)] * 3
    assert decoded == ["k"]


async def test_peek_serves_the_entry_that_replaced_one_it_opened(cache: AICache) -> None:
    await _stored(cache, "k", {"v": 1})
    assert cache.peek("k", LABEL) == ({"v": 1},)
    await _stored(cache, "k", {"v": 2})
    assert cache.peek("k", LABEL) == ({"v": 2},)


async def test_peek_of_an_opened_entry_stops_at_its_ttl(cache: AICache, clock: Clock) -> None:
    await _stored(cache, "k", {"v": 1}, ttl=10, stale_ttl=100)
    assert cache.peek("k", LABEL) == ({"v": 1},)
    clock.advance(11)
    assert cache.peek("k", LABEL) is None  # stale: lookup() serves it and starts a refresh
    assert await cache.lookup("k", LABEL, allow_stale=True) == ({"v": 1}, True)


async def test_caches_with_different_secrets_sharing_one_memory_tier() -> None:
    memory = MemoryBackend()
    a = AICache(CacheConfig(secret="secret-a"), backend=memory)
    b = AICache(CacheConfig(secret="secret-b"), backend=memory)
    try:
        await _stored(a, "k", {"by": "a"})
        assert a.peek("k", LABEL) == ({"by": "a"},)
        assert b.peek("k", LABEL) is None  # not its signature: lookup() discards it
        await _stored(b, "k", {"by": "b"})
        assert b.peek("k", LABEL) == ({"by": "b"},)
        assert a.peek("k", LABEL) is None
    finally:
        await a.close()
        await b.close()


async def test_peek_keeps_a_bounded_number_of_entries_opened(cache: AICache) -> None:
    for i in range(_cache._OPENED + 10):
        await _stored(cache, f"k{i}", i)
        assert cache.peek(f"k{i}", LABEL) == (i,)
    assert 0 < len(cache._opened) <= _cache._OPENED
    assert cache.peek("k0", LABEL) == (0,)
