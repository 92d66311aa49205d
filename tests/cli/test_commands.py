"""Every ``aicache`` command as a subprocess: output and exit codes, on the file tier and Redis."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from typing import Any

import pytest
import redis

FN = "workload.classify"


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0]


# -- stats ----------------------------------------------------------------------------------------


def test_stats_shows_what_other_processes_did(shell: Any) -> None:
    done = shell.aicache("stats")
    assert done.returncode == 0
    assert "nothing recorded yet" in done.stdout

    shell.workload(6)  # classify: 3 misses then 3 hits; describe: 1 miss
    shell.workload(6)  # a second process: 7 hits
    snap = _json(shell.aicache("stats", "--json"))
    fn = snap["functions"][FN]
    assert (fn["hits"], fn["misses"]) == (9, 3)
    assert fn["cost_saved_usd"] == pytest.approx(9 * 0.25)
    assert fn["cost_spent_usd"] == pytest.approx(3 * 0.25)
    assert snap["functions"]["workload.describe"]["hits"] == 1
    assert (snap["hits"], snap["misses"]) == (10, 4)
    assert snap["hits_by_tier"] == {"file": 10}
    assert snap["sources"] == [str(shell.cache_dir / "fleet-stats.json")]

    text = shell.aicache("stats")
    assert text.returncode == 0
    assert FN in text.stdout and "workload.describe" in text.stdout
    assert "$2.2500" in text.stdout  # dollars saved by classify
    assert "71.4%" in text.stdout  # total hit rate, 10 / 14
    assert "hits by tier: file 10" in text.stdout

    done = shell.aicache("stats", "--reset")
    assert done.returncode == 0
    assert _json(shell.aicache("stats", "--json"))["hits"] == 0


def test_stats_from_redis(shell: Any, redis_server: Any) -> None:
    shell.env["REDIS_URL"] = redis_server.url
    shell.workload(4)
    snap = _json(shell.aicache("stats", "--json"))
    assert snap["functions"][FN]["hits"] == 1
    assert snap["hits_by_tier"] == {"redis": 1}
    assert snap["sources"][0] == "redis hash aicache-fleet:stats:v1"
    assert not (shell.cache_dir / "fleet-stats.json").exists()
    # --redis on the command line reads the same hash as REDIS_URL.
    del shell.env["REDIS_URL"]
    assert _json(shell.aicache("stats", "--json", "--redis", redis_server.url))["hits"] == 1
    assert _json(shell.aicache("stats", "--json"))["hits"] == 0

    redis_server.kill()
    done = shell.aicache("stats", "--redis", redis_server.url)
    _one_line_error(done, 1, "aicache stats: not reachable, left out: redis hash")
    assert "nothing recorded yet" in done.stdout  # the file store, read all the same


# -- inspect --------------------------------------------------------------------------------------


def test_inspect_lists_and_details_entries(shell: Any) -> None:
    shell.workload(3)
    listing = shell.aicache("inspect")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count(f"{FN}:") == 3
    assert listing.stdout.count("workload.describe:") == 1
    assert "4 entries under aicache:default:*" in listing.stdout
    assert "$0.2500" in listing.stdout

    rows = _json(shell.aicache("inspect", "--function", FN, "--json"))
    assert len(rows) == 3
    assert {r["tier"] for r in rows} == {"file"}
    assert all(r["state"] == "fresh" and r["cost_usd"] == 0.25 for r in rows)
    assert all(0 < r["ttl_s"] <= 168 * 3600 and r["age_s"] >= 0 for r in rows)

    key = rows[0]["key"]
    detail = shell.aicache("inspect", key)
    assert detail.returncode == 0, detail.stderr
    assert key in detail.stdout and "[file]" in detail.stdout
    for label in ("age", "fresh for", "size", "cost", "call took"):
        assert f"\n  {label} " in detail.stdout

    assert len(_json(shell.aicache("inspect", "--limit", "2", "--json"))) == 2
    _one_line_error(shell.aicache("inspect", key[:-1] + "0"), 1, "no entry under")


def test_inspect_reports_a_corrupt_entry(shell: Any) -> None:
    shell.workload(1)
    key = _json(shell.aicache("inspect", "--function", FN, "--json"))[0]["key"]
    shell.env["AI_CACHE_SECRET"] = "a secret the entries were not signed with"
    rows = _json(shell.aicache("inspect", key, "--json"))
    assert rows[0]["state"].startswith("tampered")


# -- clear ----------------------------------------------------------------------------------------


def test_clear_refuses_without_a_terminal_or_yes(shell: Any) -> None:
    shell.workload(3)
    _one_line_error(shell.aicache("clear"), 2, "--yes", "not a terminal")
    assert len(_json(shell.aicache("inspect", "--json"))) == 4  # nothing deleted

    done = shell.aicache("clear", "--function", FN, "--yes")
    assert done.returncode == 0, done.stderr
    assert "3 from file" in done.stdout
    assert [r["key"].split(":")[2] for r in _json(shell.aicache("inspect", "--json"))] == [
        "workload.describe"
    ]
    done = shell.aicache("clear", "--namespace", "default", "-y")
    assert done.returncode == 0 and "1 from file" in done.stdout
    assert _json(shell.aicache("inspect", "--json")) == []


def _answer(shell: Any, reply: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``aicache clear`` with a terminal on stdin, typing ``reply``."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, reply)
        return shell.aicache("clear", *args, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)


def test_clear_asks_on_a_terminal(shell: Any) -> None:
    shell.workload(3)
    done = _answer(shell, b"n\n")
    assert done.returncode == 0, done.stderr
    assert "Delete the entries of namespace 'default' (4 in file)? [y/N]" in done.stdout
    assert "nothing deleted" in done.stdout
    assert len(_json(shell.aicache("inspect", "--json"))) == 4
    done = _answer(shell, b"y\n")
    assert done.returncode == 0 and "4 from file" in done.stdout
    assert _json(shell.aicache("inspect", "--json")) == []


def test_clear_and_inspect_on_redis_leave_foreign_keys(shell: Any, redis_server: Any) -> None:
    shell.env["REDIS_URL"] = redis_server.url
    shell.workload(3)
    r = redis.Redis.from_url(redis_server.url)
    r.set("someone-else:key", b"keep me")
    tiers = {row["tier"] for row in _json(shell.aicache("inspect", "--json"))}
    assert tiers == {"redis", "file"}

    done = shell.aicache("clear", "--yes")
    assert done.returncode == 0, done.stderr
    assert "4 from redis" in done.stdout and "4 from file" in done.stdout
    assert r.get("someone-else:key") == b"keep me"
    assert r.exists("aicache-fleet:stats:v1")  # the fleet's counters are not cache entries
    assert _json(shell.aicache("inspect", "--json")) == []


# -- usage ----------------------------------------------------------------------------------------


def test_usage_errors_exit_2(shell: Any) -> None:
    assert shell.aicache().returncode == 0  # the help
    assert shell.aicache("stats", "--bogus").returncode == 2
    assert shell.aicache("frobnicate").returncode == 2
    _one_line_error(shell.aicache("inspect", "--limit", "0"), 2, "--limit")
    _one_line_error(shell.aicache("inspect", "not-a-key"), 2, "not an aicache key")
    _one_line_error(shell.aicache("inspect", "aicache:x:y:z", "--function", FN), 2, "not both")
    _one_line_error(shell.aicache("clear", "--namespace", "a b", "--yes"), 2, "namespace")
    shell.env["AI_CACHE_TTL_HOURS"] = "soon"
    _one_line_error(shell.aicache("stats"), 2, "AI_CACHE_TTL_HOURS")
    shell.env["AI_CACHE_TTL_HOURS"] = "1"
    shell.env["AI_CACHE_BACKEND"] = "memory"
    _one_line_error(shell.aicache("inspect"), 2, "memory")


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aicache", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    for command in ("stats", "clear", "inspect", "warm", "demo", "simulate"):
        assert command in done.stdout
