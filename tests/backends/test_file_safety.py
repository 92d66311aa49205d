"""The file tier among things that are not its own: foreign files, symlinks, FIFOs, a git
repository, a directory where an entry should be, a full disk. Real files throughout."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicache import ConfigError
from aicache.backends import EntryError, FileBackend

KEY = "aicache:default:mod.fn:" + "cd" * 32


def _documents(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for i in range(3):
        doc = folder / f"report-{i}.txt"
        doc.write_text(f"quarterly report {i}\n")
        docs.append(doc)
    return docs


async def test_the_sweep_and_prune_never_follow_a_symlinked_shard(tmp_path: Path) -> None:
    docs = _documents(tmp_path / "documents")
    cache = tmp_path / "cache"
    tier = FileBackend(cache)
    await tier.set("first", b"v", 60)  # the directory is now the tier's own
    os.symlink(tmp_path / "documents", cache / "ab")
    for i in range(300):  # more than one background sweep
        with contextlib.suppress(EntryError):  # a key whose shard is the symlink: not stored
            await tier.set(f"k{i}", b"v", 0.001)
    await tier.close()
    await asyncio.sleep(0.01)
    await tier.prune()
    await tier.clear("")
    assert all(doc.read_text().startswith("quarterly report") for doc in docs)
    await tier.close()


async def test_foreign_files_inside_a_shard_are_left_alone(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache")
    await tier.set(KEY, b"v", 60)
    shard = tier.path(KEY).parent
    foreign = [shard / "notes.txt", shard / ("ef" * 32), shard / ".hidden.tmp"]
    for path in foreign:
        path.write_bytes(b"not an entry")
        os.utime(path, (0, 0))  # ancient: a sweep would call it abandoned
    await tier.prune()
    assert await tier.clear("") == 1
    assert all(path.read_bytes() == b"not an entry" for path in foreign)


async def test_prune_and_clear_never_delete_through_a_symlinked_entry(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    tier = FileBackend(tmp_path / "cache")
    await tier.set(KEY, b"v", 60)
    link = tier.path("linked")
    link.parent.mkdir(exist_ok=True)
    os.symlink(victim, link)
    assert await tier.get("linked") is None
    await tier.prune()
    await tier.clear("")
    assert victim.read_text() == "keep me"


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_a_git_repository_is_refused_and_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aicache

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README").write_text("hello\n")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "first")
    objects = repo / ".git" / "objects"
    with pytest.raises(ConfigError, match="AI_CACHE_DIR"):
        FileBackend(objects)
    monkeypatch.setenv("AI_CACHE_DIR", str(objects))
    aicache.configure(aicache.CacheConfig.from_env(backend="file"))

    @aicache.ai_cached
    async def f(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match="AI_CACHE_DIR"):
        await f(1)
    assert "first" in _git(repo, "log", "--oneline")
    _git(repo, "fsck", "--strict")


async def test_a_directory_of_foreign_files_is_refused(tmp_path: Path) -> None:
    _documents(tmp_path / "home")
    with pytest.raises(ConfigError, match="AI_CACHE_DIR"):
        FileBackend(tmp_path / "home")


async def test_a_directory_written_before_the_marker_existed_is_adopted(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache")
    await tier.set(KEY, b"v", 60)
    marker = next(p for p in (tmp_path / "cache").iterdir() if p.is_file())
    marker.unlink()  # as an aicache that predates the marker left it
    again = FileBackend(tmp_path / "cache")
    assert await again.get(KEY) == b"v"
    assert marker.exists()


async def test_a_fifo_at_an_entry_path_is_a_miss_and_does_not_block(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache")
    await tier.set("other", b"v", 60)
    fifo = tier.path(KEY)
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    assert await asyncio.wait_for(tier.get(KEY), 2) is None
    await asyncio.wait_for(tier.set(KEY, b"value", 60), 2)  # replaces the FIFO by rename
    assert await tier.get(KEY) == b"value"


async def test_a_fifo_in_a_shard_does_not_hang_the_sweep_or_close(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache")
    await tier.set(KEY, b"v", 60)
    os.mkfifo(tier.path(KEY).parent / ("0" * 64))
    os.mkfifo(tier.path(KEY).parent / "pipe")
    for i in range(300):
        await tier.set(f"k{i}", b"v", 60)
    await asyncio.wait_for(tier.close(), 5)
    await asyncio.wait_for(tier.prune(), 5)
    await asyncio.wait_for(tier.clear("aicache:"), 5)
    assert len([k async for k in tier.keys("")]) == 300


async def test_a_symlink_to_dev_zero_is_a_miss_not_an_endless_read(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache")
    await tier.set("other", b"v", 60)
    link = tier.path(KEY)
    link.parent.mkdir(exist_ok=True)
    os.symlink("/dev/zero", link)
    assert await asyncio.wait_for(tier.get(KEY), 2) is None
    await asyncio.wait_for(tier.prune(), 5)


async def test_reads_are_bounded_by_the_entry_size_limit(tmp_path: Path) -> None:
    tier = FileBackend(tmp_path / "cache", max_entry_bytes=1000)
    await tier.set(KEY, b"x" * 500, 60)
    assert await tier.get(KEY) == b"x" * 500
    await tier.set(KEY, b"x" * 5000, 60)  # over the limit: not stored, and the old one is gone
    assert await tier.get(KEY) is None
    path = tier.path(KEY)
    path.write_bytes(b"AICF" + b"\0" * (1 << 20))  # a huge file someone put there
    assert await tier.get(KEY) is None


async def test_a_directory_at_an_entry_path_only_misses_that_entry(tmp_path: Path) -> None:
    from aicache import ai_cached, stats

    tier = FileBackend(tmp_path / "cache")
    await tier.set("seed", b"v", 60)
    calls = 0

    @ai_cached(backend=[tier])
    async def f(x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    blocked = tier.path(f.cache.key(0))
    os.makedirs(blocked)
    for _ in range(3):
        for x in range(10):
            await f(x)
    assert calls == 3 + 9  # key 0 misses each time; the nine others hit after their first call
    assert stats.snapshot()["hits"] == 18
    assert stat.S_ISDIR(os.stat(blocked).st_mode)


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[bool]:
    """A 256 KB tmpfs at ``path``; ``False`` when this machine refuses to mount one."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", f"aicache-{uuid.uuid4().hex[:8]}", str(path)],
        capture_output=True,
    )
    try:
        yield done.returncode == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "wb") as out:
        while True:
            out.write(os.urandom(4096))
            out.flush()


async def test_a_full_disk_stops_writes_but_not_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aicache import ai_cached, stats

    with _small_disk(tmp_path / "disk") as mounted:
        tier = FileBackend(tmp_path / "disk" / "cache")
        old = os.urandom(1000)
        await tier.set("aicache:default:filler:" + "0" * 64, b"", 60)

        @ai_cached(backend=[tier])
        async def f(x: int) -> str:
            return old.hex() if x < 10 else os.urandom(4000).hex()

        for x in range(10):
            await f(x)  # stored while there is room
        if mounted:
            _fill(tmp_path / "disk" / "filler")
        else:
            # This machine refuses to mount a tmpfs: fail os.write at the file tier's boundary.
            def full(fd: int, data: object) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr("aicache.backends._file.os.write", full)
        for x in range(10, 20):
            await f(x)  # each store fails: disk full
        hits = stats.snapshot()["hits"]
        for x in range(10):
            await f(x)
        assert stats.snapshot()["hits"] == hits + 10
        await tier.close()
