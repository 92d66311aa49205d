"""Streams: a replayed stream's time to its first and last chunk against the provider's.

The simulator streams with its default gaps between chunks (10-30 ms); a hit replays the
recorded events at once, through the SDK's own parser. Measured through the real OpenAI SDK,
async and sync, as the median of several rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._common import Env, Mode, Results, has_module

__all__ = ["run"]

MESSAGES = [{"role": "user", "content": "Describe the groove of this track."}]


async def _times_async(stream: AsyncIterator[Any], began: float) -> tuple[float, float]:
    first = last = 0.0
    async for _chunk in stream:
        last = time.perf_counter() - began
        first = first or last
    return first, last


def _times_sync(stream: Iterator[Any], began: float) -> tuple[float, float]:
    first = last = 0.0
    for _chunk in stream:
        last = time.perf_counter() - began
        first = first or last
    return first, last


def _row(name: str, runs: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "name": name,
        "first_ms": statistics.median(r[0] for r in runs) * 1000,
        "last_ms": statistics.median(r[1] for r in runs) * 1000,
        "rounds": len(runs),
    }


async def run(env: Env, mode: Mode, results: Results) -> None:
    if not (has_module("openai") and has_module("aicache.providers")):
        results.notes.append("streams: skipped (openai not installed)")
        return
    import openai

    from aicache.providers import cached_client
    from aicache.simulator import ProviderSimulator

    rounds = max(3, mode.blocks)
    key = "sk-bench-not-a-key"
    with ProviderSimulator() as sim:  # its own thread: the sync client may block this one
        url = sim.base_url + "/v1"
        raw: Any = openai.AsyncOpenAI(api_key=key, base_url=url, max_retries=0)
        cached: Any = cached_client(raw, backend="memory", namespace="bench-streams")
        sync_cached: Any = cached_client(
            openai.OpenAI(api_key=key, base_url=url, max_retries=0),
            backend="memory",
            namespace="bench-streams",
        )
        provider, hit, sync_hit = [], [], []
        for i in range(rounds):
            ask = {"model": "gpt-4o-mini", "messages": MESSAGES, "seed": i, "stream": True}
            began = time.perf_counter()
            provider.append(await _times_async(await raw.chat.completions.create(**ask), began))
            began = time.perf_counter()
            await _times_async(await cached.chat.completions.create(**ask), began)  # records
            await asyncio.sleep(0.05)  # the pump stores just after its consumer is served
            began = time.perf_counter()
            hit.append(await _times_async(await cached.chat.completions.create(**ask), began))
            began = time.perf_counter()
            sync_hit.append(_times_sync(sync_cached.chat.completions.create(**ask), began))
        await raw.close()
    results.streams += [
        _row("provider (simulator, default chunk gaps)", provider),
        _row("aicache hit, AsyncOpenAI", hit),
        _row("aicache hit, sync OpenAI", sync_hit),
    ]
