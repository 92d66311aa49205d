"""The file tier on a real directory: format, expiry, damage, permissions, size cap, processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aicache.backends import FileBackend
from aicache.backends._file import _HEADER, MARKER

if TYPE_CHECKING:
    from conftest import Clock

KEY = "aicache:default:mod.fn:" + "ab" * 32


def all_files(root: Path) -> list[Path]:
    """Every file but the directory's marker."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MARKER)


def entry_files(root: Path) -> list[Path]:
    return [p for p in all_files(root) if not p.name.startswith(".")]


async def test_round_trip_and_overwrite(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "c")
    assert await tier.get(KEY) is None
    await tier.set(KEY, b"first", 60)
    assert await tier.get(KEY) == b"first"
    await tier.set(KEY, b"second", None)
    assert await tier.get(KEY) == b"second"
    await tier.set("other", b"", 60)
    assert await tier.get("other") == b""
    assert len(entry_files(tmp_path)) == 2


async def test_large_entries_round_trip(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path)
    big = os.urandom(3 * 1024 * 1024)  # read and written in a thread
    await tier.set(KEY, big, 60)
    assert await tier.get(KEY) == big


async def test_delete(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path)
    await tier.set(KEY, b"v", 60)
    assert await tier.delete(KEY) is True
    assert await tier.delete(KEY) is False
    assert await tier.get(KEY) is None


async def test_ttl_follows_the_clock_and_expired_files_go_on_read(
    tmp_path: Path, clock: Clock
) -> None:
    tier = FileBackend(tmp_path)
    await tier.set(KEY, b"v", 10)
    await tier.set("forever", b"f", None)
    clock.advance(9.9)
    assert await tier.get(KEY) == b"v"
    clock.advance(0.2)
    assert await tier.get(KEY) is None
    assert not tier.path(KEY).exists()
    clock.advance(10 * 365 * 86400)
    assert await tier.get("forever") == b"f"


async def test_zero_ttl_removes_the_entry(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path)
    await tier.set(KEY, b"v", 60)
    await tier.set(KEY, b"w", 0)
    assert await tier.get(KEY) is None


async def test_directories_0700_and_files_0600(tmp_path: Path) -> None:
    old = os.umask(0)  # the modes must come from the tier, not from a kind umask
    try:
        tier = FileBackend(tmp_path / "deep" / "cache")
        await tier.set(KEY, b"v", 60)
    finally:
        os.umask(old)
    entry = tier.path(KEY)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "deep" / "cache").stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "key",
    [
        "../../../../etc/passwd",
        "/absolute/path",
        "..",
        "a/../../b",
        "nul\x00byte",
        "back\\slash\\..\\..",
        "ünïcødé ключ 鍵",
        "x" * 10_000,
        "",
    ],
)
async def test_keys_cannot_choose_their_path(tmp_path: Path, key: str) -> None:
    root = tmp_path / "cache"
    tier = FileBackend(root)
    await tier.set(key, b"v", 60)
    assert await tier.get(key) == b"v"
    files = all_files(tmp_path)
    assert len(files) == 1
    name = files[0]
    assert name.parent.parent == root
    assert len(name.name) == 64 and name.parent.name == name.name[:2]


async def test_another_keys_file_under_the_same_name_is_a_miss(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path)
    await tier.set("mine", b"mine's value", 60)
    other = tier.path("other")
    other.parent.mkdir(mode=0o700, exist_ok=True)
    tier.path("mine").rename(other)  # what a sha256 collision would look like
    assert await tier.get("other") is None


def _truncate(data: bytes) -> bytes:
    return data[:-3]


def _garbage(data: bytes) -> bytes:
    return os.urandom(len(data))


def _wrong_version(data: bytes) -> bytes:
    return data[:4] + bytes([99]) + data[5:]


def _empty(data: bytes) -> bytes:
    return b""


def _header_only(data: bytes) -> bytes:
    return data[: _HEADER.size - 1]


def _grown(data: bytes) -> bytes:
    return data + b"trailing"


@pytest.mark.parametrize(
    "damage", [_truncate, _garbage, _wrong_version, _empty, _header_only, _grown]
)
async def test_damaged_files_are_misses_and_get_replaced(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    tier = FileBackend(tmp_path)
    await tier.set(KEY, b"value" * 100, 60)
    path = tier.path(KEY)
    path.write_bytes(damage(path.read_bytes()))
    assert await tier.get(KEY) is None
    assert await tier.get(KEY) is None
    await tier.set(KEY, b"fresh", 60)
    assert await tier.get(KEY) == b"fresh"


async def test_prune_removes_expired_damaged_and_abandoned_files(
    tmp_path: Path, clock: Clock
) -> None:
    tier = FileBackend(tmp_path)
    for i in range(10):
        await tier.set(f"short{i}", b"v", 5)
        await tier.set(f"long{i}", b"v", 500)
    await tier.set("damaged", b"v", 500)
    await tier.set("foreign", b"v", 500)
    await tier.close()  # the writes' own background upkeep is done
    torn = tier.path("damaged")
    torn.write_bytes(torn.read_bytes()[:-1])  # ours (the magic), but torn
    tier.path("foreign").write_bytes(b"garbage")  # not provably ours: left alone
    shard = tier.path("long0").parent
    stem = "." + tier.path("long0").name
    abandoned, writing = shard / f"{stem}.123.0000abcd.tmp", shard / f"{stem}.123.0000abce.tmp"
    abandoned.write_bytes(b"x")
    writing.write_bytes(b"x")
    os.utime(abandoned, (clock.wall - 7200, clock.wall - 7200))
    os.utime(writing, (clock.wall, clock.wall))
    clock.advance(10)
    assert await tier.prune() == 12
    assert not abandoned.exists() and writing.exists()
    assert tier.path("foreign").read_bytes() == b"garbage"
    assert {await tier.get(f"long{i}") for i in range(10)} == {b"v"}
    await tier.close()


async def test_writes_sweep_expired_entries_in_the_background(tmp_path: Path, clock: Clock) -> None:
    tier = FileBackend(tmp_path)
    for i in range(20):
        await tier.set(f"old{i}", b"v", 1)
    clock.advance(5)
    for i in range(300):  # more than one sweep interval
        await tier.set(f"new{i}", b"v", 60)
    await tier.close()  # waits for the sweep
    assert not any(tier.path(f"old{i}").exists() for i in range(20))
    assert len(entry_files(tmp_path)) == 300


async def test_size_cap_evicts_least_recently_used(tmp_path: Path, clock: Clock) -> None:
    value = b"v" * 1000
    tier = FileBackend(tmp_path, max_bytes=6000)
    for i in range(5):
        await tier.set(f"k{i}", value, None)
        clock.advance(1)
    await tier.close()
    clock.advance(3600)
    assert await tier.get("k0") == value  # read long after writing: its recency moves up
    clock.advance(1)
    await tier.set("k5", value, None)
    await tier.close()
    await tier.prune()
    kept = {f"k{i}" for i in range(6) if tier.path(f"k{i}").exists()}
    assert sum(p.stat().st_size for p in entry_files(tmp_path)) <= 6000 * 0.9
    assert {"k0", "k5"} <= kept
    assert "k1" not in kept  # the oldest untouched entry went first


async def test_size_cap_is_kept_by_writes_alone(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path, max_bytes=20_000)
    for i in range(100):
        await tier.set(f"k{i}", b"v" * 1000, None)
        await tier.close()  # let each background trim finish, so the bound is exact
    assert sum(p.stat().st_size for p in entry_files(tmp_path)) <= 20_000
    assert await tier.get("k99") == b"v" * 1000


async def test_oversized_value_is_not_stored(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path, max_bytes=100)
    await tier.set(KEY, b"v" * 200, 60)
    assert await tier.get(KEY) is None


async def test_clear_and_keys_match_the_prefix_only(tmp_path: Path, clock: Clock) -> None:
    tier = FileBackend(tmp_path)
    for i in range(5):
        await tier.set(f"aicache:ns:f:{i}", b"v", 60)
        await tier.set(f"aicache:ns:g:{i}", b"v", 60)
    await tier.set("aicache:ns:f:expired", b"v", 1)
    await tier.set("aicache:nsx:f:0", b"v", 60)
    clock.advance(2)
    assert sorted([k async for k in tier.keys("aicache:ns:f:")]) == [
        f"aicache:ns:f:{i}" for i in range(5)
    ]
    assert await tier.clear("aicache:ns:f:") == 6  # the expired entry goes too
    assert [k async for k in tier.keys("aicache:ns:f:")] == []
    assert len([k async for k in tier.keys("aicache:ns:")]) == 5
    assert await tier.get("aicache:nsx:f:0") == b"v"


async def test_a_missing_or_empty_directory_is_simply_empty(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "never-created")
    assert await tier.get(KEY) is None
    assert await tier.clear("") == 0
    assert [k async for k in tier.keys("")] == []
    assert await tier.prune() == 0
    assert not (tmp_path / "never-created").exists()


def test_bad_options_name_the_argument(tmp_path: Path) -> None:
    from aicache import ConfigError

    with pytest.raises(ConfigError, match="max_bytes"):
        FileBackend(tmp_path, max_bytes=0)


WORKER = r"""
import asyncio, hashlib, logging, os, random, sys, time
from aicache.backends import FileBackend

async def main(directory, seed, go, seconds):
    damaged = []  # a torn file would be reported as damaged
    handler = logging.Handler()
    handler.emit = lambda record: damaged.append(record.getMessage())
    logging.getLogger("aicache").addHandler(handler)
    tier = FileBackend(directory, max_bytes=300_000)  # small: evictions run during the test
    rng = random.Random(seed)
    while not os.path.exists(go):
        time.sleep(0.005)
    deadline = time.monotonic() + seconds
    reads = hits = bad = writes = 0
    while time.monotonic() < deadline:
        key = f"aicache:t:f:{rng.randrange(50)}"
        if rng.random() < 0.5:
            body = rng.randbytes(rng.randrange(1, 30_000))
            await tier.set(key, key.encode() + b"|" + hashlib.sha256(body).digest() + body, 60)
            writes += 1
        else:
            reads += 1
            value = await tier.get(key)
            if value is not None:
                hits += 1
                head, _, rest = value.partition(b"|")
                if head != key.encode() or hashlib.sha256(rest[32:]).digest() != rest[:32]:
                    bad += 1
    await tier.close()
    print(reads, hits, bad + len(damaged), writes)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
"""


def test_four_processes_share_a_directory_without_torn_or_wrong_reads(tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "cache"), str(seed), str(go), "1.5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for seed in range(4)
    ]
    time.sleep(0.5)  # let them start, then release all four at once
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        results.append([int(n) for n in out.split()])
    for reads, hits, bad, writes in results:
        assert bad == 0
        assert reads > 0 and writes > 0 and hits > 0
    assert not [p for p in (tmp_path / "cache").rglob(".*") if p.is_file()]  # no temp left
