"""The hot path under load: Redis throughput with many concurrent callers, the near cache's
coherence across processes, and the memory tier's bytes per entry.

* ``load``: 1,000 concurrent callers on distinct keys, all hits, through ``@ai_cached`` on the
  Redis tier (and with a near cache), against the ceiling of one pipeline of 1,000 raw GETs +
  ``orjson.loads``. Calls per second, best of several rounds, wall time.
* ``near``: another process overwrites a key again and again while this one keeps reading it
  through a near cache; for each overwrite, how long after the writer's ``SET`` returned this
  process still served the old value (0 when it never did).
* ``memory``: the memory tier's process memory per entry (``tracemalloc``) at 1k / 100k / 1M
  entries of the workload's stored entry, against the payload bytes themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import sys
import time
import tracemalloc
from typing import Any

import orjson

import aicache

from . import _workload
from ._common import Env, Mode, Results

__all__ = ["run"]

_CALLERS = 1000
_WRITER = """
import sys, time
import redis
client = redis.Redis.from_url(sys.argv[1])
for line in sys.stdin:
    client.set(sys.argv[2], line.strip().encode())
    print(time.monotonic(), flush=True)
"""


async def run(env: Env, mode: Mode, results: Results) -> None:
    out: dict[str, Any] = {}
    results.hot = out
    if env.redis_url:
        rounds = {"smoke": 2, "quick": 5, "full": 15}[mode.name]
        out["load"] = await _load(env.redis_url, rounds)
        overwrites = {"smoke": 20, "quick": 100, "full": 400}[mode.name]
        out["near"] = await _near(env.redis_url, overwrites)
    sizes = {"smoke": (1000,), "quick": (1000, 100_000), "full": (1000, 100_000, 1_000_000)}
    out["memory"] = await _memory(sizes[mode.name])


async def _load(url: str, rounds: int) -> list[dict[str, Any]]:
    import redis.asyncio as aioredis

    from aicache.backends import RedisBackend

    keys = [f"aicache:bench:load:{i}" for i in range(_CALLERS)]
    raw = aioredis.Redis.from_url(url)
    await raw.mset({k: _workload.RESULT_BYTES for k in keys})

    async def raw_pipelined() -> None:
        pipe = raw.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        for data in await pipe.execute():
            orjson.loads(data)

    contenders: dict[str, Any] = {"floor: one pipeline of 1,000 GETs + orjson.loads": raw_pipelined}
    tiers = []
    for label, tier in (
        ("aicache redis", RedisBackend(url)),
        ("aicache redis, near cache", RedisBackend(url, near=10_000)),
    ):
        tiers.append(tier)

        @aicache.ai_cached(backend=tier, namespace="bench", name=f"load_{len(tiers)}")
        async def fetch(i: int) -> Any:
            return orjson.loads(_workload.RESULT_BYTES)

        await asyncio.gather(*(fetch(i) for i in range(_CALLERS)))  # fill

        async def burst(fn: Any = fetch) -> None:
            await asyncio.gather(*(fn(i) for i in range(_CALLERS)))

        contenders[label] = burst
    await asyncio.sleep(0.2)  # the near cache's own-write invalidations settle
    best: dict[str, float] = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():  # interleaved
            started = time.perf_counter()
            await fn()
            best[name] = min(best[name], time.perf_counter() - started)
    for tier in tiers:
        await tier.close()
    await raw.delete(*keys)
    await raw.aclose()
    floor = best["floor: one pipeline of 1,000 GETs + orjson.loads"]
    return [
        {
            "name": name,
            "calls_per_s": _CALLERS / s,
            "ratio": floor / s,  # calls/s ÷ the floor's
            "wall_ms": s * 1000,
        }
        for name, s in best.items()
    ]


async def _near(url: str, overwrites: int) -> dict[str, Any]:
    from aicache.backends import RedisBackend

    key = "aicache:bench:near:key"
    tier = RedisBackend(url, near=100)
    await tier.get(key)
    for _ in range(500):
        if tier.near_stats().get("live"):
            break
        await asyncio.sleep(0.01)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        url,
        key,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen: dict[bytes, float] = {}
    arrived = asyncio.Event()
    stop = False

    async def reader() -> None:
        while not stop:
            value = await tier.get(key)
            if value is not None and value not in seen:
                seen[value] = time.monotonic()
                arrived.set()
            await asyncio.sleep(0)  # one loop turn per read, like a busy server

    polling = asyncio.ensure_future(reader())
    windows: list[float] = []
    near_hits_before = tier.near_stats().get("hits", 0)
    try:
        for i in range(overwrites):
            version = f"v{i}".encode()
            arrived.clear()
            proc.stdin.write(version + b"\n")
            await proc.stdin.drain()
            written = float((await proc.stdout.readline()).decode())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(arrived.wait(), 2.0)  # the reader saw the new version
            windows.append(max(0.0, seen.get(version, written + 2.0) - written))
            await asyncio.sleep(0.005)  # let reads settle into near hits before the next write
    finally:
        stop = True
        await polling
        proc.stdin.close()
        await proc.wait()
        stats = tier.near_stats()
        await tier.close()
    windows.sort()
    ms = [w * 1000 for w in windows]
    return {
        "overwrites": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
        "near_hits": stats.get("hits", 0) - near_hits_before,
        "invalidations": stats.get("invalidated", 0),
    }


async def _memory(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    from aicache.backends import MemoryBackend

    payload = _workload.RESULT_BYTES
    rows = []
    for n in sizes:
        gc.collect()
        values = [payload + b"%d" % i for i in range(n)]  # distinct objects, as real entries are
        keys = [f"aicache:bench:mem:{i:064d}" for i in range(n)]
        stored = sum(len(v) for v in values)
        tier = MemoryBackend(max_entries=n + 1, max_bytes=stored * 2)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for k, v in zip(keys, values, strict=True):
            await tier.set(k, v, 3600)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        # What the tier holds: its bookkeeping plus the keys and values it keeps alive.
        own = sum(sys.getsizeof(v) for v in values) + sum(sys.getsizeof(k) for k in keys)
        rows.append(
            {
                "entries": n,
                "payload_bytes": stored / n,
                "per_entry_bytes": (held + own) / n,
                "ratio": (held + own) / stored,
            }
        )
        del tier, values, keys
    return rows
