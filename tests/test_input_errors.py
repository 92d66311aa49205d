"""A user's mistake is a clear error of the documented type, at decoration or the first call:
arguments that cannot be keyed, a non-bool ``bypass_cache``, an out-of-range ``ttl``, and
function names whose ``clear()`` prefix would reach another function's entries."""

from __future__ import annotations

from typing import Any

import pytest

import aicache
from aicache import AICache, ConfigError, KeyBuildError, ai_cached
from aicache.backends import MemoryBackend


@ai_cached(backend="memory")
async def echo(payload: Any) -> str:
    return "ok"


async def test_a_recursive_argument_is_a_key_build_error_naming_it() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(KeyBuildError, match="payload"):
        await echo(loop)
    nested: dict[str, Any] = {}
    nested["me"] = nested
    with pytest.raises(KeyBuildError, match="payload"):
        await echo({"x": nested})


async def test_a_huge_integer_is_a_key_build_error_naming_it() -> None:
    with pytest.raises(KeyBuildError, match="payload"):
        await echo(10**5000)
    with pytest.raises(KeyBuildError, match=r"payload\['n'\]"):
        await echo({"n": 10**5000})


class LoudKey:
    """A dict key whose ``__repr__`` raises (its hash works)."""

    def __repr__(self) -> str:
        raise RecursionError("repr went wrong")


async def test_a_dict_key_whose_repr_raises_is_a_key_build_error_naming_it() -> None:
    with pytest.raises(KeyBuildError, match="payload"):
        await echo({LoudKey(): 1})


@pytest.mark.parametrize("flag", ["false", "true", 0, 1, None, [True]])
async def test_bypass_cache_takes_only_a_bool(flag: Any) -> None:
    with pytest.raises(TypeError, match="bypass_cache"):
        await echo("x", bypass_cache=flag)  # type: ignore[call-arg]


async def test_bypass_cache_true_and_false_still_work() -> None:
    assert await echo("x", bypass_cache=False) == "ok"  # type: ignore[call-arg]
    assert await echo("x", bypass_cache=True) == "ok"  # type: ignore[call-arg]


@pytest.mark.parametrize("option", ["ttl", "stale_ttl"])
@pytest.mark.parametrize("value", [1e17, 4e9, float("inf"), -1, 0])
def test_ttl_and_stale_ttl_out_of_range_are_refused_when_decorating(
    option: str, value: float
) -> None:
    with pytest.raises(ConfigError, match=option):
        ai_cached(**{option: value})(echo.__wrapped__)  # type: ignore[arg-type, attr-defined]


def test_the_longest_ttl_is_accepted() -> None:
    from aicache._policy import MAX_TTL

    ai_cached(ttl=MAX_TTL, stale_ttl=MAX_TTL)(echo.__wrapped__)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="ttl"):
        aicache.CacheConfig(ttl=MAX_TTL * 2)


async def test_a_huge_ttl_no_longer_reaches_redis(redis_server: Any) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        ai_cached(backend="redis", ttl=1e17)(echo.__wrapped__)  # type: ignore[attr-defined]
    cache = AICache(aicache.CacheConfig(redis_url=redis_server.url), backend="redis")
    with pytest.raises(ConfigError, match="ttl"):
        await cache.set("part", value=1, ttl=1e17)
    await cache.close()


@pytest.mark.parametrize("name", ["tenant:acme", "a*", "a?", "a[b]", "a\\b", "a b", "a\nb"])
def test_a_name_that_could_reach_other_entries_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="name="):
        ai_cached(name=name)(echo.__wrapped__)  # type: ignore[attr-defined]


async def test_clearing_one_function_leaves_a_function_with_a_longer_name(
    redis_server: Any,
) -> None:
    from aicache.backends import RedisBackend

    tiers = [RedisBackend(redis_server.url), MemoryBackend()]

    def named(name: str) -> Any:
        @ai_cached(backend=tiers, name=name)
        async def f(x: int) -> int:
            return x

        return f

    short, longer, dotted = named("tenant"), named("tenant-acme"), named("tenant.acme")
    for f in (short, longer, dotted):
        for x in range(5):
            await f(x)
    assert await short.cache.clear() == 5
    cache = AICache(backend=tiers)
    assert await cache.clear("tenant-acme") == 5
    with pytest.raises(ConfigError, match="function"):
        await cache.clear("tenant.acme:*")
    assert len([k async for k in tiers[0].keys("aicache:default:tenant.acme:")]) == 5
    await cache.close()
