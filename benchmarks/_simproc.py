"""aicache's ProviderSimulator in a process of its own, so its HTTP serving runs on the other
core instead of competing with the client being measured.

``python -m benchmarks._simproc LO HI``: prints the port, then answers ``count`` (requests so
far) and ``reset`` on stdin, and exits at EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["SimulatorProcess"]

_ROOT = Path(__file__).resolve().parent.parent


class SimulatorProcess:
    """``async with SimulatorProcess(lo, hi) as sim: sim.base_url; await sim.count()``."""

    def __init__(self, lo: float, hi: float) -> None:
        self.latency = (lo, hi)
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _ask(self, command: str) -> str:
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(command.encode() + b"\n")
        await self._proc.stdin.drain()
        return (await asyncio.wait_for(self._proc.stdout.readline(), 30)).decode().strip()

    async def count(self) -> int:
        return int(await self._ask("count"))

    async def reset(self) -> None:
        await self._ask("reset")

    async def __aenter__(self) -> SimulatorProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._simproc",
            *map(str, self.latency),
            cwd=str(_ROOT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(_ROOT)},
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        self.port = int(line)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()


async def _serve(lo: float, hi: float) -> None:
    from aicache.simulator import ProviderSimulator

    loop = asyncio.get_running_loop()
    async with ProviderSimulator(latency=(lo, hi)) as sim:
        print(sim.port, flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            if line.strip() == "count":
                print(sim.count(), flush=True)
            elif line.strip() == "reset":
                sim.reset()
                print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(_serve(float(sys.argv[1]), float(sys.argv[2])))
