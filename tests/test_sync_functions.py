"""``@ai_cached`` on a plain ``def``, and hits that await nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import aicache
from aicache import SyncCachedFunction, ai_cached, cache_control
from aicache import stats as aistats
from aicache._runner import submit
from aicache.backends import FileBackend


def _loop_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "aicache-loop"]


def finished(coro: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that must finish without suspending once."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the call awaited something that suspended")


def test_a_plain_def_is_cached_and_runs_on_the_calling_thread() -> None:
    ran: list[str] = []

    @ai_cached(backend="memory")
    def label(text: str) -> dict[str, str]:
        ran.append(threading.current_thread().name)
        return {"text": text}

    assert isinstance(label, SyncCachedFunction)
    first = label("hi")
    second = label("hi")
    assert first == second == {"text": "hi"} and first is not second
    assert ran == [threading.current_thread().name]
    assert aicache.cache_info(second).hit  # type: ignore[union-attr]
    counters = aistats.snapshot()["functions"][label.cache.key("hi").split(":")[2]]
    assert counters["hits"] == 1 and counters["misses"] == 1


def test_sync_and_async_functions_of_one_name_share_keys_and_entries() -> None:
    @ai_cached(backend="memory", name="shared.fn")
    def plain(x: int) -> int:
        return x * 2

    @ai_cached(backend="memory", name="shared.fn")
    async def coroutine(x: int) -> int:
        raise AssertionError("served from the entry the sync function wrote")

    assert plain.cache.key(3) == coroutine.cache.key(3)
    assert plain(3) == 6
    assert asyncio.run(coroutine(3)) == 6


def test_sixteen_threads_calling_a_sync_function_make_one_call() -> None:
    calls = 0

    @ai_cached(backend="memory")
    def slow(x: int) -> int:
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        return x

    barrier = threading.Barrier(16)
    out: list[int] = []

    def ask() -> None:
        barrier.wait()
        out.append(slow(1))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1 and out == [1] * 16


def test_sync_bypass_invalidate_refresh_and_clear() -> None:
    calls = 0

    @ai_cached(backend="memory")
    def count(x: int) -> int:
        nonlocal calls
        calls += 1
        return calls

    assert count(1) == 1 and count(1) == 1
    assert count(1, bypass_cache=True) == 2  # type: ignore[call-arg]
    assert count(1) == 2
    assert count.cache.invalidate(1) is True
    assert count(1) == 3
    assert count.cache.refresh(1) == 4
    assert count.cache.clear() == 1
    with cache_control(read=False):
        assert count(1) == 5
    assert count(1) == 5


def test_a_sync_exception_is_raised_on_the_calling_thread_and_not_stored() -> None:
    @ai_cached(backend="memory")
    def broken(x: int) -> int:
        raise ValueError(x)

    for _ in range(2):
        with pytest.raises(ValueError):
            broken(1)


def test_a_sync_memory_or_file_hit_touches_no_event_loop(tmp_path: Path) -> None:
    for backend in ("memory", FileBackend(tmp_path)):

        @ai_cached(backend=backend)
        def f(x: int) -> int:
            return x

        f(1)  # the miss runs the store on aicache's loop
        asyncio.run(aicache.close())  # stops that loop
        assert _loop_threads() == []
        assert f(1) == 1
        assert _loop_threads() == []  # the hit started none


def test_aicache_close_stops_the_loop_thread_and_it_restarts_on_use() -> None:
    @ai_cached(backend="memory")
    def f(x: int) -> int:
        return x

    f(1)
    assert _loop_threads() == ["aicache-loop"]
    asyncio.run(aicache.close())
    assert _loop_threads() == []
    assert f(2) == 2


async def test_a_sync_call_inside_a_running_event_loop_works() -> None:
    @ai_cached(backend="memory")
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2 and f(1) == 2  # on this loop's thread: blocks it, never deadlocks


def test_a_sync_call_on_aicaches_own_loop_thread_is_refused() -> None:
    @ai_cached(backend="memory")
    def f(x: int) -> int:
        return x

    async def inside() -> int:
        return f(1)

    with pytest.raises(RuntimeError, match="own loop thread"):
        submit(inside()).result(timeout=10)


def test_async_memory_and_file_hits_await_nothing(tmp_path: Path) -> None:
    for backend in ("memory", FileBackend(tmp_path)):

        @ai_cached(backend=backend)
        async def f(x: int) -> dict[str, int]:
            return {"x": x}

        asyncio.run(f(1))
        assert finished(f(1)) == {"x": 1}


def test_a_sync_stale_entry_is_served_and_refreshed_in_a_worker_thread(clock: Any) -> None:
    ran: list[str] = []

    @ai_cached(backend="memory", ttl=10, stale_ttl=100)
    def f(x: int) -> int:
        ran.append(threading.current_thread().name)
        return len(ran)

    assert f(1) == 1
    clock.advance(20)
    assert f(1) == 1  # stale, served at once
    for _ in range(200):
        if len(ran) == 2:
            break
        time.sleep(0.01)
    assert len(ran) == 2 and ran[1] != threading.current_thread().name
