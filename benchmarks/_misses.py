"""Miss overhead: what a cache adds to a call it cannot answer (lookup, single-flight, store).

Each call gets arguments never seen before, so every call is a miss. The overhead is the p50 of
the cached call minus the p50 of the bare call, both timed in the same interleaved run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import aicache

from . import _workload
from ._common import Env, Mode, Results
from ._hits import aicache_tiers
from ._peers import aiocache_factory, cashews_factory
from ._timing import Contender, measure

__all__ = ["run"]

Fn = Callable[..., Coroutine[Any, Any, Any]]


def _fresh_calls(fn: Fn, start: int) -> Callable[[], Coroutine[Any, Any, Any]]:
    base = _workload.request()
    counter = itertools.count(start)

    def call() -> Coroutine[Any, Any, Any]:
        return fn(**{**base, "max_tokens": next(counter)})

    return call


async def run(env: Env, mode: Mode, results: Results) -> None:
    contenders = [Contender("bare call", _fresh_calls(_workload.chat, 0))]
    network: set[str] = set()
    for i, (tier, spec) in enumerate(aicache_tiers(env), start=1):
        fn = aicache.ai_cached(backend=spec, name=f"bench_miss_{tier}")(_workload.chat)
        name = f"aicache {tier}"
        contenders.append(Contender(name, _fresh_calls(fn, i * 10_000_000)))
        if tier == "redis" or (tier == "chain" and env.redis_url):
            network.add(name)
    closers = []
    for j, (name, (decorate, close)) in enumerate(
        [
            ("cashews mem (default, protected)", cashews_factory(None)),
            ("aiocache memory", aiocache_factory(None)),
        ],
        start=50,
    ):
        closers.append(close)
        contenders.append(Contender(name, _fresh_calls(decorate(_workload.chat), j * 10_000_000)))
    contenders = [
        Contender(c.name, c.fn, True, mode.redis_calls if c.name in network else None)
        for c in contenders
    ]
    try:
        samples = await measure(contenders, blocks=mode.blocks, calls=mode.miss_calls, warmup=5)
    finally:
        for close in closers:
            await close()
    bare = samples["bare call"]
    for c in contenders:
        s = samples[c.name]
        results.misses.append(
            {
                "name": c.name,
                "p50_us": s.p50_us,
                "p99_us": s.p99_us,
                "overhead_p50_us": s.p50_us - bare.p50_us,
                "calls": s.calls,
            }
        )
