"""``cache_info(result)``: hit or miss, tier, age, dollars saved, key; the value left untouched."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pydantic
import pytest

from aicache import ai_cached, cache_info

if TYPE_CHECKING:
    from conftest import Clock


class Answer(pydantic.BaseModel):
    text: str
    score: float = 0.0


@ai_cached(backend="memory", cost=0.03)
async def ask(q: str) -> dict[str, Any]:
    return {"q": q, "parts": [1, 2]}


@ai_cached(backend="memory")
async def ask_model(q: str) -> Answer:
    return Answer(text=q)


async def test_a_fresh_call_is_a_miss(clock: Clock) -> None:
    result = await ask("miss")
    info = cache_info(result)
    assert info is not None
    assert (info.hit, info.tier, info.age_s, info.saved_usd) == (False, None, 0.0, 0.0)
    assert info.key == ask.cache.key("miss")
    assert (info.stale, info.coalesced) == (False, False)


async def test_a_hit_names_its_tier_age_savings_and_key(clock: Clock) -> None:
    await ask("hit")
    clock.advance(42)
    result = await ask("hit")
    info = cache_info(result)
    assert info is not None
    assert (info.hit, info.tier) == (True, "memory")
    assert info.age_s == pytest.approx(42)
    assert info.saved_usd == pytest.approx(0.03)
    assert info.key == ask.cache.key("hit")


async def test_a_hit_of_unknown_price_saved_none() -> None:
    await ask_model("x")
    info = cache_info(await ask_model("x"))
    assert info is not None and info.hit and info.saved_usd is None


async def test_a_stale_hit_says_so(clock: Clock) -> None:
    @ai_cached(backend="memory", ttl=10, stale_ttl=100)
    async def slowly_changing(q: str) -> list[str]:
        return [q]

    await slowly_changing("s")
    clock.advance(15)
    info = cache_info(await slowly_changing("s"))
    assert info is not None and info.hit and info.stale


async def test_coalesced_callers_are_marked() -> None:
    gate = asyncio.Event()

    @ai_cached(backend="memory")
    async def shared(q: str) -> dict[str, str]:
        await gate.wait()
        return {"q": q}

    tasks = [asyncio.create_task(shared("c")) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    infos = [cache_info(r) for r in await asyncio.gather(*tasks)]
    assert [i is not None and i.coalesced for i in infos].count(True) == 2
    assert [i is not None and i.hit for i in infos].count(False) == 1


async def test_unknown_objects_and_scalars_have_no_info() -> None:
    assert cache_info({"q": "never returned"}) is None
    assert cache_info(object()) is None

    @ai_cached(backend="memory")
    async def text(q: str) -> str:
        return q

    await text("t")
    assert cache_info(await text("t")) is None  # a str may be shared: nothing is recorded
    assert cache_info(None) is None


async def test_an_equal_but_different_object_has_no_info() -> None:
    result = await ask("eq")
    assert cache_info(dict(result)) is None


async def test_the_value_itself_is_untouched() -> None:
    await ask("u")
    result = await ask("u")
    assert type(result) is dict
    assert result == {"q": "u", "parts": [1, 2]}
    model = await ask_model("m")
    again = await ask_model("m")
    for value in (model, again):
        assert type(value) is Answer
        assert value.model_dump() == {"text": "m", "score": 0.0}
        assert set(vars(value)) == {"text", "score"}
        assert value.model_extra is None


async def test_only_recent_results_are_remembered() -> None:
    first = await ask("first")
    assert cache_info(first) is not None
    for i in range(600):
        await ask(f"other-{i}")
    assert cache_info(first) is None


def test_cache_info_holds_values_it_cannot_refer_to_weakly_within_a_byte_bound() -> None:
    import tracemalloc

    from aicache._info import remember

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200):  # 200 results of 1 MB each, none kept by the caller
            value = {"text": str(i) * (1024 * 1024 // len(str(i)))}
            remember(value, f"k{i}", "memory", 0.0, None, size=1024 * 1024)
            del value
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 40 * 1024 * 1024  # the 32 MiB bound, not 200 MiB


async def test_cache_info_keeps_no_model_alive_and_forgets_it_when_it_dies() -> None:
    import gc
    import weakref

    result = await ask_model("weak")
    again = await ask_model("weak")
    info = cache_info(again)
    assert info is not None and info.hit
    dead = weakref.ref(again)
    del again
    gc.collect()
    assert dead() is None  # cache_info's record did not keep it
    assert cache_info(result) is not None


async def test_a_value_reread_from_a_lower_tier_after_a_tampered_entry_is_a_hit(
    redis_server: Any, tmp_path: Any
) -> None:
    import redis.asyncio as aioredis

    import aicache
    from aicache.backends import FileBackend, RedisBackend

    aicache.configure(secret="s3cret")
    runs = 0

    @ai_cached(backend=[RedisBackend(redis_server.url), FileBackend(tmp_path)])
    async def answer(q: str) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        return {"q": q}

    await answer("x")
    raw = aioredis.Redis.from_url(redis_server.url)
    await raw.set(answer.cache.key("x"), b'aic1:[1,null,0,null,null,0,null,null,{"q":"evil"}]')
    aicache.stats.reset()
    result = await answer("x")
    info = cache_info(result)
    assert result == {"q": "x"} and runs == 1
    assert info is not None and info.hit and info.tier == "file", info
    snap = aicache.stats.snapshot()
    assert (snap["hits"], snap["misses"], snap["tampered"]) == (1, 0, 1)
    again = await answer("x")  # the back-fill put a good entry into Redis
    assert cache_info(again).tier == "redis"  # type: ignore[union-attr]
    await raw.aclose()


def test_cache_info_answers_while_other_threads_remember_results() -> None:
    import sys
    import threading
    import time

    from aicache._info import remember

    kept = {"kept": True}
    stop = threading.Event()
    remembered = threading.Event()

    def churn() -> None:
        n = 0
        while not stop.is_set():
            remember({"churn": n}, "churn", "memory", 0.0, None, size=10)
            n += 1
            if n == 600:
                remembered.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads in the middle of the lookups
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        assert remembered.wait(10)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            remember(kept, "kept", "memory", 0.0, None, size=10)
            info = cache_info(kept)
            assert info is None or info.key == "kept"
            assert cache_info({"never": "returned"}) is None  # a look through every record
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
