"""Stale-while-revalidate: a stale entry is served while exactly one refresh runs."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest

from aicache import ai_cached, cache_control, cache_info
from aicache import stats as aistats

from .conftest import Gated, settle

if TYPE_CHECKING:
    from conftest import Clock


async def _until(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("tier", ["memory", "redis"], indirect=True)
async def test_many_stale_hits_are_served_while_exactly_one_refresh_runs(
    tier: str, clock: Clock
) -> None:
    """(If the lookups failed, the callers would join the held refresh: this test would hang.)"""
    fn = Gated()
    answer = ai_cached(backend=tier, ttl=10, stale_ttl=100)(fn.__call__)
    fn.open()
    assert (await answer("q"))["run"] == 1
    fn.gate.clear()  # the refresh will hang until released
    clock.advance(30)  # past ttl, inside the stale window

    results = await asyncio.gather(*(answer("q") for _ in range(200)))
    assert all(r["run"] == 1 for r in results)
    info = cache_info(results[0])
    assert info is not None and info.stale and info.hit
    await _until(lambda: fn.runs == 2)  # the refresh started (a loaded machine takes a while)
    await settle()
    assert fn.runs == 2  # one refresh for 200 stale hits

    fn.open()
    await _until(lambda: aistats.snapshot()["stores"] == 2)
    assert (await answer("q"))["run"] == 2  # fresh again
    snap = aistats.snapshot()
    assert snap["stale_hits"] == 200
    assert snap["refresh_failures"] == 0
    assert fn.runs == 2


async def test_a_failed_refresh_keeps_the_stale_entry_and_is_counted(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    fn = Gated()
    fn.open()
    answer = ai_cached(backend="memory", ttl=10, stale_ttl=100)(fn.__call__)
    await answer("q")
    clock.advance(30)
    fn.fail = RuntimeError("rate limited")

    with caplog.at_level(logging.WARNING, logger="aicache"):
        assert (await answer("q"))["run"] == 1
        await _until(lambda: aistats.snapshot()["refresh_failures"] == 1)
    assert "background refresh" in caplog.text

    fn.fail = None
    assert (await answer("q"))["run"] == 1  # still served stale; a new refresh starts
    await _until(lambda: aistats.snapshot()["stores"] == 2)
    assert (await answer("q"))["run"] == 3


async def test_past_the_stale_window_a_caller_waits_for_a_fresh_call(clock: Clock) -> None:
    fn = Gated()
    fn.open()
    answer = ai_cached(backend="memory", ttl=10, stale_ttl=20)(fn.__call__)
    await answer("q")
    clock.advance(31)
    assert (await answer("q"))["run"] == 2
    assert aistats.snapshot()["stale_hits"] == 0


async def test_a_stale_hit_with_writes_switched_off_starts_no_refresh(clock: Clock) -> None:
    fn = Gated()
    fn.open()
    answer = ai_cached(backend="memory", ttl=10, stale_ttl=100)(fn.__call__)
    await answer("q")
    clock.advance(30)
    with cache_control(write=False):
        assert (await answer("q"))["run"] == 1
    await settle()
    assert fn.runs == 1  # a refresh that could not be stored would be a call paid for nothing
