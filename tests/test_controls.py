"""``cache_control``: switch reads and writes off for a block, its tasks, and nothing else."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from aicache import cache_control
from aicache._controls import Overrides, applied, overrides, switches


def test_reads_and_writes_are_on_by_default() -> None:
    assert switches() == (True, True)


@pytest.mark.parametrize(
    ("read", "write"), [(False, True), (True, False), (False, False), (True, True)]
)
def test_a_block_switches_off_what_it_names_and_restores_it(read: bool, write: bool) -> None:
    with cache_control(read=read, write=write):
        assert switches() == (read, write)
    assert switches() == (True, True)


def test_the_switches_come_back_after_an_exception() -> None:
    with pytest.raises(RuntimeError), cache_control(read=False):
        raise RuntimeError("boom")
    assert switches() == (True, True)


def test_nested_blocks_only_switch_more_off() -> None:
    with cache_control(read=False):
        with cache_control(write=False):
            assert switches() == (False, False)
        with cache_control(read=True, write=True):
            assert switches() == (False, True)
        assert switches() == (False, True)


async def test_tasks_started_inside_the_block_inherit_it() -> None:
    async def seen() -> tuple[bool, bool]:
        await asyncio.sleep(0)
        return switches()

    with cache_control(write=False):
        child = asyncio.create_task(seen())
        in_thread = await asyncio.to_thread(switches)
    assert await child == (True, False)  # still off after the block closed: it started inside
    assert in_thread == (True, False)


async def test_concurrent_sibling_tasks_are_not_affected() -> None:
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def holder() -> None:
        with cache_control(read=False, write=False):
            inside.set()
            await leave.wait()

    async def sibling() -> tuple[bool, bool]:
        await inside.wait()
        return switches()

    held = asyncio.create_task(holder())
    other = asyncio.create_task(sibling())
    assert await other == (True, True)
    leave.set()
    await held
    assert switches() == (True, True)


def test_a_copied_context_keeps_its_own_switches() -> None:
    with cache_control(read=False):
        ctx = contextvars.copy_context()
    assert ctx.run(switches) == (False, True)
    assert switches() == (True, True)


def test_switches_and_overrides_nest_independently_in_one_state() -> None:
    # Switches and the namespace/ttl overrides share one context variable: a block that sets
    # one keeps the other, and a call's own overrides (applied) keep the block's switches.
    with cache_control(read=False):
        with cache_control(namespace="tenant-a"):
            assert switches() == (False, True)
            assert overrides() == Overrides("tenant-a")
            with applied(Overrides("tenant-b", 5.0)):
                assert switches() == (False, True)
                assert overrides() == Overrides("tenant-b", 5.0)
            assert overrides() == Overrides("tenant-a")
            with cache_control(write=False):
                assert switches() == (False, False)
                assert overrides() == Overrides("tenant-a")
        assert overrides() is None
        assert switches() == (False, True)
    assert switches() == (True, True)
