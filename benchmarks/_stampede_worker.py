"""One process of the cross-process stampede: warms up and prints ``{"cold_wall_s"}``, waits for
``go`` on stdin, makes its calls, and prints ``{"ran", "errors", "kinds", "logged"}`` as JSON
(``logged``: warnings the cache logged in this process, warm-up included).

``python -m benchmarks._stampede_worker URL aicache|cashews N DELAY VARIANT CACHE_DIR``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from ._peers import logged, messages, quiet_logs
from ._stampede import Prepared

Fn = Callable[..., Coroutine[Any, Any, Any]]


async def _main(url: str, lib: str, n: int, delay: float, variant: int, cache_dir: Path) -> None:
    quiet_logs()
    closers: list[Callable[[], Awaitable[None]]] = []
    decorate: Callable[[Fn], Fn]
    if lib == "aicache":
        import aicache

        aicache.configure(
            aicache.CacheConfig(
                redis_url=url, cache_dir=cache_dir, namespace="bench", lock=True, backend="memory"
            )
        )

        def decorate_aicache(fn: Fn) -> Fn:
            wrapped: Fn = aicache.ai_cached(backend="redis", lock=True, name="bench_xproc")(fn)
            return wrapped

        decorate = decorate_aicache
        closers.append(aicache.close)
    else:
        from ._peers import cashews_factory

        decorate, close = cashews_factory(url, lock=True)
        closers.append(close)
    prepared = Prepared(decorate, delay, variant)
    cold = await prepared.warm(variant + 100_000 + os.getpid(), n)
    print(json.dumps({"cold_wall_s": cold}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    out = await prepared.fire(n)
    out["logged"] = logged(lib)
    out["messages"] = messages(lib)
    print(
        json.dumps(
            {
                k: out[k]
                for k in ("ran", "errors", "kinds", "logged", "messages", "started_s", "fan_out_s")
            }
        ),
        flush=True,
    )
    for close in closers:
        await close()


if __name__ == "__main__":
    url, lib, n, delay, variant, cache_dir = sys.argv[1:7]
    asyncio.run(_main(url, lib, int(n), float(delay), int(variant), Path(cache_dir)))
