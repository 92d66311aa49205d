"""Where an aicache memory hit spends its time: each step of the hit path timed on its own.

Uses aicache's private pieces (the decorator's setup, the chain, the envelope), so it follows
their names as they change; a rename shows up as an error in this family, not a wrong figure.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from typing import Any

import aicache
from aicache import _stats
from aicache._codecs import load_value
from aicache._envelope import decode
from aicache._info import remember

from . import _workload
from ._common import Env, Mode, Results, Row
from ._timing import Contender, measure

__all__ = ["run"]


async def run(env: Env, mode: Mode, results: Results) -> None:
    req = _workload.request()
    fn: Any = aicache.ai_cached(backend="memory", name="bench_breakdown")(_workload.chat)
    await fn(**req)
    setup = fn._setup
    cache = setup.resolve()
    builder, policy = setup.builder, setup.policy
    key = builder.key((), req)
    tier = cache.chain.tiers[0]
    data = await tier.backend.get(key)
    entry = decode(key, data, cache.secret)
    value = load_value(entry.tag, entry.payload)

    # Every hit returns a new object, so remember() sees a new id each time: cycle through more
    # distinct objects than it keeps, or the step would time its cheaper update-in-place path.
    fresh_values = itertools.cycle([dict(value) for _ in range(4096)])

    def remember_new() -> None:
        remember(next(fresh_values), key, tier.name, entry.created, entry.cost, stale=False)

    def thunk() -> Any:
        return _workload.chat(**req)

    stages: list[tuple[str, Callable[[], Any], bool]] = [
        ("1 key: KeyBuilder.key (bind + orjson + sha256)", partial(builder.key, (), req), False),
        ("2 tier: MemoryBackend.get", partial(tier.backend.get, key), True),
        ("3 Chain.get (breaker + tier)", partial(cache.chain.get, key), True),
        (
            "4 envelope decode (orjson.loads + checks)",
            partial(decode, key, data, cache.secret),
            False,
        ),
        ("5 load_value (plain dict)", partial(load_value, entry.tag, entry.payload), False),
        (
            "6 stats.hit",
            partial(_stats.hit, policy.label, tier.name, entry.cost, entry.duration, None),
            False,
        ),
        ("7 cache_info remember (a new object each call)", remember_new, False),
        (
            "8 AICache.lookup (3-7 + freshness)",
            partial(cache.lookup, key, policy.label, allow_stale=True),
            True,
        ),
        ("9 AICache.call (8 + switches)", partial(cache.call, key, thunk, policy), True),
        ("10 @ai_cached call (1 + 9 + wrapper)", partial(fn, **req), True),
        (
            "11 Chain.peek (the no-await read: breaker + tier)",
            partial(cache.chain.peek, key),
            False,
        ),
        (
            "12 AICache.peek (11 + 4-7 + freshness: what a memory hit runs)",
            partial(cache.peek, key, policy.label),
            False,
        ),
    ]
    samples = await measure(
        [Contender(name, f, is_async) for name, f, is_async in stages],
        blocks=mode.blocks,
        calls=mode.calls,
    )
    for name, _, _ in stages:
        results.breakdown.append(Row(name, "stage", "memory", samples[name]))
