"""The ``aicache`` command on a Redis Cluster (``REDIS_URL=redis://...?cluster=true``): the real
command in a subprocess, against the run's 6-node cluster from the fixtures."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import redis
from test_warm import RECORDED, point_at, run_aicache, write_jsonl

from aicache.simulator import ProviderSimulator

if TYPE_CHECKING:
    from conftest import RedisClusterNodes

FN = "workload.classify"

# Entries in two namespaces, spread over every shard.
SPREAD = """
import asyncio, sys
import aicache

@aicache.ai_cached(namespace="keep", name="spread.keep")
async def keep(n):
    return {"n": n}

@aicache.ai_cached(namespace="drop", name="spread.drop")
async def drop(n):
    return {"n": n}

async def main(calls):
    for n in range(calls):
        await keep(n)
        await drop(n)
    await aicache.close()

asyncio.run(main(int(sys.argv[1])))
"""


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _on(shell: Any, cluster: RedisClusterNodes) -> redis.RedisCluster:
    shell.env["REDIS_URL"] = cluster.url + "?cluster=true"
    return redis.RedisCluster.from_url(cluster.url)


def _entries_per_primary(cluster: RedisClusterNodes, prefix: str) -> list[int]:
    counts = []
    for node in cluster.primaries():
        r = redis.Redis(host="127.0.0.1", port=node.port)
        try:
            counts.append(sum(1 for _ in r.scan_iter(match=prefix + "*")))
        finally:
            r.close()
    return counts


def test_stats_on_a_cluster_reads_the_fleet_stats(
    shell: Any, redis_cluster: RedisClusterNodes
) -> None:
    rc = _on(shell, redis_cluster)
    try:
        shell.workload(4)
        done = shell.aicache("stats", "--json")
        snap = _json(done)
        assert snap["functions"][FN]["hits"] == 1
        assert snap["hits_by_tier"] == {"redis": 1}
        assert snap["sources"][0] == "redis hash aicache-fleet:stats:v1"
        assert rc.exists("aicache-fleet:stats:v1")
        assert not (shell.cache_dir / "fleet-stats.json").exists()
        text = shell.aicache("stats")
        assert text.returncode == 0 and "MOVED" not in text.stdout + text.stderr
    finally:
        rc.close()


def test_inspect_and_clear_a_namespace_on_every_primary_of_a_cluster(
    shell: Any, redis_cluster: RedisClusterNodes
) -> None:
    rc = _on(shell, redis_cluster)
    try:
        shell.python(SPREAD, "30")
        rc.set("someone-else:key", b"keep me")
        spread = _entries_per_primary(redis_cluster, "aicache:drop:")
        assert len(spread) == 3 and all(n > 0 for n in spread), spread

        rows = _json(shell.aicache("inspect", "--json", "--namespace", "drop"))
        assert len([r for r in rows if r["tier"] == "redis"]) == 30

        done = shell.aicache("clear", "--namespace", "drop", "--yes")
        assert done.returncode == 0, done.stderr
        assert "30 from redis" in done.stdout, done.stdout
        assert _entries_per_primary(redis_cluster, "aicache:drop:") == [0, 0, 0]
        assert sum(_entries_per_primary(redis_cluster, "aicache:keep:")) == 30
        assert rc.get("someone-else:key") == b"keep me"
        assert _json(shell.aicache("inspect", "--json", "--namespace", "drop")) == []
        kept = _json(shell.aicache("inspect", "--json", "--namespace", "keep"))
        assert len([r for r in kept if r["tier"] == "redis"]) == 30
    finally:
        rc.close()


async def test_warm_into_a_cluster_then_inspect_finds_the_entries(
    shell: Any, redis_cluster: RedisClusterNodes
) -> None:
    rc = _on(shell, redis_cluster)
    try:
        async with ProviderSimulator() as sim:
            point_at(shell, sim)
            path = write_jsonl(shell.workdir / "requests.jsonl", RECORDED)
            code, out, err = await run_aicache(shell, "warm", path)
            assert code == 0, err
            assert f"{len(RECORDED)} stored" in out, out
            assert sim.count() == len(RECORDED)
            code, out, err = await run_aicache(shell, "warm", path)
            assert code == 0 and sim.count() == len(RECORDED)  # the second run: all hits
            code, out, err = await run_aicache(shell, "inspect", "--json")
            rows = json.loads(out)
            assert len([r for r in rows if r["tier"] == "redis"]) == len(RECORDED)
        assert sum(_entries_per_primary(redis_cluster, "aicache:")) == len(RECORDED)
    finally:
        rc.close()
