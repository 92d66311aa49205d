"""``aicache demo`` as a user runs it: twice, in a fresh cache directory, no API key, no Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FAST = ("--latency", "0.05,0.1")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AI_CACHE_")
        and k not in ("REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
        and k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    }
    # The user's default cache directory: $XDG_CACHE_HOME/aicache.
    return {**clean, "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def aicache(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aicache", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(out: str) -> list[list[str]]:
    """The demo table's rows: ``[#, track, analysis, result, tier, latency, saved, answer]``."""
    return [
        re.split(r"\s{2,}", line.strip())
        for line in out.splitlines()
        if re.match(r"\s*\d+  ", line)
    ]


def demo(env: dict[str, str], *args: str) -> tuple[str, list[list[str]]]:
    done = aicache(env, "demo", *FAST, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout, rows(done.stdout)


def test_second_run_is_all_hits_from_the_file_tier(env: dict[str, str], tmp_path: Path) -> None:
    out, first = demo(env, "--tracks", "4")
    assert "SIMULATED provider" in out
    assert f"file tier in {tmp_path / 'xdg' / 'aicache'}" in out
    assert len(first) == 7  # 4 tracks, 2 of them again, 1 re-extracted
    assert [r[3] for r in first[:4]] == ["MISS"] * 4
    assert all(r[3] == "HIT" for r in first[4:])  # repeats within the run already hit
    assert "4 misses" in out and "Run it again" in out

    out, second = demo(env, "--tracks", "4")
    assert len(second) == 7
    assert {(r[3], r[4]) for r in second} == {("HIT", "file")}
    assert [r[7] for r in second] == [r[7] for r in first]  # the same answers
    assert "7 hits, 0 misses (hit rate 100.0%)" in out
    saved = re.search(r"saved: (\S+) of provider time and \$(\S+); spent \$0\.0000", out)
    assert saved is not None, out
    assert saved.group(1) != "0.0ms" and float(saved.group(2).rstrip(";")) > 0

    stats = json.loads(aicache(env, "stats", "--json").stdout)
    model = stats["models"]["openai/gpt-4o"]
    assert (model["hits"], model["misses"]) == (10, 4)  # both runs, seen from a third process

    out, third = demo(env, "--tracks", "4", "--fresh")
    assert "--fresh: removed 4 cached entries" in out
    assert [r[3] for r in third[:4]] == ["MISS"] * 4


def test_demo_on_redis(env: dict[str, str], redis_server: Any) -> None:
    demo(env, "--tracks", "2", "--redis", redis_server.url)
    out, second = demo(env, "--tracks", "2", "--redis", redis_server.url)
    assert "redis -> file -> memory" in out
    assert {(r[3], r[4]) for r in second} == {("HIT", "redis")}


def test_demo_usage_errors(env: dict[str, str]) -> None:
    for args, word in (
        (("--tracks", "0"), "--tracks"),
        (("--tracks", "11"), "--tracks"),
        (("--latency", "slow"), "--latency"),
        (("--latency", "5,2"), "--latency"),
        (("--concurrency", "0"), "--concurrency"),
        (("--live",), "API key"),
    ):
        done = aicache(env, "demo", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert word in done.stderr and "Traceback" not in done.stderr
