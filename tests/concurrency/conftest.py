"""Fixtures for the concurrency tests: a tier per test, a raw Redis client, a gated function."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

import aicache

#: Timeouts for tests about coalescing, not about timeouts: on a starved 2-core machine the
#: 0.1 s default can expire, open the tier's breaker and turn the test into a fault test.
PATIENT = {"redis_timeout": 2.0, "redis_connect_timeout": 2.0}


@pytest.fixture(params=["memory", "file", "redis"])
def tier(request: pytest.FixtureRequest) -> str:
    """A tier name; for ``redis`` a real server of this test's own is configured."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        aicache.configure(redis_url=server.url, **PATIENT)
    name: str = request.param
    return name


@pytest.fixture
async def raw(redis_server: Any) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the test's server: the attacker's (or the operator's) hands."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


class Gated:
    """An async function that counts its runs and holds each run until :meth:`open` is called."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.runs = 0
        self.cancelled = 0
        self.fail = fail
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    def open(self) -> None:
        self.gate.set()

    async def __call__(self, question: str) -> dict[str, Any]:
        self.runs += 1
        run = self.runs
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail is not None:
            raise self.fail
        return {"question": question, "run": run, "nested": {"list": [1, 2, 3]}}


async def settle(rounds: int = 5) -> None:
    """Let every ready task run up to its next real wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)
