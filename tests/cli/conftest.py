"""Running ``python -m aicache`` and small workloads as real subprocesses in a temp cache dir."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TIMEOUT = 120

WORKLOAD = """
import asyncio, sys
import aicache

@aicache.ai_cached(cost=0.25, name="workload.classify")
async def classify(n):
    await asyncio.sleep(0.01)
    return {"genre": ["house", "techno", "ambient"][n % 3], "n": n}

@aicache.ai_cached(name="workload.describe")
async def describe(text):
    return text.upper()

async def main(calls):
    for n in range(calls):
        await classify(n % 3)
    await describe("once")
    await aicache.close()

asyncio.run(main(int(sys.argv[1])))
"""


@dataclass
class Shell:
    """Runs commands with a clean aicache environment of its own."""

    env: dict[str, str]
    cache_dir: Path
    workdir: Path

    def aicache(
        self, *args: str, stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aicache", *args],
            env=self.env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def python(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        path = self.workdir / "script.py"
        path.write_text(script)
        done = subprocess.run(
            [sys.executable, str(path), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done

    def workload(self, calls: int) -> None:
        self.python(WORKLOAD, str(calls))


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AI_CACHE_") and k != "REDIS_URL"
    }
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(var, None)
    cache_dir = tmp_path / "cache"
    env["AI_CACHE_DIR"] = str(cache_dir)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    work = tmp_path / "work"
    work.mkdir()
    return Shell(env, cache_dir, work)
