"""In-process single-flight: one call for every concurrent caller of a key, on every tier."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import warnings
from typing import Any

import pytest

from aicache import AICache, MemoryBackend, ai_cached, cache_info
from aicache import stats as aistats

from .conftest import PATIENT, Gated, settle


async def test_1000_concurrent_identical_calls_run_the_function_once(tier: str) -> None:
    runs = 0

    @ai_cached(backend=tier)
    async def answer(question: str) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"question": question, "words": ["a", "b"]}

    results = await asyncio.gather(*(answer("same") for _ in range(1000)))

    assert runs == 1
    assert all(r == {"question": "same", "words": ["a", "b"]} for r in results)
    assert len({id(r) for r in results}) == 1000  # each caller owns its result
    results[1]["words"].append("mutated")
    assert results[2]["words"] == ["a", "b"]
    snap = aistats.snapshot()
    assert snap["stores"] == 1
    assert snap["hits"] >= 999
    if tier != "redis":  # lookups that do not yield cannot race the flight
        assert (snap["misses"], snap["coalesced"]) == (1, 999)
    assert await answer("same") == {"question": "same", "words": ["a", "b"]}
    assert runs == 1


async def test_cancelling_10_of_100_waiters_leaves_the_other_90_their_result() -> None:
    fn = Gated()
    answer = ai_cached(backend="memory")(fn.__call__)
    tasks = [asyncio.ensure_future(answer("q")) for _ in range(100)]
    await settle()
    assert fn.runs == 1
    for task in tasks[:10]:  # the first one started the call
        task.cancel()
    await settle()
    fn.open()
    done = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(r, asyncio.CancelledError) for r in done[:10])
    assert all(r == {"question": "q", "run": 1, "nested": {"list": [1, 2, 3]}} for r in done[10:])
    assert fn.runs == 1
    assert fn.cancelled == 0
    assert aistats.snapshot()["stores"] == 1


async def test_cancelling_every_caller_cancels_the_call_and_stores_nothing() -> None:
    fn = Gated()
    answer = ai_cached(backend="memory")(fn.__call__)
    tasks = [asyncio.ensure_future(answer("q")) for _ in range(20)]
    await settle()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await settle()

    assert fn.cancelled == 1
    assert aistats.snapshot()["stores"] == 0
    fn.open()
    assert (await answer("q"))["run"] == 2  # nothing was kept: the next caller calls afresh


async def test_an_exception_reaches_every_waiter_and_nothing_is_stored(tier: str) -> None:
    fn = Gated(fail=RuntimeError("provider said no"))
    answer = ai_cached(backend=tier)(fn.__call__)
    tasks = [asyncio.ensure_future(answer("q")) for _ in range(50)]
    await asyncio.wait_for(fn.started.wait(), 5)
    await asyncio.sleep(0.05)  # the Redis lookups of the others land meanwhile
    fn.open()
    done = await asyncio.gather(*tasks, return_exceptions=True)

    assert fn.runs == 1
    assert all(isinstance(r, RuntimeError) and str(r) == "provider said no" for r in done)
    snap = aistats.snapshot()
    assert (snap["stores"], snap["refresh_failures"]) == (0, 0)
    fn.fail = None
    assert (await answer("q"))["run"] == 2


async def test_a_call_that_never_suspends_is_served_and_leaves_no_flight_behind() -> None:
    cache = AICache(backend="memory")
    policy = _policy()
    now = _Runs()

    assert await cache.call("aicache:t:f:now", now, policy) == {"run": 1}
    assert cache.flights.get("aicache:t:f:now") is None  # at once, not a loop turn later
    assert await cache.call("aicache:t:f:now", now, policy) == {"run": 1}
    await cache.close()


async def test_a_failure_without_suspending_reaches_its_caller_and_is_no_refresh_failure() -> None:
    # On 3.12 the call runs to its end inside the flight's start, before its caller waits: that is
    # still the caller's failure, not a background refresh that failed for nobody.
    cache = AICache(backend="memory")

    async def refuses() -> dict[str, int]:
        raise RuntimeError("provider said no")

    with pytest.raises(RuntimeError, match="provider said no"):
        await cache.call("aicache:t:f:no", refuses, _policy())
    assert cache.flights.get("aicache:t:f:no") is None
    snap = aistats.snapshot()
    assert (snap["failures"], snap["refresh_failures"]) == (1, 0)
    await cache.close()


async def test_the_first_caller_starts_the_call_before_the_others_run_where_python_can() -> None:
    """Eager tasks are new in Python 3.12; before it the call's task runs after the callers."""
    cache = AICache(backend="memory")
    order: list[Any] = []

    async def call() -> dict[str, int]:
        order.append("call")
        await asyncio.sleep(0.01)
        return {"run": 1}

    async def caller(i: int) -> Any:
        order.append(i)
        return await cache.call("aicache:t:f:eager", call, _policy())

    results = await asyncio.gather(*(caller(i) for i in range(5)))

    if sys.version_info >= (3, 12):
        assert order == [0, "call", 1, 2, 3, 4]
    else:
        assert order == [0, 1, 2, 3, 4, "call"]
    assert results == [{"run": 1}] * 5
    await cache.close()


async def test_cancelling_the_first_caller_leaves_the_call_to_the_others() -> None:
    fn = Gated()
    answer = ai_cached(backend="memory")(fn.__call__)
    first = asyncio.ensure_future(answer("q"))
    await settle()
    others = [asyncio.ensure_future(answer("q")) for _ in range(3)]
    await settle()
    first.cancel()
    await settle()
    fn.open()
    done = await asyncio.gather(first, *others, return_exceptions=True)

    assert isinstance(done[0], asyncio.CancelledError)
    assert [r["run"] for r in done[1:]] == [1, 1, 1]  # type: ignore[index]
    assert (fn.runs, fn.cancelled) == (1, 0)


async def test_bypass_starts_a_fresh_flight_that_later_callers_join() -> None:
    fn = Gated()
    answer = ai_cached(backend="memory")(fn.__call__)
    first = asyncio.ensure_future(answer("q"))
    await settle()
    bypass = asyncio.ensure_future(answer("q", bypass_cache=True))  # type: ignore[call-arg]
    await settle()
    later = asyncio.ensure_future(answer("q"))
    await settle()
    assert fn.runs == 2  # the bypass did not join the flight already under way
    fn.open()

    assert (await first)["run"] == 1
    assert (await bypass)["run"] == 2
    assert (await later)["run"] == 2  # joined the newest flight
    assert (await answer("q"))["run"] == 2  # the bypass result is what is stored
    assert aistats.snapshot()["bypasses"] == 1


async def test_coalesced_callers_are_counted_and_told_so() -> None:
    fn = Gated()
    answer = ai_cached(backend="memory", cost=0.25)(fn.__call__)
    tasks = [asyncio.ensure_future(answer("q")) for _ in range(5)]
    await settle()
    fn.open()
    results = await asyncio.gather(*tasks)

    infos = [cache_info(r) for r in results]
    assert [i.coalesced if i else None for i in infos] == [False, True, True, True, True]
    snap = aistats.snapshot()
    assert (snap["misses"], snap["coalesced"], snap["hits"]) == (1, 4, 4)
    assert snap["cost_spent_usd"] == pytest.approx(0.25)
    assert snap["cost_saved_usd"] == pytest.approx(1.0)


async def test_a_lookup_that_overlaps_a_landing_flight_does_not_call_again(
    redis_server: Any,
) -> None:
    """A miss whose lookup returns after the flight it missed has stored and landed: the new
    flight finds the entry instead of calling again."""
    cache = AICache(backend="redis", config=_redis_config(redis_server.url))
    policy = _policy()
    call = _Runs()

    # The flight of a first caller runs and lands completely...
    assert await cache.call("aicache:t:f:1", call, policy) == {"run": 1}
    # ...while a second caller's lookup (begun earlier) missed: it goes straight to a flight.
    result = await cache._join("aicache:t:f:1", call, policy, True, fresh=False)
    assert result == {"run": 1}
    assert call.runs == 1
    await cache.close()


class _Runs:
    """A call that counts its runs and answers with the count."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        return {"run": self.runs}


def _redis_config(url: str) -> Any:
    import aicache

    return aicache.get_config().replace(redis_url=url, **PATIENT)


def _policy(**options: Any) -> Any:
    from aicache import Policy

    return Policy(("f", "", ""), 60.0, **options)


def test_event_loops_in_two_threads_each_get_their_result() -> None:
    # One decorated function, two threads each running its own event loop: a call in flight on
    # one loop cannot be awaited from the other, so each loop makes its own.
    runs = 0

    @ai_cached(backend="memory")
    async def slow(x: int) -> dict[str, int]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.2)
        return {"x": x}

    results: list[object] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        try:
            results.append(asyncio.run(slow(1)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"x": 1}, {"x": 1}]
    assert runs in (1, 2)  # two if the calls overlapped


class _CountingMemory(MemoryBackend):
    """The memory tier, counting the lookups that await."""

    def __init__(self) -> None:
        super().__init__()
        self.awaited_gets = 0

    async def get(self, key: str) -> bytes | None:
        self.awaited_gets += 1
        return await super().get(key)


async def test_a_miss_every_tier_answered_at_once_is_not_looked_up_again() -> None:
    tier = _CountingMemory()
    cache = AICache(backend=tier)

    async def call() -> dict[str, int]:
        return {"run": 1}

    assert await cache.call("aicache:t:f:once", call, _policy()) == {"run": 1}
    assert tier.awaited_gets == 0  # the flight trusts the peek that missed just before it
    # A flight joined without that peek (a lookup that awaited and missed) looks again first.
    assert await cache._join("aicache:t:f:twice", call, _policy(), True, fresh=False) == {"run": 1}
    assert tier.awaited_gets == 1
    await cache.close()


async def test_closing_the_cache_cancels_its_flights_and_their_callers() -> None:
    cache = AICache(backend="memory")
    fn = Gated()

    async def call() -> dict[str, Any]:
        return await fn("q")

    caller = asyncio.ensure_future(cache.call("aicache:t:f:closed", call, _policy()))
    await asyncio.sleep(0)  # the caller has started its flight (before 3.12: not yet run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await cache.close()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 5)
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert cache.flights.get("aicache:t:f:closed") is None


async def test_a_flight_looks_again_when_an_entry_was_stored_during_the_lookup(
    redis_server: Any,
) -> None:
    cache = AICache(backend="redis", config=_redis_config(redis_server.url))
    policy = _policy()
    call = _Runs()

    looked = cache.chain.stores  # a lookup begins...
    assert await cache.call("aicache:t:f:2", call, policy) == {"run": 1}  # ...a flight lands...
    # ...and the lookup missed: its flight looks again, and finds the entry.
    assert await cache._join("aicache:t:f:2", call, policy, True, fresh=False, looked=looked) == {
        "run": 1
    }
    assert call.runs == 1
    await cache.close()


async def test_a_flight_looks_past_an_entry_its_lookup_could_not_serve(
    redis_server: Any, clock: Any
) -> None:
    """This process's memory tier holds an expired copy; another process stored a fresh entry
    in Redis. The lookup cannot serve the copy; the flight finds the fresh entry below it."""
    from aicache.backends import RedisBackend

    config = _redis_config(redis_server.url)
    memory = MemoryBackend()
    here = AICache(backend=[memory, RedisBackend(redis_server.url)], config=config)
    there = AICache(backend="redis", config=config)
    key = "aicache:t:f:3"
    call = _Runs()

    assert await here.call(key, call, _policy()) == {"run": 1}
    expired = await memory.get(key)
    assert expired is not None
    clock.advance(3600)
    await memory.set(key, expired, 7200)  # still held, long past its lifetime
    assert await there.call(key, call, _policy(), bypass=True) == {"run": 2}  # fresh, in Redis

    assert await here.call(key, call, _policy()) == {"run": 2}
    assert call.runs == 2
    await here.close()
    await there.close()
