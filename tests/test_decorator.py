"""``@ai_cached`` on the in-process tier: what is cached, for how long, the per-call controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

import aicache
from aicache import CacheConfig, ConfigError, ai_cached, cache_control
from aicache import stats as aistats

if TYPE_CHECKING:
    from conftest import Clock


class Calls:
    """Counts the real runs of a decorated function."""

    def __init__(self) -> None:
        self.n = 0
        self.args: list[Any] = []


def counted(**options: Any) -> tuple[Calls, Any]:
    """A fresh decorated function (memory tier) and its call counter."""
    calls = Calls()
    options.setdefault("backend", "memory")

    @ai_cached(**options)
    async def analyse(features: dict[str, Any], kind: str = "mood") -> dict[str, Any]:
        calls.n += 1
        calls.args.append((features, kind))
        return {"kind": kind, "n": calls.n, "tags": ["a", {"deep": [1, 2]}]}

    return calls, analyse


def function_stats(name: str) -> dict[str, Any]:
    found: dict[str, Any] = aistats.snapshot()["functions"][name]
    return found


ANALYSE = f"{__name__}.counted.<locals>.analyse"


# -- basics --------------------------------------------------------------------------------------


async def test_second_identical_call_is_served_from_the_cache() -> None:
    calls, analyse = counted()
    first = await analyse({"tempo": 120})
    second = await analyse(features={"tempo": 120}, kind="mood")
    assert first == second == {"kind": "mood", "n": 1, "tags": ["a", {"deep": [1, 2]}]}
    assert calls.n == 1
    assert await analyse({"tempo": 121}) != first
    assert calls.n == 2


def test_decorated_function_keeps_name_and_doc() -> None:
    @ai_cached(backend="memory")
    async def summarise(text: str) -> str:
        """Summarise text."""
        return text

    assert summarise.__name__ == "summarise"
    assert summarise.__doc__ == "Summarise text."
    assert summarise.__wrapped__ is not None  # type: ignore[attr-defined]


def test_a_generator_function_is_refused() -> None:
    def numbers(x: int) -> Iterator[int]:
        yield x

    async def stream(x: int) -> AsyncIterator[int]:
        yield x

    with pytest.raises(TypeError, match="generator"):
        ai_cached(numbers)
    with pytest.raises(TypeError, match="generator"):
        ai_cached(backend="memory")(stream)


def test_a_parameter_named_bypass_cache_is_refused_at_decoration() -> None:
    async def f(prompt: str, bypass_cache: bool = False) -> str:
        return prompt

    with pytest.raises(ConfigError, match="bypass_cache"):
        ai_cached(backend="memory")(f)


# -- methods -----------------------------------------------------------------------------------


class Analyser:
    runs = 0
    class_runs = 0

    def __init__(self, name: str) -> None:
        self.name = name

    @ai_cached(backend="memory")
    async def label(self, text: str) -> dict[str, str]:
        Analyser.runs += 1
        return {"by": self.name, "text": text}

    @classmethod
    @ai_cached(backend="memory")
    async def build(cls, text: str) -> dict[str, str]:
        cls.class_runs += 1
        return {"cls": cls.__name__, "text": text}


async def test_instance_methods_are_cached_without_self_in_the_key() -> None:
    Analyser.runs = 0
    a, b = Analyser("a"), Analyser("b")
    assert await a.label("hi") == {"by": "a", "text": "hi"}
    # Another instance asks the same question: self is not part of the key.
    assert await b.label("hi") == {"by": "a", "text": "hi"}
    assert await b.label(text="ho") == {"by": "b", "text": "ho"}
    assert await Analyser.label(a, "ho") == {"by": "b", "text": "ho"}
    assert Analyser.runs == 2
    assert a.label.cache.key("hi") == b.label.cache.key("hi")


async def test_classmethods_are_cached_without_cls_in_the_key() -> None:
    Analyser.class_runs = 0
    assert await Analyser.build("x") == {"cls": "Analyser", "text": "x"}
    assert await Analyser.build(text="x") == {"cls": "Analyser", "text": "x"}
    assert await Analyser("z").build("x") == {"cls": "Analyser", "text": "x"}
    assert Analyser.class_runs == 1


# -- ttl -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [60, 60.0, timedelta(minutes=1)], ids=["int", "float", "timedelta"])
async def test_entries_expire_after_ttl(clock: Clock, ttl: Any) -> None:
    calls, analyse = counted(ttl=ttl)
    await analyse({"t": 1})
    clock.advance(59)
    await analyse({"t": 1})
    assert calls.n == 1
    clock.advance(1.5)
    assert (await analyse({"t": 1}))["n"] == 2
    assert calls.n == 2
    clock.advance(30)
    await analyse({"t": 1})
    assert calls.n == 2  # the refreshed entry has its own ttl


async def test_ttl_defaults_to_the_configured_ttl(clock: Clock) -> None:
    aicache.configure(ttl=10.0)
    calls, analyse = counted()
    await analyse({})
    clock.advance(9)
    await analyse({})
    assert calls.n == 1
    clock.advance(2)
    await analyse({})
    assert calls.n == 2


@pytest.mark.parametrize("ttl", [0, -5, "60", True, timedelta(0)])
def test_a_bad_ttl_is_refused_at_decoration(ttl: Any) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        counted(ttl=ttl)


# -- what is cached ------------------------------------------------------------------------------


async def test_none_results_are_cached() -> None:
    runs = 0

    @ai_cached(backend="memory")
    async def lookup(q: str) -> None:
        nonlocal runs
        runs += 1
        return None

    assert await lookup("q") is None
    assert await lookup("q") is None
    assert runs == 1
    snap = aistats.snapshot()
    assert (snap["hits"], snap["misses"]) == (1, 1)


async def test_exceptions_are_never_cached() -> None:
    runs = 0

    @ai_cached(backend="memory")
    async def flaky(q: str) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("provider down")
        return f"ok {runs}"

    with pytest.raises(RuntimeError, match="provider down"):
        await flaky("q")
    assert await flaky("q") == "ok 2"
    assert await flaky("q") == "ok 2"
    assert runs == 2
    assert aistats.snapshot()["stores"] == 1


async def test_a_call_that_raises_is_counted_as_a_failure() -> None:
    @ai_cached(backend="memory")
    async def broken(q: str) -> str:
        raise RuntimeError("provider down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            await broken("q")
    snap = aistats.snapshot()
    assert (snap["failures"], snap["misses"], snap["hits"], snap["stores"]) == (2, 2, 0, 0)


async def test_should_cache_can_refuse_a_result() -> None:
    calls, analyse = counted(should_cache=lambda r: r["n"] > 1)
    assert (await analyse({}))["n"] == 1  # returned, refused
    assert (await analyse({}))["n"] == 2  # ran again, stored
    assert (await analyse({}))["n"] == 2
    assert calls.n == 2
    s = function_stats(ANALYSE)
    assert (s["not_stored"], s["stores"], s["hits"]) == (1, 1, 1)


async def test_should_cache_that_raises_means_not_stored() -> None:
    def broken(result: Any) -> bool:
        raise ValueError("bug in predicate")

    _calls, analyse = counted(should_cache=broken)
    assert (await analyse({}))["n"] == 1
    assert (await analyse({}))["n"] == 2
    assert function_stats(ANALYSE)["not_stored"] == 2


async def test_mutating_a_returned_value_does_not_change_the_cache() -> None:
    calls, analyse = counted()
    first = await analyse({"x": 1})
    first["kind"] = "changed"
    first["tags"][1]["deep"].append(3)
    second = await analyse({"x": 1})
    assert second == {"kind": "mood", "n": 1, "tags": ["a", {"deep": [1, 2]}]}
    second["tags"].clear()
    third = await analyse({"x": 1})
    assert third["tags"] == ["a", {"deep": [1, 2]}]
    assert third is not second
    assert calls.n == 1


async def test_mutating_an_argument_after_the_call_does_not_move_the_entry() -> None:
    calls, analyse = counted()
    features = {"tempo": 120, "tags": ["a"]}
    await analyse(features)
    features["tags"].append("b")
    await analyse({"tempo": 120, "tags": ["a"]})
    assert calls.n == 1


# -- bypass_cache --------------------------------------------------------------------------------


async def test_bypass_cache_skips_the_lookup_and_refreshes_the_entry() -> None:
    calls, analyse = counted()
    key = analyse.cache.key({"q": 1})
    assert (await analyse({"q": 1}))["n"] == 1
    fresh = await analyse({"q": 1}, bypass_cache=True)
    assert fresh["n"] == 2  # called through despite the stored entry
    assert calls.args[-1] == ({"q": 1}, "mood")  # the flag never reached the function
    assert (await analyse({"q": 1}))["n"] == 2  # the stored entry was refreshed
    assert calls.n == 2
    assert analyse.cache.key({"q": 1}) == key
    snap = aistats.snapshot()
    assert (snap["hits"], snap["misses"], snap["bypasses"], snap["stores"]) == (1, 1, 1, 2)


async def test_bypass_cache_false_is_an_ordinary_call() -> None:
    calls, analyse = counted()
    await analyse({"q": 1})
    await analyse({"q": 1}, bypass_cache=False)
    assert calls.n == 1


async def test_cache_refresh_is_bypass_with_typing() -> None:
    _calls, analyse = counted()
    await analyse({"q": 1})
    assert (await analyse.cache.refresh({"q": 1}))["n"] == 2
    assert (await analyse({"q": 1}))["n"] == 2


async def test_bypass_cache_on_a_method() -> None:
    Analyser.runs = 0
    a = Analyser("a")
    await a.label("q")
    await a.label("q", bypass_cache=True)  # type: ignore[call-arg]
    await a.label("q")
    assert Analyser.runs == 2


# -- cache_control -------------------------------------------------------------------------------


async def test_cache_control_read_false_covers_the_task_and_its_children_only() -> None:
    calls, analyse = counted()
    await analyse({"q": 1})  # stored: n == 1
    inside = asyncio.Event()
    release = asyncio.Event()

    async def sibling() -> int:
        await inside.wait()
        result: int = (await analyse({"q": 1}))["n"]  # while the block below is open
        release.set()
        return result

    sibling_task = asyncio.create_task(sibling())
    with cache_control(read=False):
        inside.set()
        await release.wait()
        own = (await analyse({"q": 1}))["n"]
        child = await asyncio.create_task(analyse({"q": 1}))
    assert await sibling_task == 1  # served from the cache
    assert own == 2 and child["n"] == 3  # both called through
    assert (await analyse({"q": 1}))["n"] == 3  # and stored what they got
    assert calls.n == 3


async def test_cache_control_write_false_serves_hits_but_stores_nothing() -> None:
    _calls, analyse = counted()
    await analyse({"stored": True})
    with cache_control(write=False):
        assert (await analyse({"stored": True}))["n"] == 1  # a hit
        assert (await analyse({"new": True}))["n"] == 2
        assert (await analyse({"new": True}))["n"] == 3  # nothing was stored
    assert (await analyse({"new": True}))["n"] == 4
    assert (await analyse({"new": True}))["n"] == 4


async def test_cache_control_does_not_reach_concurrent_siblings() -> None:
    calls, analyse = counted()
    started = asyncio.Event()
    done = asyncio.Event()

    async def blocked() -> None:
        with cache_control(read=False, write=False):
            started.set()
            await done.wait()

    task = asyncio.create_task(blocked())
    await started.wait()
    await analyse({"q": 2})
    await analyse({"q": 2})
    done.set()
    await task
    assert calls.n == 1


async def test_nested_cache_control_cannot_switch_back_on() -> None:
    calls, analyse = counted()
    await analyse({})
    with cache_control(read=False), cache_control(read=True):
        await analyse({})
    assert calls.n == 2


# -- f.cache.clear / invalidate ------------------------------------------------------------------


async def test_invalidate_removes_one_entry() -> None:
    calls, analyse = counted()
    await analyse({"a": 1})
    await analyse({"b": 1})
    assert await analyse.cache.invalidate(features={"a": 1}) is True
    assert await analyse.cache.invalidate({"a": 1}) is False
    await analyse({"a": 1})
    await analyse({"b": 1})
    assert calls.n == 3


async def test_clear_removes_this_functions_entries_only() -> None:
    calls, analyse = counted()
    other_calls, other = counted(name="other")  # same qualname: name= keeps them apart
    await analyse({"a": 1})
    await analyse({"b": 1})
    await other({"a": 1})
    assert await analyse.cache.clear() == 2
    await analyse({"a": 1})
    await analyse({"b": 1})
    await other({"a": 1})
    assert (calls.n, other_calls.n) == (4, 1)


# -- settings ----------------------------------------------------------------------------------


async def test_enabled_false_makes_every_decorator_a_pass_through() -> None:
    calls, analyse = counted()
    await analyse({})
    aicache.configure(enabled=False)
    await analyse({})
    await analyse({})
    assert calls.n == 3
    snap = aistats.snapshot()
    assert (snap["hits"], snap["misses"], snap["stores"]) == (0, 1, 1)
    aicache.configure(enabled=True)
    await analyse({})
    await analyse({})
    assert calls.n == 4


async def test_ai_cache_enabled_false_from_the_environment() -> None:
    calls, analyse = counted()
    aicache.configure(CacheConfig.from_env({"AI_CACHE_ENABLED": "false"}))
    await analyse({})
    await analyse({})
    assert calls.n == 2
    assert aistats.snapshot()["misses"] == 0


async def test_enabled_false_is_read_from_the_environment_lazily(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls, analyse = counted()
    monkeypatch.setenv("AI_CACHE_ENABLED", "false")
    aicache.configure()  # drop the settings in code: the environment is read on next use
    await analyse({})
    await analyse({})
    assert calls.n == 2


async def test_configure_reaches_functions_decorated_before() -> None:
    calls, analyse = counted()
    before = analyse.cache.key({})
    await analyse({})
    aicache.configure(namespace="tenant-2")
    after = analyse.cache.key({})
    assert after.startswith("aicache:tenant-2:") and before.startswith("aicache:default:")
    await analyse({})
    await analyse({})
    assert calls.n == 2  # another namespace: another entry, then a hit on it


async def test_an_explicit_namespace_is_kept_across_configure() -> None:
    _calls, analyse = counted(namespace="mine")
    aicache.configure(namespace="tenant-2")
    assert analyse.cache.key({}).startswith("aicache:mine:")


# -- cost and time -----------------------------------------------------------------------------


async def test_fixed_cost_is_spent_on_a_miss_and_saved_on_a_hit() -> None:
    _calls, analyse = counted(cost=0.25)
    await analyse({})
    snap = aistats.snapshot()
    assert (snap["cost_spent_usd"], snap["cost_saved_usd"]) == (0.25, 0.0)
    await analyse({})
    await analyse({})
    snap = aistats.snapshot()
    assert snap["cost_spent_usd"] == pytest.approx(0.25)
    assert snap["cost_saved_usd"] == pytest.approx(0.5)
    assert function_stats(ANALYSE)["cost_saved_usd"] == pytest.approx(0.5)


async def test_cost_callable_prices_each_result() -> None:
    _calls, analyse = counted(cost=lambda result: 0.01 * len(result["kind"]))
    await analyse({}, kind="ab")
    await analyse({}, kind="abcd")
    await analyse({}, kind="abcd")
    snap = aistats.snapshot()
    assert snap["cost_spent_usd"] == pytest.approx(0.06)
    assert snap["cost_saved_usd"] == pytest.approx(0.04)


@pytest.mark.parametrize("cost", [-1, "0.1", True])
def test_a_bad_cost_is_refused(cost: Any) -> None:
    with pytest.raises(ConfigError, match="cost"):
        counted(cost=cost)


async def test_time_saved_comes_from_the_stored_duration(clock: Clock) -> None:
    @ai_cached(backend="memory")
    async def slow(x: int) -> list[int]:
        clock.advance(2.5)  # the call takes 2.5 s on the monotonic clock
        return [x]

    await slow(1)
    assert aistats.snapshot()["time_saved_s"] == 0.0
    await slow(1)
    await slow(1)
    assert aistats.snapshot()["time_saved_s"] == pytest.approx(5.0)


# -- concurrency ---------------------------------------------------------------------------------


async def test_concurrent_identical_calls_run_once_and_each_caller_gets_its_own_copy() -> None:
    runs = 0
    gate = asyncio.Event()

    @ai_cached(backend="memory")
    async def answer(q: str) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        await gate.wait()
        return {"q": q, "parts": [{"n": 1}]}

    tasks = [asyncio.create_task(answer("same")) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert runs == 1
    assert all(r == {"q": "same", "parts": [{"n": 1}]} for r in results)
    assert len({id(r) for r in results}) == 100
    assert len({id(r["parts"][0]) for r in results}) == 100
    results[0]["parts"][0]["n"] = 99
    assert all(r["parts"][0]["n"] == 1 for r in results[1:])


async def test_cancelling_one_waiter_does_not_cancel_the_others() -> None:
    gate = asyncio.Event()
    runs = 0

    @ai_cached(backend="memory")
    async def answer(q: str) -> str:
        nonlocal runs
        runs += 1
        await gate.wait()
        return q

    first = asyncio.create_task(answer("q"))
    second = asyncio.create_task(answer("q"))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second == "q"
    assert first.cancelled()
    assert runs == 1


@pytest.mark.parametrize("refuse", ["should_cache", "write_false"])
async def test_coalesced_callers_get_their_own_copy_even_when_nothing_is_stored(
    refuse: str,
) -> None:
    gate = asyncio.Event()

    @ai_cached(
        backend="memory", should_cache=(lambda r: False) if refuse == "should_cache" else None
    )
    async def answer(q: str) -> dict[str, Any]:
        await gate.wait()
        return {"q": q, "parts": [1]}

    with cache_control(write=refuse != "write_false"):
        tasks = [asyncio.create_task(answer("same")) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks)
    assert all(r == {"q": "same", "parts": [1]} for r in results)
    assert len({id(r) for r in results}) == 5


def _count_peeks(monkeypatch: pytest.MonkeyPatch, cache: aicache.AICache) -> list[str]:
    peeks: list[str] = []
    peek = cache.peek

    def counted(key: str, label: Any) -> Any:
        peeks.append(key)
        return peek(key, label)

    monkeypatch.setattr(cache, "peek", counted)
    return peeks


async def test_a_miss_peeks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    @ai_cached(backend="memory")
    async def answer(x: int) -> dict[str, int]:
        return {"x": x}

    peeks = _count_peeks(monkeypatch, answer.cache._cache())
    assert await answer(1) == {"x": 1}  # the call's own peek answers MISS: call() trusts it
    assert len(peeks) == 1
    assert await answer(1) == {"x": 1}
    assert len(peeks) == 2
    assert aistats.snapshot()["hits"] == 1


def test_a_sync_miss_peeks_on_the_loop_only_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    @ai_cached(backend="memory")
    def answer(x: int) -> dict[str, int]:
        return {"x": x}

    peeks = _count_peeks(monkeypatch, answer.cache._cache())
    assert answer(1) == {"x": 1}  # this thread's peek, then the loop's (time has passed)
    assert len(peeks) == 2
    assert answer(1) == {"x": 1}
    assert len(peeks) == 3
