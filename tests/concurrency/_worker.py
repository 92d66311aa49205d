"""One OS process of the cross-process tests: N concurrent identical calls with ``lock=True``.

    python _worker.py <mode> <redis url> <callers> <expected waiters>

It prints ``ready`` once warmed up, waits for a line on stdin, makes the calls, prints one JSON
line with what it saw, and exits. Every real run of the function is counted with INCR on
``test:runs``. Modes: ``stampede`` (the function returns once ``expected waiters`` other
processes are waiting for it, so each of them provably waited), ``hang`` (the first run
records its pid in ``test:holder`` and never returns: the test kills it) and ``keys`` (on a
Redis Cluster URL: one call each of ``callers`` different keys, each run returning once
``expected waiters`` processes listen on its shard channel; the lease is 30 s, so a waiter
that missed its message would sleep for most of that).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

import aicache
from aicache import ai_cached
from aicache.backends._redis_lease import done_channel


async def main(mode: str, url: str, callers: int, waiters: int) -> None:
    sharded = mode == "keys"
    # Generous Redis timeouts: this is about the lease, not about a starved CPU's timeouts.
    aicache.configure(
        redis_url=url,
        lock_lease=30.0 if sharded else 1.0,
        lock_wait=60.0 if sharded else 30.0,
        redis_timeout=2.0,
        redis_connect_timeout=2.0,
    )
    plain = url.replace("?cluster=true", "")
    counter: Any = aioredis.Redis.from_url(url)
    topology: Any = None
    if sharded:
        # The cluster client only maps keys to nodes, and learns the map before the calls start:
        # redis-py's async cluster client can fail a command when many tasks first use it at once.
        # The counting goes to the node that owns the counter, over a plain client.
        topology = RedisCluster.from_url(plain)
        await topology.initialize()
        owner = topology.get_node_from_key("test:runs")
        counter = aioredis.Redis(host=owner.host, port=owner.port)
    nodes: dict[str, aioredis.Redis] = {}

    async def listening(channel: str) -> int:
        if not sharded:
            return int((await counter.pubsub_numsub(channel))[0][1])
        node = topology.get_node_from_key(channel)
        if node.name not in nodes:
            nodes[node.name] = aioredis.Redis(host=node.host, port=node.port)
        reply = await nodes[node.name].execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])

    @ai_cached(backend=["memory", "redis"], lock=True, name="worker.answer")
    async def answer(question: str) -> dict[str, Any]:
        run = await counter.incr("test:runs")
        if mode == "hang" and run == 1:
            await counter.set("test:holder", os.getpid())
            await asyncio.sleep(120)
        channel = done_channel(answer.cache.key(question))
        deadline = time.monotonic() + (0 if mode == "hang" else 10)
        while time.monotonic() < deadline:
            if await listening(channel) >= waiters:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return {"question": question, "answer": 42}

    await answer.cache.invalidate("warm-up")  # connects
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    questions = [f"q{i}" for i in range(callers)] if sharded else ["same"] * callers
    started = time.monotonic()
    results = await asyncio.gather(*(answer(q) for q in questions))
    elapsed = time.monotonic() - started
    snap = aicache.stats.snapshot()
    report = {
        "pid": os.getpid(),
        "ok": all(
            r == {"question": q, "answer": 42} for q, r in zip(questions, results, strict=True)
        ),
        "distinct": len({id(r) for r in results}),
        "elapsed": elapsed,
        **{k: snap[k] for k in ("hits", "misses", "coalesced", "lock_waits", "stores")},
    }
    print(json.dumps(report), flush=True)
    for node in nodes.values():
        await node.aclose()
    await counter.aclose()
    if topology is not None:
        await topology.aclose()
    await aicache.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
