"""One OS process of the cross-process tests: N concurrent identical calls with ``lock=True``.

    python _worker.py <mode> <redis url> <callers> <expected waiters>

It prints ``ready`` once warmed up, waits for a line on stdin, makes the calls, prints one JSON
line with what it saw, and exits. Every real run of the function is counted with INCR on
``test:runs``. Modes: ``stampede`` (the function returns once ``expected waiters`` other
processes are waiting for it, so each of them provably waited) and ``hang`` (the first run
records its pid in ``test:holder`` and never returns: the test kills it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import redis.asyncio as aioredis

import aicache
from aicache import ai_cached
from aicache.backends._redis_lease import DONE_PREFIX


async def main(mode: str, url: str, callers: int, waiters: int) -> None:
    # Generous Redis timeouts: this is about the lease, not about a starved CPU's timeouts.
    aicache.configure(
        redis_url=url,
        lock_lease=1.0,
        lock_wait=30.0,
        redis_timeout=2.0,
        redis_connect_timeout=2.0,
    )
    counter = aioredis.Redis.from_url(url)

    @ai_cached(backend=["memory", "redis"], lock=True, name="worker.answer")
    async def answer(question: str) -> dict[str, Any]:
        run = await counter.incr("test:runs")
        if mode == "hang" and run == 1:
            await counter.set("test:holder", os.getpid())
            await asyncio.sleep(120)
        channel = DONE_PREFIX + answer.cache.key(question)
        deadline = time.monotonic() + (10 if mode == "stampede" else 0)
        while time.monotonic() < deadline:
            subscribed = await counter.pubsub_numsub(channel)
            if subscribed[0][1] >= waiters:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return {"question": question, "answer": 42}

    await answer.cache.invalidate("warm-up")  # connects
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started = time.monotonic()
    results = await asyncio.gather(*(answer("same") for _ in range(callers)))
    elapsed = time.monotonic() - started
    snap = aicache.stats.snapshot()
    report = {
        "pid": os.getpid(),
        "ok": all(r == {"question": "same", "answer": 42} for r in results),
        "distinct": len({id(r) for r in results}),
        "elapsed": elapsed,
        **{k: snap[k] for k in ("hits", "misses", "coalesced", "lock_waits", "stores")},
    }
    print(json.dumps(report), flush=True)
    await counter.aclose()
    await aicache.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
