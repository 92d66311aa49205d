"""The CLI and demo tell the truth (issue 10): each finding, through the real ``aicache`` script."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from aicache.simulator import ProviderSimulator

FAST = ("--latency", "0.01,0.02")
QUESTION = {
    "provider": "openai",
    "method": "chat.completions.create",
    "kwargs": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "BPM of house?"}]},
}


def _script() -> str:
    """The ``aicache`` console script installed next to this interpreter."""
    path = Path(sys.executable).parent / "aicache"
    assert path.exists(), "install the package: pip install -e '.[dev]'"
    return str(path)


def _aicache(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _warm(shell: Any, lines: list[Any]) -> subprocess.CompletedProcess[str]:
    path = shell.workdir / "requests.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines))
    async with ProviderSimulator() as sim:
        shell.env.update(OPENAI_API_KEY="sk-warm", OPENAI_BASE_URL=sim.base_url + "/v1")
        return await asyncio.to_thread(_aicache, shell.env, "warm", str(path))


# -- where entries went ---------------------------------------------------------------------------


async def test_warm_says_where_entries_went(shell: Any) -> None:
    done = await _warm(shell, [QUESTION])
    assert done.returncode == 0, done.stderr
    assert "1 stored" in done.stdout
    assert f"persisted: 1 of 1 in file ({shell.cache_dir})" in done.stdout
    assert "NOTHING PERSISTED" not in done.stdout


async def test_warm_with_memory_backend_says_nothing_persisted(shell: Any) -> None:
    shell.env["AI_CACHE_BACKEND"] = "memory"
    done = await _warm(shell, [QUESTION])
    assert done.returncode == 0, done.stderr
    assert "1 stored" in done.stdout
    assert "NOTHING PERSISTED" in done.stdout and "memory only" in done.stdout


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write to, root included: a read-only tmpfs mounted there."""
    where = tmp_path / "read-only"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


async def test_warm_with_read_only_cache_dir_says_nothing_persisted(
    shell: Any, read_only_dir: Path
) -> None:
    shell.env["AI_CACHE_DIR"] = str(read_only_dir)
    done = await _warm(shell, [QUESTION])
    assert done.returncode == 0, done.stderr
    assert "NOTHING PERSISTED" in done.stdout


async def test_warm_with_cache_dir_under_a_file_names_the_setting(shell: Any) -> None:
    blocker = shell.workdir / "a-file"
    blocker.write_text("not a directory")
    shell.env["AI_CACHE_DIR"] = str(blocker / "cache")  # a mistake in the setting
    done = await _warm(shell, [QUESTION])
    assert done.returncode != 0
    assert "AI_CACHE_DIR" in done.stderr and "is not a directory" in done.stderr


def _demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AI_CACHE_")
        and k not in ("REDIS_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
        and k != "GOOGLE_API_KEY"
    }
    return {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg"), **extra}


def _rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", ln.strip()) for ln in out.splitlines() if re.match(r"\s*\d+  ", ln)]


def test_demo_with_memory_backend_does_not_promise_hits(tmp_path: Path) -> None:
    env = _demo_env(tmp_path, AI_CACHE_BACKEND="memory")
    done = _aicache(env, "demo", "--tracks", "2", *FAST)
    assert done.returncode == 0, done.stderr
    assert "NOTHING PERSISTED" in done.stdout
    assert "Run it again" not in done.stdout
    again = _aicache(env, "demo", "--tracks", "2", *FAST)
    assert "HIT" not in {r[3] for r in _rows(again.stdout)[:2]}  # indeed nothing outlived it


def test_demo_says_run_it_again_only_when_entries_persisted(tmp_path: Path) -> None:
    env = _demo_env(tmp_path)
    done = _aicache(env, "demo", "--tracks", "2", *FAST)
    assert done.returncode == 0, done.stderr
    assert "persisted: " in done.stdout and "Run it again" in done.stdout
    again = _aicache(env, "demo", "--tracks", "2", *FAST)
    assert {r[3] for r in _rows(again.stdout)} == {"HIT"}


def test_demo_with_caching_disabled_rows_summary_and_header_agree(tmp_path: Path) -> None:
    env = _demo_env(tmp_path, AI_CACHE_ENABLED="false")
    done = _aicache(env, "demo", "--tracks", "3", *FAST)
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert len(rows) == 5 and {r[3] for r in rows} == {"CALL"}
    assert "cache:    OFF (AI_CACHE_ENABLED=false)" in done.stdout
    assert "caching is OFF (AI_CACHE_ENABLED=false), so 5 provider calls" in done.stdout
    assert "misses" not in done.stdout and "Run it again" not in done.stdout
    assert "file ->" not in done.stdout


# -- a dead Redis ---------------------------------------------------------------------------------


@pytest.fixture
def dead_redis() -> str:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_stats_with_dead_redis_shows_the_file_store(shell: Any, dead_redis: str) -> None:
    shell.workload(4)  # flushed to the file store: no Redis then
    shell.env["REDIS_URL"] = dead_redis
    done = shell.aicache("stats")
    assert done.returncode == 1
    assert "workload.classify" in done.stdout
    assert "NOT included (not reachable): redis hash" in done.stdout
    assert "not reachable" in done.stderr and "Traceback" not in done.stderr
    snap = json.loads(shell.aicache("stats", "--json").stdout)
    assert snap["hits"] == 1 and list(snap["unreachable"]) == ["redis hash aicache-fleet:stats:v1"]


def test_inspect_with_dead_redis_shows_the_file_tier(shell: Any, dead_redis: str) -> None:
    shell.workload(3)
    shell.env["REDIS_URL"] = dead_redis
    done = shell.aicache("inspect", "--namespace", "default")
    assert done.returncode == 1
    assert "4 entries under aicache:default:*" in done.stdout
    assert done.stderr.startswith("aicache inspect: not reachable, left out: redis:")
    rows = json.loads(shell.aicache("inspect", "--json").stdout)
    assert {r["tier"] for r in rows} == {"file"} and len(rows) == 4


def test_clear_with_dead_redis_clears_the_file_tier_and_names_redis(
    shell: Any, dead_redis: str
) -> None:
    shell.workload(3)
    shell.env["REDIS_URL"] = dead_redis
    done = shell.aicache("clear", "--yes")
    assert done.returncode == 1
    assert "4 from file; NOT from redis" in done.stdout
    assert "not reachable" in done.stderr
    del shell.env["REDIS_URL"]
    assert json.loads(shell.aicache("inspect", "--json").stdout) == []


# -- the command line itself ----------------------------------------------------------------------


def test_no_arguments_prints_the_help(shell: Any) -> None:
    done = _aicache(shell.env)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: aicache")
    for command in ("stats", "clear", "inspect", "warm", "demo", "simulate"):
        assert command in done.stdout


def test_version(shell: Any) -> None:
    import aicache

    done = _aicache(shell.env, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"aicache {aicache.__version__}"


def test_bad_flag_prints_the_subcommands_usage(shell: Any) -> None:
    done = _aicache(shell.env, "inspect", "--bogus")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: aicache inspect")
    assert "unrecognized arguments: --bogus" in done.stderr
    done = _aicache(shell.env, "demo", "--tracks", "x")
    assert done.stderr.startswith("usage: aicache demo")


def test_bad_flag_value_names_the_flag(shell: Any) -> None:
    done = _aicache(shell.env, "stats", "--redis", "localhost:6379")
    assert done.returncode == 2
    assert done.stderr.startswith("aicache stats: --redis 'localhost:6379' is not usable")
    assert "REDIS_URL" not in done.stderr and "redis_url" not in done.stderr
    done = _aicache(shell.env, "clear", "--namespace", "a b", "--yes")
    assert done.returncode == 2 and "--namespace 'a b'" in done.stderr
    assert "AI_CACHE_NAMESPACE" not in done.stderr


def test_inspect_formats_every_duration(shell: Any) -> None:
    shell.workload(1)
    key = json.loads(shell.aicache("inspect", "--json").stdout)[0]["key"]
    done = shell.aicache("inspect", key)
    assert done.returncode == 0, done.stderr
    fields = dict(
        re.split(r"\s{2,}", line.strip(), maxsplit=1)
        for line in done.stdout.splitlines()[1:]
        if line.startswith("  ")
    )
    for label in ("age", "fresh for", "servable for", "call took"):
        assert re.fullmatch(r"-?\d+(\.\d)?(ms|s|m|h|d)", fields[label]), (label, fields[label])


def test_stats_json_rounds_money_to_the_micro_dollar(shell: Any) -> None:
    script = """
import asyncio, aicache

@aicache.ai_cached(cost=0.1, name="money.third")
async def third(n):
    return n

async def main():
    for n in range(3):
        await third(n)
        await third(n)
    await aicache.close()

asyncio.run(main())
"""
    shell.python(script)
    text = shell.aicache("stats", "--json").stdout
    snap = json.loads(text)
    fn = snap["functions"]["money.third"]
    assert fn["cost_saved_usd"] == 0.3 and fn["cost_spent_usd"] == 0.3  # 0.1 + 0.1 + 0.1
    for figure in re.findall(r'"\w+_usd": (-?[\d.e-]+)', text):
        assert len(figure.partition(".")[2]) <= 6, figure


def test_inspect_without_namespace_lists_the_namespaces_holding_entries(shell: Any) -> None:
    shell.workload(3)  # namespace "default"
    shell.python(
        "import asyncio, aicache\n"
        "@aicache.ai_cached(namespace='other', name='w.f')\n"
        "async def f(n):\n    return n\n"
        "async def main():\n    await f(1); await f(2); await aicache.close()\n"
        "asyncio.run(main())\n"
    )
    done = shell.aicache("inspect")
    assert done.returncode == 0, done.stderr
    assert (
        "namespaces holding entries: default (this one): 4 in file; other: 2 in file" in done.stdout
    )
    named = shell.aicache("inspect", "--namespace", "other")
    assert "namespaces holding entries" not in named.stdout
    assert "2 entries under aicache:other:*" in named.stdout


# -- the simulator on its own ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_simulate_serves_on_the_given_port(shell: Any) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        _script(),
        "simulate",
        "--port",
        str(port),
        env=shell.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert f"listening on http://127.0.0.1:{port}" in first.decode()
        assert "SIMULATED" in first.decode()
        await asyncio.wait_for(proc.stdout.readline(), 10)
        client = openai.AsyncOpenAI(api_key="x", base_url=f"http://127.0.0.1:{port}/v1")
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "tempo?"}]
        )
        assert reply.choices[0].message.content
        await client.close()
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "simulator stopped" in out.decode()
