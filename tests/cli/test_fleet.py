"""Fleet stats: batched deltas from each process into one shared store, never counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

import aicache
from aicache import _fleet, _stats

LABEL = ("tests.fleet.f", "", "")


def _hits(n: int = 1, tier: str = "file") -> None:
    for _ in range(n):
        _stats.hit(LABEL, tier, 0.5, 1.0, {"input": 10})


def _fleet_figures() -> dict[str, object]:
    snap = _fleet.read().snapshot
    return snap["functions"].get(LABEL[0], {})  # type: ignore[no-any-return]


def test_flushes_add_only_what_is_new() -> None:
    _hits(3)
    _stats.miss(LABEL)
    assert _fleet.flush()
    assert _fleet.flush()  # nothing new: adds nothing
    _hits(2)
    assert _fleet.flush()
    got = _fleet_figures()
    assert got["hits"] == 5
    assert got["misses"] == 1
    assert got["cost_saved_usd"] == pytest.approx(2.5)
    assert got["hits_by_tier"] == {"file": 5}
    assert got["tokens_saved"] == {"input": 50}
    assert aicache.stats.snapshot()["hits"] == 5  # the process's own counters are untouched


def test_a_stats_reset_starts_the_deltas_from_zero() -> None:
    _hits(4)
    _fleet.flush()
    aicache.stats.reset()
    _hits(1)
    _fleet.flush()
    assert _fleet_figures()["hits"] == 5


def test_a_corrupt_stats_file_is_started_over(caplog: pytest.LogCaptureFixture) -> None:
    path = _fleet.file_path(aicache.get_config())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{not json")
    _hits(2)
    assert _fleet.flush()
    assert _fleet_figures()["hits"] == 2
    assert "not a fleet stats file" in caplog.text


def test_memory_only_settings_keep_the_counts_local() -> None:
    aicache.configure(backend="memory")
    _hits(2)
    assert _fleet.flush()
    assert not _fleet.file_path(aicache.get_config()).exists()


def test_redis_store_and_its_outage(redis_server) -> None:  # type: ignore[no-untyped-def]
    aicache.configure(redis_url=redis_server.url)
    _hits(3)
    _fleet.flush()
    raw = redis.Redis.from_url(redis_server.url).hgetall(_fleet.REDIS_KEY)
    assert raw, "the counters went to the Redis hash"
    assert not _fleet.file_path(aicache.get_config()).exists()
    fleet = _fleet.read()
    assert fleet.snapshot["hits"] == 3
    assert any("redis" in s for s in fleet.sources)

    redis_server.kill()
    _hits(2)
    assert _fleet.flush()  # Redis is gone: the counts go to the file instead of being lost
    assert _fleet.file_path(aicache.get_config()).exists()
    redis_server.start()
    assert _fleet.read().snapshot["hits"] == 2  # a restarted (empty) Redis plus the file


_FLUSHER = """
import sys
from aicache import _fleet, _stats
for _ in range(int(sys.argv[1])):
    _stats.hit(("tests.fleet.many", "", ""), "file", 0.01, 0.0, None)
    assert _fleet.flush()
"""


def test_concurrent_processes_lose_no_update(tmp_path: Path) -> None:
    env = {**os.environ, "AI_CACHE_DIR": str(aicache.get_config().cache_dir)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _FLUSHER, "40"], env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    got = _fleet.read().snapshot["functions"]["tests.fleet.many"]
    assert got["hits"] == 160
    assert got["cost_saved_usd"] == pytest.approx(1.6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_flush_its_parents_counts() -> None:
    _fleet.start()
    _hits(3)  # not flushed yet: the parent owns these
    # Holding the flusher's lock keeps the parent's periodic flush from landing while the child
    # runs (the child starts with a lock of its own).
    with _fleet._flusher.lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                _hits(1)
                thread = _fleet._flusher.thread
                assert thread is not None and thread.is_alive()  # the child flushes too
                code = 0 if _fleet.flush() else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _fleet_figures()["hits"] == 1
    _fleet.flush()
    assert _fleet_figures()["hits"] == 4


_LIVE = """
import asyncio, time
import aicache
from aicache import _fleet
_fleet.INTERVAL = 0.1

@aicache.ai_cached(name="tests.fleet.live")
async def f(n):
    return n

async def main():
    for n in range(3):
        await f(n)
        await f(n)
    print("ready", flush=True)
    while True:
        await asyncio.sleep(1)

asyncio.run(main())
"""


def test_a_running_process_flushes_periodically(shell: Any) -> None:
    """A service that never exits cleanly (SIGKILL) has still reported what it did."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LIVE], env=shell.env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        config = aicache.CacheConfig(cache_dir=shell.cache_dir)
        deadline = time.monotonic() + 30
        while True:
            fn = _fleet.read(config).snapshot["functions"].get("tests.fleet.live", {})
            if fn.get("hits") == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert fn.get("hits") == 3 and fn.get("misses") == 3
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
