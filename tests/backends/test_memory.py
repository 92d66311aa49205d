"""The in-process tier: bytes under a key with a TTL, bounded by entries and by bytes."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pytest

from aicache import ConfigError
from aicache.backends import Backend, MemoryBackend

if TYPE_CHECKING:
    from conftest import Clock


async def live_keys(tier: Backend, prefix: str = "") -> set[str]:
    return {k async for k in tier.keys(prefix)}


async def test_set_get_delete() -> None:
    tier = MemoryBackend()
    assert tier.name == "memory"
    assert await tier.get("k") is None
    await tier.set("k", b"v1", None)
    assert await tier.get("k") == b"v1"
    await tier.set("k", b"v2", 10)
    assert await tier.get("k") == b"v2"
    assert await tier.delete("k") is True
    assert await tier.delete("k") is False
    assert await tier.get("k") is None


async def test_entries_expire_after_their_ttl(clock: Clock) -> None:
    tier = MemoryBackend()
    await tier.set("short", b"s", 10)
    await tier.set("long", b"l", 100)
    await tier.set("forever", b"f", None)
    clock.advance(9.9)
    assert await tier.get("short") == b"s"
    clock.advance(0.2)
    assert await tier.get("short") is None
    assert await tier.get("long") == b"l"
    clock.advance(10_000_000)
    assert await tier.get("long") is None
    assert await tier.get("forever") == b"f"
    assert await live_keys(tier) == {"forever"}


async def test_an_expired_entry_cannot_be_deleted_twice(clock: Clock) -> None:
    tier = MemoryBackend()
    await tier.set("k", b"v", 1)
    clock.advance(2)
    assert await tier.delete("k") is False


async def test_the_entry_bound_evicts_the_least_recently_used() -> None:
    tier = MemoryBackend(max_entries=3)
    for k in ("a", "b", "c"):
        await tier.set(k, b"x", None)
    assert await tier.get("a") == b"x"  # a is now more recent than b
    await tier.set("d", b"x", None)
    assert await live_keys(tier) == {"a", "c", "d"}
    await tier.set("a", b"y", None)  # replacing a key evicts nothing
    assert await live_keys(tier) == {"a", "c", "d"}
    assert len(tier) == 3


async def test_expired_entries_make_room_before_live_ones_are_evicted(clock: Clock) -> None:
    tier = MemoryBackend(max_entries=2)
    await tier.set("old", b"x", 1)
    await tier.set("live", b"x", 100)
    clock.advance(2)
    await tier.set("new", b"x", 100)
    assert await live_keys(tier) == {"live", "new"}


async def test_the_byte_bound_evicts_until_the_values_fit() -> None:
    tier = MemoryBackend(max_bytes=100)
    await tier.set("a", b"a" * 40, None)
    await tier.set("b", b"b" * 40, None)
    await tier.get("a")
    await tier.set("c", b"c" * 40, None)  # 120 bytes would not fit: b (least recent) goes
    assert await live_keys(tier) == {"a", "c"}
    await tier.set("d", b"d" * 100, None)  # exactly the bound: everything else goes
    assert await live_keys(tier) == {"d"}


async def test_a_value_larger_than_the_byte_bound_is_not_stored() -> None:
    tier = MemoryBackend(max_bytes=100)
    await tier.set("small", b"s", None)
    await tier.set("big", b"x" * 101, None)
    assert await tier.get("big") is None
    assert await tier.get("small") == b"s"


async def test_a_value_that_cannot_be_stored_does_not_leave_the_old_one_behind() -> None:
    # A refresh whose new value is too large must not keep serving the old value.
    tier = MemoryBackend(max_bytes=100)
    await tier.set("k", b"old", None)
    await tier.set("k", b"x" * 101, None)
    assert await tier.get("k") is None


async def test_storing_an_already_expired_value_removes_the_old_one() -> None:
    tier = MemoryBackend()
    await tier.set("k", b"old", None)
    await tier.set("k", b"new", 0)
    assert await tier.get("k") is None


async def test_clear_touches_only_the_prefix() -> None:
    tier = MemoryBackend()
    keys = [
        "aicache:ns:mod.f:1",
        "aicache:ns:mod.f:2",
        "aicache:ns:mod.fg:1",
        "aicache:ns2:mod.f:1",
        "aicache:nsx:mod.f:1",
        "other:ns:mod.f:1",
    ]
    for k in keys:
        await tier.set(k, b"v", None)
    assert await tier.clear("aicache:ns:mod.f:") == 2
    assert await live_keys(tier) == set(keys[2:])
    assert await tier.clear("aicache:ns:") == 1
    assert await live_keys(tier) == set(keys[3:])
    assert await tier.clear("aicache:ns:") == 0


async def test_clear_counts_only_live_entries(clock: Clock) -> None:
    tier = MemoryBackend()
    await tier.set("p:gone", b"v", 1)
    await tier.set("p:here", b"v", 100)
    clock.advance(2)
    assert await tier.clear("p:") == 1
    assert await live_keys(tier) == set()


async def test_keys_lists_the_live_keys_under_a_prefix() -> None:
    tier = MemoryBackend()
    for k in ("x:1", "x:2", "y:1"):
        await tier.set(k, b"v", None)
    assert await live_keys(tier, "x:") == {"x:1", "x:2"}


@pytest.mark.parametrize(("entries", "size"), [(0, 10), (10, 0), (-1, 10)])
def test_bounds_must_be_positive(entries: int, size: int) -> None:
    with pytest.raises(ConfigError, match="max_entries") as info:
        MemoryBackend(max_entries=entries, max_bytes=size)
    assert isinstance(info.value, ValueError)  # what it raised before ConfigError


async def test_close_is_safe_twice() -> None:
    tier = MemoryBackend()
    await tier.close()
    await tier.close()


async def test_memory_tier_holds_entries_within_1_2x_their_payload() -> None:
    import sys
    import tracemalloc

    n = 20_000
    values = [b"x" * 2000 + b"%d" % i for i in range(n)]
    keys = [f"aicache:ns:f:{i:064d}" for i in range(n)]
    stored = sum(len(v) for v in values)
    tier = MemoryBackend(max_entries=n, max_bytes=stored)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k, v in zip(keys, values, strict=True):
            await tier.set(k, v, 3600)
        bookkeeping = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    held = bookkeeping + sum(map(sys.getsizeof, values)) + sum(map(sys.getsizeof, keys))
    assert len(tier) == n
    assert held <= 1.2 * stored


async def test_memory_tier_byte_bound_evicts_least_recently_used() -> None:
    tier = MemoryBackend(max_entries=100, max_bytes=10)
    await tier.set("a", b"1234", None)
    await tier.set("b", b"1234", None)
    assert await tier.get("a") == b"1234"  # "b" is now the least recently used
    await tier.set("c", b"1234", None)
    assert [await tier.get(k) for k in "abc"] == [b"1234", None, b"1234"]
    await tier.set("a", b"123456", None)  # replacing frees the old value's bytes first
    assert [await tier.get(k) for k in "abc"] == [b"123456", None, b"1234"]


class _CountingWalks(OrderedDict[str, tuple[bytes, float]]):
    """The tier's table, counting how often something walks all of it."""

    walks = 0

    def items(self) -> Any:
        self.walks += 1
        return super().items()


async def test_a_full_tier_walks_its_entries_only_once_one_can_have_expired(clock: Clock) -> None:
    # Every insert into a full tier used to walk every entry looking for expired ones: a miss at
    # 10,000 entries cost ~600 µs.
    tier = MemoryBackend(max_entries=100)
    tier._data = table = _CountingWalks()
    for i in range(300):  # 200 inserts into a full tier, nothing expired
        await tier.set(f"k{i}", b"x", 100)
    assert table.walks == 0
    assert len(tier) == 100
    clock.advance(101)  # everything has expired: the next insert sweeps once
    for i in range(300, 310):
        await tier.set(f"k{i}", b"x", 100)
    assert table.walks == 1
    assert await live_keys(tier) == {f"k{i}" for i in range(300, 310)}


async def test_after_a_sweep_the_least_recently_used_make_room_for_a_while(clock: Clock) -> None:
    tier = MemoryBackend(max_entries=16)
    tier._data = table = _CountingWalks()
    for i in range(16):
        await tier.set(f"old{i}", b"x", 1 + i)  # expiring one per second
    for i in range(40):
        clock.advance(1)
        await tier.set(f"new{i}", b"x", 1000)
    # One walk per two full inserts at most (an eighth of 16 entries), not one per insert.
    assert table.walks <= 40 // 2
    assert len(tier) == 16


def test_threads_sharing_the_tier_keep_its_byte_count_exact() -> None:
    # Hits take no lock: stores, evictions, expiries and deletes racing them on other threads
    # must leave the tier's count of bytes equal to the bytes it holds.
    tier = MemoryBackend(max_entries=20, max_bytes=400)
    errors: list[BaseException] = []

    async def work(seed: int) -> None:
        for i in range(3000):
            key = f"k{(i * 7 + seed) % 40}"
            if i % 3 == 0:
                await tier.set(key, b"x" * (i % 50), 0.00001 if i % 2 else None)
            elif i % 11 == 0:
                await tier.delete(key)
            else:
                tier.get_nowait(key)

    def run(seed: int) -> None:
        try:
            asyncio.run(work(seed))
        except BaseException as exc:
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert tier._bytes == sum(len(value) for value, _ in tier._data.values())
    assert len(tier) <= 20


async def test_clear_and_keys_while_other_threads_hit_the_tier() -> None:
    # A hit takes no lock and moves its key to the end: walking the table itself while that
    # happens raised "OrderedDict mutated during iteration" (27 of 30 rounds here).
    tier = MemoryBackend(max_entries=100_000)
    for i in range(50_000):
        await tier.set(f"p:{i}", b"x", 100)
    stop = threading.Event()

    def hit() -> None:
        while not stop.is_set():
            for i in range(0, 50_000, 7):
                tier.get_nowait(f"p:{i}")

    readers = [threading.Thread(target=hit) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(30):
            assert await tier.clear("q:") == 0
            assert await live_keys(tier, "q:") == set()
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert len(tier) == 50_000
