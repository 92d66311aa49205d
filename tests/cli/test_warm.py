"""``aicache warm``: recorded requests replayed through real SDK clients into the shared tiers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import aicache
from aicache import _fleet
from aicache.cli import main
from aicache.simulator import ProviderSimulator

RECORDED = [
    {
        "provider": "openai",
        "method": "chat.completions.create",
        "kwargs": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Genre of 124 BPM in A minor?"}],
        },
    },
    {
        "provider": "anthropic",
        "method": "messages.create",
        "kwargs": {
            "model": "claude-haiku-4-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Mood of a 68 BPM piano piece?"}],
        },
    },
    {
        "provider": "gemini",
        "method": "models.generate_content",  # as recorded from the sync surface
        "kwargs": {"model": "gemini-2.5-flash", "contents": "Camelot key of E major?"},
    },
    {
        "provider": "openai",
        "method": "embeddings.create",
        "kwargs": {"model": "text-embedding-3-small", "input": "deep house, 124 BPM"},
    },
]

# A later process asking one of the warmed questions through its own cached client.
ASK = """
import asyncio, sys
import aicache, openai
from aicache.providers import cached_client

async def main():
    client = cached_client(openai.AsyncOpenAI())
    reply = await client.chat.completions.create(**__import__("json").loads(sys.argv[1]))
    info = aicache.cache_info(reply)
    print(info.hit, info.tier)
    await aicache.close()

asyncio.run(main())
"""


def write_jsonl(path: Path, lines: list[Any]) -> str:
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n\n")
    return str(path)


async def _run(shell: Any, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=shell.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def run_aicache(shell: Any, *args: str) -> tuple[int, str, str]:
    return await _run(shell, "-m", "aicache", *args)


def point_at(shell: Any, sim: ProviderSimulator) -> None:
    shell.env.update(
        OPENAI_API_KEY="sk-warm",
        OPENAI_BASE_URL=sim.base_url + "/v1",
        ANTHROPIC_API_KEY="sk-ant-warm",
        ANTHROPIC_BASE_URL=sim.base_url,
        GEMINI_API_KEY="gemini-warm",
        GOOGLE_GEMINI_BASE_URL=sim.base_url,
    )


async def test_warm_then_every_process_hits(shell: Any) -> None:
    async with ProviderSimulator(latency=0.02) as sim:
        point_at(shell, sim)
        path = write_jsonl(shell.workdir / "requests.jsonl", RECORDED)
        code, out, err = await run_aicache(shell, "warm", path, "--concurrency", "2")
        assert code == 0, err
        assert f"warmed 4 requests from {path}: 4 stored" in out
        assert sim.count() == 4

        code, out, err = await run_aicache(shell, "warm", path)
        assert code == 0, err
        assert "4 already cached; spent $0.0000" in out
        assert sim.count() == 4  # nothing was asked again

        code, out, err = await _run(shell, "-c", ASK, json.dumps(RECORDED[0]["kwargs"]))
        assert code == 0, err
        assert out.split() == ["True", "file"]
        assert sim.count() == 4

        fleet = _fleet.read(aicache.CacheConfig(cache_dir=shell.cache_dir)).snapshot
        assert fleet["providers"]["gemini"]["stores"] == 1
        assert fleet["providers"]["anthropic"]["hits"] == 1
        assert fleet["providers"]["openai"]["hits"] == 3  # 2 warm runs + the later process


async def test_warm_into_redis_with_a_failure(shell: Any, redis_server: Any) -> None:
    async with ProviderSimulator() as sim:
        point_at(shell, sim)
        path = write_jsonl(shell.workdir / "requests.jsonl", [RECORDED[0], RECORDED[3]])
        sim.fail_next(10, status=400)  # not transient: no retry, the request fails
        code, out, err = await run_aicache(shell, "warm", path, "--redis", redis_server.url)
        assert code == 1
        assert "2 failed" in out
        assert err.count("failed line") == 2
        assert err.strip().splitlines()[-1] == "aicache warm: error: 2 of 2 requests failed"

        sim.reset()
        code, out, err = await run_aicache(shell, "warm", path, "--redis", redis_server.url)
        assert code == 0, err
        assert "2 stored" in out and sim.count() == 2
        code, out, err = await run_aicache(
            shell, "warm", path, "--redis", redis_server.url, "--refresh"
        )
        assert code == 0 and "2 stored" in out
        assert sim.count() == 4  # asked again despite the entries
        code, out, err = await run_aicache(shell, "inspect", "--json", "--redis", redis_server.url)
        rows = json.loads(out)
        assert {r["tier"] for r in rows} == {"redis", "file"}
        assert {r["model"] for r in rows} == {"gpt-4o-mini", "text-embedding-3-small"}


def test_bad_files_are_usage_errors(
    shell: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cases: list[tuple[list[Any] | bytes, str]] = [
        (b'{"provider": "openai"', ":1: not JSON"),
        ([[1, 2]], ":1: each line must be a JSON object"),
        ([{"provider": "mistral", "method": "x", "kwargs": {}}], ":1: provider must be one of"),
        ([RECORDED[0], {"provider": "openai", "kwargs": {}}], ":2: method must name"),
        ([{"provider": "openai", "method": "chat.completions.create"}], ":1: kwargs must be"),
        ([{**RECORDED[0], "ttl": 5}], ":1: unknown fields ['ttl']"),
        ([{**RECORDED[0], "method": "models.list"}], ":1: openai method 'models.list' is not"),
        (b"\n\n", "holds no requests"),
    ]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")
    for i, (content, message) in enumerate(cases):
        path = shell.workdir / f"bad{i}.jsonl"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            write_jsonl(path, content)
        assert main(["warm", str(path)]) == 2, message
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    # The same as a user sees it.
    done = subprocess.run(
        [sys.executable, "-m", "aicache", "warm", str(shell.workdir / "missing.jsonl")],
        env=shell.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "cannot read" in done.stderr
    assert "Traceback" not in done.stderr
