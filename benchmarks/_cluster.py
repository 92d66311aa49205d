"""A Redis Cluster hit against a single-server hit, both through ``@ai_cached``.

Starts its own 3-primary cluster (``redis-cli --cluster create``, no replicas: a hit reads from
a primary either way) on free loopback ports, next to the run's single server.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import aicache

from ._common import Env, Mode, Results
from ._server import RedisServer
from ._timing import Contender, measure

__all__ = ["run"]

_KEYS = 64


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout


def _start_cluster() -> list[RedisServer]:
    nodes: list[RedisServer] = []
    try:
        for _ in range(3):
            node = RedisServer(
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"), cluster=True
            )
            node.start()
            nodes.append(node)
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        _cli(
            nodes[0].port,
            "--cluster",
            "create",
            *addresses,
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        )
        deadline = time.monotonic() + 30
        while "cluster_state:ok" not in _cli(nodes[0].port, "cluster", "info"):
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark's cluster did not become ok")
            time.sleep(0.05)
    except BaseException:
        for n in nodes:
            n.stop()
        raise
    return nodes


def _cached(url: str) -> Any:
    @aicache.ai_cached(backend=aicache.backends.RedisBackend(url, name="redis"))
    async def answer(i: int) -> dict[str, Any]:
        return {"i": i, "text": "a short completion"}

    return answer


async def run(env: Env, mode: Mode, results: Results) -> None:
    if env.redis_url is None or shutil.which("redis-cli") is None:
        results.notes.append("cluster family skipped: needs redis-server and redis-cli")
        return
    nodes = _start_cluster()
    try:
        single = _cached(env.redis_url)
        cluster = _cached(f"redis://127.0.0.1:{nodes[0].port}/0?cluster=true")
        for fn in (single, cluster):
            for i in range(_KEYS):
                await fn(i)
        counter = iter(range(10**9))

        def hit(fn: Any) -> Any:
            return lambda: fn(next(counter) % _KEYS)

        samples = await measure(
            [
                Contender("single server", hit(single)),
                Contender("cluster (3 primaries)", hit(cluster)),
            ],
            blocks=mode.blocks,
            calls=mode.redis_calls,
            warmup=20,
        )
        base = samples["single server"].p50_ns
        for name, s in samples.items():
            results.cluster.append(
                {"name": name, "p50_us": s.p50_us, "p99_us": s.p99_us, "ratio": s.p50_ns / base}
            )
    finally:
        for n in nodes:
            n.stop()
