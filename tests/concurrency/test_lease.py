"""The Redis lease, driven from one process: two caches stand for two processes on one server.

Each cache has its own lease manager and notification connection, exactly as two processes
would; only the event loop is shared, which lets the tests decide who goes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
import redis.asyncio as aioredis

import aicache
from aicache import AICache, Policy
from aicache import stats as aistats
from aicache.backends import Backend, FileBackend, Leases, MemoryBackend, RedisBackend
from aicache.backends._redis_lease import RedisLeases, done_channel, lock_key

from .conftest import PATIENT, Gated

if TYPE_CHECKING:
    from conftest import Clock

KEY = "aicache:lease:f:0"


@pytest.fixture
def caches(redis_server: Any) -> Callable[..., AICache]:
    """Makes caches over the test's Redis (closed by the autouse state fixture's loop end)."""
    made: list[AICache] = []

    def make(**settings: Any) -> AICache:
        config = aicache.get_config().replace(redis_url=redis_server.url, **{**PATIENT, **settings})
        cache = AICache(config, backend=["memory", "redis"])
        made.append(cache)
        return cache

    return make


@pytest.fixture(autouse=True)
async def _close_caches(caches: Callable[..., AICache]) -> AsyncIterator[None]:
    yield
    for cache in caches.__closure__[0].cell_contents:  # type: ignore[index]
        await cache.close()


POLICY = Policy(("f", "", ""), 60.0, lock=True)


def call(cache: AICache, fn: Callable[[str], Awaitable[Any]]) -> asyncio.Future[Any]:
    return asyncio.ensure_future(cache.call(KEY, lambda: fn("q"), POLICY))


async def _subscribers(raw: aioredis.Redis) -> int:
    counts = await raw.pubsub_numsub(done_channel(KEY))
    return int(counts[0][1])


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_waiter_gets_the_holders_entry_without_calling(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    a, b = caches(), caches()
    fn = Gated()
    first = call(a, fn)
    await asyncio.wait_for(fn.started.wait(), 5)
    assert await raw.get(lock_key(KEY)) is not None

    with aistats.scope("b") as scope_b:
        second = call(b, fn)
        await _until(lambda: _has_subscribers(raw, 1))
    fn.open()

    assert (await first)["run"] == 1
    assert (await second)["run"] == 1
    assert fn.runs == 1
    counted = scope_b.snapshot()
    assert (counted["lock_waits"], counted["hits"], counted["stores"]) == (1, 1, 0)
    assert counted["hits_by_tier"] == {"redis": 1}
    assert await raw.get(lock_key(KEY)) is None  # released
    assert await _subscribers(raw) == 0  # and the waiter stopped listening


async def _has_subscribers(raw: aioredis.Redis, n: int) -> bool:
    return await _subscribers(raw) == n


async def test_a_waiter_is_silent_while_it_waits(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    """No spinning: once subscribed, a waiter issues no command until the holder tells it."""
    a, b = caches(lock_lease=30.0), caches(lock_lease=30.0)
    fn = Gated()
    first = call(a, fn)
    await asyncio.wait_for(fn.started.wait(), 5)
    before = await _commands(raw)
    second = call(b, fn)
    await _until(lambda: _has_subscribers(raw, 1))
    settled = await _quiet(raw)  # the re-check after subscribing is done
    await asyncio.sleep(1.0)  # a poller would issue hundreds of commands here
    assert _minus(await _commands(raw), settled) == {}
    fn.open()
    await first
    await second
    after = await _commands(raw)

    setup = _minus(settled, before)
    assert sum(setup.values()) <= 8, setup  # lookup, lease attempt, subscribe, re-check
    exchange = _minus(after, before)
    assert exchange.get("set", 0) == 2  # the lease taken by the holder's script, and its store
    print(f"\nRedis commands, waiter until subscribed: {setup}; whole exchange: {exchange}")


async def _quiet(raw: aioredis.Redis) -> dict[str, int]:
    """The command counts once two readings 0.2 s apart agree (within 5 s)."""
    last = await _commands(raw)
    for _ in range(25):
        await asyncio.sleep(0.2)
        now = await _commands(raw)
        if _minus(now, last) == {}:
            return now
        last = now
    raise AssertionError("Redis never went quiet")


async def _commands(raw: aioredis.Redis) -> dict[str, int]:
    info = await raw.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Commands issued in between, less this test's own INFO and PUBSUB NUMSUB."""
    ignore = {"info", "pubsub|numsub"}
    out = {k: v - before.get(k, 0) for k, v in after.items() if k not in ignore}
    return {k: v for k, v in out.items() if v}


async def test_a_holder_that_fails_hands_the_call_to_a_waiter(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    a, b = caches(), caches()
    failing, working = Gated(fail=RuntimeError("boom")), Gated()
    first = call(a, failing)
    await asyncio.wait_for(failing.started.wait(), 5)
    second = call(b, working)
    await _until(lambda: _has_subscribers(raw, 1))
    working.open()
    failing.open()

    with pytest.raises(RuntimeError, match="boom"):
        await first
    assert (await asyncio.wait_for(second, 5))["run"] == 1  # told, it took the lease and called
    assert (failing.runs, working.runs) == (1, 1)


async def test_a_dead_holder_blocks_nobody_longer_than_its_lease(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    # A holder that died after taking the lease: nobody renews it, nobody publishes.
    await raw.set(lock_key(KEY), "dead-process-token", px=800)
    b = caches(lock_lease=0.8, lock_wait=30.0)
    fn = Gated()
    fn.open()
    started = time.monotonic()
    result = await asyncio.wait_for(call(b, fn), 10)
    waited = time.monotonic() - started

    assert result["run"] == 1
    assert 0.5 < waited < 10  # it waited for the lease to run out, then took over at once
    assert aistats.snapshot()["lock_waits"] == 1


async def test_a_waiter_calls_for_itself_after_lock_wait(
    caches: Callable[..., AICache], raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await raw.set(lock_key(KEY), "slow-holder", px=60_000)
    b = caches(lock_wait=0.5)
    fn = Gated()
    fn.open()
    with caplog.at_level(logging.WARNING, logger="aicache"):
        assert (await asyncio.wait_for(call(b, fn), 10))["run"] == 1
    assert "waited 0 s for another process" in caplog.text or "lock_wait" in caplog.text
    assert await raw.get(lock_key(KEY)) == b"slow-holder"  # not ours to remove


async def test_the_lease_is_renewed_while_a_long_call_runs(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    a, b = caches(lock_lease=0.3), caches(lock_lease=0.3)
    fn = Gated()
    first = call(a, fn)
    await asyncio.wait_for(fn.started.wait(), 5)
    second = call(b, fn)
    await asyncio.sleep(1.2)  # four leases: only renewal keeps the holder's
    assert fn.runs == 1
    fn.open()
    assert (await first)["run"] == (await second)["run"] == 1


async def test_a_holder_never_releases_a_lease_that_has_passed_to_another(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    a = caches(lock_lease=30.0)
    fn = Gated()
    first = call(a, fn)
    await asyncio.wait_for(fn.started.wait(), 5)
    # Its lease ran out (a long pause, say) and another process took it.
    await raw.set(lock_key(KEY), "the-next-holder", px=30_000)
    fn.open()
    await first
    assert await raw.get(lock_key(KEY)) == b"the-next-holder"


async def test_a_bypass_does_not_wait_for_a_held_lease(
    caches: Callable[..., AICache], raw: aioredis.Redis
) -> None:
    await raw.set(lock_key(KEY), "someone", px=60_000)
    b = caches()
    fn = Gated()
    fn.open()
    bypass = b.call(KEY, lambda: fn("q"), POLICY, bypass=True)
    assert (await asyncio.wait_for(bypass, 5))["run"] == 1
    assert aistats.snapshot()["lock_waits"] == 0


async def test_without_redis_lock_true_degrades_to_in_process_single_flight(
    caches: Callable[..., AICache], redis_server: Any
) -> None:
    a = caches()
    redis_server.kill()
    fn = Gated()
    tasks = [call(a, fn) for _ in range(50)]
    await asyncio.wait_for(fn.started.wait(), 5)
    fn.open()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(r["run"] == 1 for r in results)
    assert fn.runs == 1


async def test_a_hanging_redis_costs_a_timeout_not_an_error(
    caches: Callable[..., AICache], redis_server: Any
) -> None:
    a = caches(redis_timeout=0.1, redis_connect_timeout=0.25)  # the defaults
    fn = Gated()
    fn.open()
    redis_server.freeze()
    try:
        started = time.monotonic()
        assert (await asyncio.wait_for(call(a, fn), 10))["run"] == 1
        assert time.monotonic() - started < 5  # well under any wait for a lease
    finally:
        redis_server.thaw()


async def test_redis_failing_while_a_caller_waits_lets_it_call_for_itself(
    caches: Callable[..., AICache], raw: aioredis.Redis, redis_server: Any
) -> None:
    await raw.set(lock_key(KEY), "someone", px=60_000)
    b = caches(lock_wait=30.0)
    fn = Gated()
    fn.open()
    waiting = call(b, fn)
    await _until(lambda: _has_subscribers(raw, 1))
    redis_server.kill()
    assert (await asyncio.wait_for(waiting, 10))["run"] == 1


async def test_a_server_that_refuses_scripts_keeps_its_tier_and_drops_only_the_lease(
    caches: Callable[..., AICache], raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await raw.execute_command("ACL", "SETUSER", "default", "-@scripting")
    a = caches()
    fn = Gated()
    fn.open()
    with caplog.at_level(logging.WARNING, logger="aicache"):
        assert (await asyncio.wait_for(call(a, fn), 5))["run"] == 1
        assert (await asyncio.wait_for(call(a, fn), 5))["run"] == 1  # a hit: the tier works
    assert "refused a command that lock=True needs" in caplog.text
    assert "tier redis failed" not in caplog.text
    assert await raw.exists(KEY) == 1
    assert aistats.snapshot()["errors"] == 0


async def test_stale_hits_in_two_processes_refresh_once(
    caches: Callable[..., AICache], clock: Clock
) -> None:
    a, b = caches(), caches()
    policy = Policy(("f", "", ""), 10.0, stale_ttl=100.0, lock=True)
    fn = Gated()
    fn.open()
    assert (await a.call(KEY, lambda: fn("q"), policy))["run"] == 1
    fn.gate.clear()
    clock.advance(30)  # stale for both

    stale = await asyncio.gather(
        *(cache.call(KEY, lambda: fn("q"), policy) for cache in (a, b) for _ in range(20))
    )
    assert all(r["run"] == 1 for r in stale)
    await asyncio.sleep(0.2)  # both background refreshes are under way: one calls, one waits
    fn.open()
    deadline = time.monotonic() + 5
    while aistats.snapshot()["lock_waits"] < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert fn.runs == 2
    assert (await b.call(KEY, lambda: fn("q"), policy))["run"] == 2
    assert (await a.call(KEY, lambda: fn("q"), policy))["run"] == 2


async def test_a_stale_copy_in_memory_does_not_hide_a_fresh_entry_below_it(
    caches: Callable[..., AICache], clock: Clock
) -> None:
    """Without a lease too: the refresh finds what another process stored and calls nobody."""
    a, b = caches(), caches()
    policy = Policy(("f", "", ""), 10.0, stale_ttl=100.0)
    fn = Gated()
    fn.open()
    await a.call(KEY, lambda: fn("q"), policy)  # in a's memory tier and in Redis
    clock.advance(30)
    assert (await b.call(KEY, lambda: fn("q"), policy, bypass=True))["run"] == 2  # fresh in Redis

    assert (await a.call(KEY, lambda: fn("q"), policy))["run"] == 1  # a's memory: stale
    deadline = time.monotonic() + 5
    while (await a.call(KEY, lambda: fn("q"), policy))["run"] != 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert fn.runs == 2  # a's refresh found b's entry instead of calling


async def test_leases_come_from_whichever_tier_lends_them_through_the_backend_interface(
    redis_server: Any, raw: aioredis.Redis
) -> None:
    # The core looks for a tier that lends leases, whatever its type: here an in-process tier
    # that lends the leases of a real Redis, with no Redis tier in the chain at all.
    lender_of = RedisBackend(redis_server.url)

    class LendingMemory(MemoryBackend):
        def leases(
            self, *, lease: float, wait: float, failed: Callable[[Exception], None]
        ) -> Leases | None:
            return lender_of.leases(lease=lease, wait=wait, failed=failed)

    await raw.set(lock_key(KEY), "another-process", px=60_000)
    config = aicache.get_config().replace(**{**PATIENT, "lock_wait": 0.3})
    cache = AICache(config, backend=[LendingMemory()])
    fn = Gated()
    fn.open()
    try:
        assert (await asyncio.wait_for(call(cache, fn), 10))["run"] == 1
    finally:
        await cache.close()
        await lender_of.close()
    assert aistats.snapshot()["lock_waits"] == 1  # it waited on the lease another process held


def test_only_a_tier_that_can_lend_leases_offers_them(redis_server: Any, tmp_path: Any) -> None:
    def lend(backend: Backend) -> Leases | None:
        return backend.leases(lease=1.0, wait=1.0, failed=lambda exc: None)

    assert lend(MemoryBackend()) is None
    assert lend(FileBackend(tmp_path)) is None
    assert isinstance(lend(RedisBackend(redis_server.url)), RedisLeases)
