"""Key-building cost against argument size: aicache's ``KeyBuilder.key`` and the floor."""

from __future__ import annotations

from functools import partial

from aicache._keys import KeyBuilder

from . import _workload
from ._common import Env, Mode, Results
from ._floors import floor_key
from ._timing import Contender, measure

__all__ = ["run"]


async def run(env: Env, mode: Mode, results: Results) -> None:
    builder = KeyBuilder(_workload.chat, namespace="bench")
    for size in mode.key_sizes:
        req = _workload.request(total_bytes=size)
        calls = max(10, mode.key_calls * 1024 // size)
        samples = await measure(
            [
                Contender("floor", partial(floor_key, req), is_async=False),
                Contender("aicache", partial(builder.key, (), req), is_async=False),
            ],
            blocks=mode.blocks,
            calls=calls,
            warmup=3,
        )
        floor, ours = samples["floor"], samples["aicache"]
        results.keys.append(
            {
                "bytes": _workload.size(req),
                "floor_p50_us": floor.p50_us,
                "aicache_p50_us": ours.p50_us,
                "aicache_p99_us": ours.p99_us,
                "ratio": ours.p50_ns / floor.p50_ns,
            }
        )
