"""Interleaved timing: every contender runs in every block, blocks in a fresh shuffled order.

Each call is timed on its own with ``time.perf_counter_ns`` so p99 is a per-call tail, and noise
from other processes (a 2-core machine shared with test runs) lands on all contenders alike
instead of on whichever ran during the noisy second.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Contender", "Sample", "measure", "percentile"]


@dataclass(frozen=True)
class Contender:
    """One thing to time. ``fn`` is called with no arguments; if ``is_async`` it is awaited."""

    name: str
    fn: Callable[[], Any]
    is_async: bool = True
    calls: int | None = None  # per block; None: the run's default


@dataclass(frozen=True)
class Sample:
    """Per-call nanoseconds of one contender, pooled over all blocks."""

    name: str
    p50_ns: float
    p99_ns: float
    calls: int
    blocks: int
    block_p50_spread: float  # (max - min) / median of the per-block medians: how noisy it was

    @property
    def p50_us(self) -> float:
        return self.p50_ns / 1000

    @property
    def p99_us(self) -> float:
        return self.p99_ns / 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted ``values`` (``q`` in 0..100)."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(q / 100 * len(values) + 0.5)))
    return float(values[rank - 1])


async def _block_async(fn: Callable[[], Awaitable[Any]], calls: int, out: list[int]) -> None:
    clock = time.perf_counter_ns
    append = out.append
    for _ in range(calls):
        t0 = clock()
        await fn()
        append(clock() - t0)


def _block_sync(fn: Callable[[], Any], calls: int, out: list[int]) -> None:
    clock = time.perf_counter_ns
    append = out.append
    for _ in range(calls):
        t0 = clock()
        fn()
        append(clock() - t0)


async def _run_block(c: Contender, calls: int, out: list[int]) -> None:
    if c.is_async:
        await _block_async(c.fn, calls, out)
    else:
        _block_sync(c.fn, calls, out)


async def measure(
    contenders: Sequence[Contender],
    *,
    blocks: int,
    calls: int,
    warmup: int = 50,
    seed: int = 7,
) -> dict[str, Sample]:
    """Time ``calls`` calls (or the contender's own count) of each contender per block,
    ``blocks`` times, in a new shuffled order each block."""
    rng = random.Random(seed)
    for c in contenders:
        await _run_block(c, min(warmup, c.calls or warmup), [])
    per_block: dict[str, list[list[int]]] = {c.name: [] for c in contenders}
    order = list(contenders)
    # Each block starts with no garbage left by the previous one. The objects alive now (the
    # SDKs, the contenders) are frozen out of the collector, so those collections stay cheap.
    gc.collect()
    gc.freeze()
    try:
        for _ in range(blocks):
            rng.shuffle(order)
            for c in order:
                gc.collect()
                out: list[int] = []
                await _run_block(c, c.calls or calls, out)
                per_block[c.name].append(out)
    finally:
        gc.unfreeze()
    return {name: _summarise(name, runs) for name, runs in per_block.items()}


def _summarise(name: str, runs: list[list[int]]) -> Sample:
    pooled = sorted(ns for run in runs for ns in run)
    medians = [percentile(sorted(run), 50) for run in runs if run]
    mid = percentile(sorted(medians), 50) if medians else float("nan")
    spread = (max(medians) - min(medians)) / mid if medians and mid > 0 else 0.0
    return Sample(
        name=name,
        p50_ns=percentile(pooled, 50),
        p99_ns=percentile(pooled, 99),
        calls=len(pooled),
        blocks=len(runs),
        block_p50_spread=spread,
    )
