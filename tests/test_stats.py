"""The stats registry: snapshot fields, scopes per unit of work, roll-up, reset."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

import aicache
from aicache import MemoryBackend, ai_cached
from aicache import stats as aistats
from aicache._keys import function_name

if TYPE_CHECKING:
    from conftest import Clock

EXPECTED_FIELDS = {
    "hits",
    "misses",
    "bypasses",
    "stores",
    "errors",
    "hit_rate",
    "cost_saved_usd",
    "cost_spent_usd",
    "time_saved_s",
    "functions",
}


def decorated(name: str, *, cost: float | None = None, backend: Any = "memory") -> Any:
    @ai_cached(backend=backend, cost=cost, name=name)
    async def fn(x: Any) -> dict[str, Any]:
        return {"x": x}

    return fn


def test_nothing_happened_means_zeros_and_a_hit_rate_of_zero() -> None:
    snap = aistats.snapshot()
    assert snap.keys() >= EXPECTED_FIELDS
    assert snap["hit_rate"] == 0.0
    assert isinstance(snap["hit_rate"], float)
    assert all(snap[k] == 0 for k in EXPECTED_FIELDS - {"functions"})
    assert snap["functions"] == {}


async def test_snapshot_counts_hits_misses_bypasses_stores_and_money() -> None:
    fn = decorated("stats.fn", cost=0.5)
    await fn(1)  # miss, store, 0.5 spent
    await fn(1)  # hit, 0.5 saved
    await fn(1)  # hit, 0.5 saved
    await fn(2)  # miss, store, 0.5 spent
    await fn(1, bypass_cache=True)  # bypass, store, 0.5 spent
    snap = aistats.snapshot()
    assert (snap["hits"], snap["misses"], snap["bypasses"], snap["stores"]) == (2, 2, 1, 3)
    assert snap["errors"] == 0
    assert snap["hit_rate"] == pytest.approx(0.5)  # hits / (hits + misses)
    assert snap["cost_spent_usd"] == pytest.approx(1.5)
    assert snap["cost_saved_usd"] == pytest.approx(1.0)


async def test_hit_rate_is_a_fraction() -> None:
    fn = decorated("stats.rate")
    await fn(1)
    for _ in range(3):
        await fn(1)
    assert aistats.snapshot()["hit_rate"] == pytest.approx(0.75)


async def test_time_saved_is_the_stored_duration_of_the_original_call(clock: Clock) -> None:
    @ai_cached(backend="memory", name="stats.slow")
    async def slow(x: int) -> int:
        clock.advance(1.25)
        return x

    await slow(1)
    await slow(1)
    await slow(1)
    assert aistats.snapshot()["time_saved_s"] == pytest.approx(2.5)


async def test_snapshot_breaks_down_per_function() -> None:
    one, two = decorated("stats.one", cost=0.1), decorated("stats.two", cost=0.2)
    await one(1)
    await one(1)
    await two(1)
    functions = aistats.snapshot()["functions"]
    assert set(functions) == {"stats.one", "stats.two"}
    assert (functions["stats.one"]["hits"], functions["stats.one"]["misses"]) == (1, 1)
    assert functions["stats.one"]["cost_saved_usd"] == pytest.approx(0.1)
    assert functions["stats.one"]["hit_rate"] == pytest.approx(0.5)
    assert (functions["stats.two"]["hits"], functions["stats.two"]["misses"]) == (0, 1)
    assert functions["stats.two"]["cost_spent_usd"] == pytest.approx(0.2)


async def test_a_corrupt_entry_is_counted_as_an_error_and_a_miss() -> None:
    tier = MemoryBackend()
    fn = decorated("stats.corrupt", backend=tier)
    await tier.set(fn.cache.key(1), b"not an entry", None)
    assert await fn(1) == {"x": 1}
    snap = aistats.snapshot()
    assert (snap["errors"], snap["misses"], snap["hits"]) == (1, 1, 0)
    assert snap["functions"]["stats.corrupt"]["errors_by_tier"] == {"memory": 1}


async def test_functions_are_named_by_module_and_qualname_by_default() -> None:
    @ai_cached(backend="memory")
    async def plain(x: int) -> int:
        return x

    await plain(1)
    assert function_name(plain.__wrapped__) in aistats.snapshot()["functions"]  # type: ignore[attr-defined]


# -- scopes --------------------------------------------------------------------------------------


async def test_a_scope_counts_only_what_happens_inside_it() -> None:
    fn = decorated("stats.scoped")
    await fn(0)
    with aistats.scope("job") as job:
        await fn(0)
        await fn(1)
    await fn(1)
    inside = job.snapshot()
    assert (inside["hits"], inside["misses"]) == (1, 1)
    assert inside["scope"] == "job"
    everything = aistats.snapshot()
    assert (everything["hits"], everything["misses"]) == (2, 2)


async def test_async_with_opens_a_scope_too() -> None:
    fn = decorated("stats.async_scope")
    async with aistats.scope() as s:
        await fn(1)
        await fn(1)
    assert (s.snapshot()["hits"], s.snapshot()["misses"]) == (1, 1)


async def test_tasks_started_inside_a_scope_are_counted_in_it() -> None:
    fn = decorated("stats.children")
    with aistats.scope() as s:
        await asyncio.gather(*(asyncio.create_task(fn(i)) for i in range(3)))
        await asyncio.create_task(fn(0))
    assert (s.snapshot()["misses"], s.snapshot()["hits"]) == (3, 1)


async def test_concurrent_scopes_do_not_see_each_others_calls() -> None:
    fn = decorated("stats.concurrent", cost=1.0)
    turn = [asyncio.Event() for _ in range(4)]

    async def request(name: str, first: int, then: int) -> dict[str, Any]:
        async with aistats.scope(name) as s:
            for step in (first, then):
                await turn[step].wait()
                await fn(name)  # a miss the first time, a hit after
                if step + 1 < len(turn):
                    turn[step + 1].set()
        return s.snapshot()

    a = asyncio.create_task(request("a", 0, 2))
    b = asyncio.create_task(request("b", 1, 3))
    turn[0].set()  # the two requests' calls interleave: a, b, a, b
    snap_a, snap_b = await asyncio.gather(a, b)
    for snap in (snap_a, snap_b):
        assert (snap["misses"], snap["hits"]) == (1, 1)
        assert snap["cost_spent_usd"] == snap["cost_saved_usd"] == pytest.approx(1.0)
    total = aistats.snapshot()
    assert (total["misses"], total["hits"]) == (2, 2)


async def test_one_scope_object_can_be_entered_by_concurrent_tasks() -> None:
    fn = decorated("stats.shared_scope")
    batch = aistats.scope("batch")
    both_inside = asyncio.Event()
    first_left = asyncio.Event()

    async def first() -> None:
        async with batch:
            await both_inside.wait()
            await fn(1)
        first_left.set()  # the task that entered first leaves first

    async def second() -> None:
        async with batch:
            both_inside.set()
            await first_left.wait()
            await fn(2)
        assert aistats.current().name == "global"

    task = asyncio.create_task(first())
    await asyncio.sleep(0)
    await asyncio.gather(task, second())
    assert batch.snapshot()["misses"] == 2
    assert aistats.current().name == "global"


async def test_nested_scopes_roll_up_into_parents_and_global() -> None:
    fn = decorated("stats.nested", cost=0.5)
    with aistats.scope("outer") as outer:
        await fn(1)
        with aistats.scope("inner") as inner:
            await fn(1)
            await fn(2)
        await fn(2)
    assert (inner.snapshot()["hits"], inner.snapshot()["misses"]) == (1, 1)
    assert (outer.snapshot()["hits"], outer.snapshot()["misses"]) == (2, 2)
    assert outer.snapshot()["cost_saved_usd"] == pytest.approx(1.0)
    assert inner.parent is outer
    total = aistats.snapshot()
    assert (total["hits"], total["misses"]) == (2, 2)


def test_the_current_scope_is_global_outside_any_scope() -> None:
    assert aistats.current().snapshot()["scope"] == "global"
    with aistats.scope("x") as s:
        assert aistats.current() is s
    assert aistats.current().snapshot()["scope"] == "global"


async def test_reset_zeroes_the_global_counters() -> None:
    fn = decorated("stats.reset", cost=1.0)
    await fn(1)
    await fn(1)
    aistats.reset()
    snap = aistats.snapshot()
    assert (snap["hits"], snap["misses"], snap["cost_saved_usd"], snap["functions"]) == (
        0,
        0,
        0.0,
        {},
    )
    await fn(1)
    assert aistats.snapshot()["hits"] == 1


async def test_cache_get_stats_is_the_global_snapshot() -> None:
    fn = decorated("stats.get_stats")
    await fn(1)
    cache = aicache.AICache(aicache.CacheConfig(backend="memory"))
    assert cache.get_stats()["misses"] == aistats.snapshot()["misses"] == 1
