"""``python -m benchmarks [--quick] [--redis-url URL] [--out DIR]``: measure, then write the report.

Starts its own redis-server on a free loopback port unless ``--redis-url`` is given (the outage
family always uses a private server of its own, since it stops and freezes it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path

import aicache

from . import (
    _breakdown,
    _cluster,
    _compression,
    _hits,
    _hot,
    _keysize,
    _misses,
    _outage,
    _replay,
    _report,
    _stampede,
    _streamtimes,
)
from ._common import Env, Mode, Results
from ._machine import load_average, machine, versions
from ._peers import quiet_logs
from ._server import RedisServer

Family = Callable[[Env, Mode, Results], Awaitable[None]]
FAMILIES: dict[str, Family] = {
    "hits": _hits.run,
    "breakdown": _breakdown.run,
    "misses": _misses.run,
    "keys": _keysize.run,
    "stampede": _stampede.run,
    "outage": _outage.run,
    "replay": _replay.run,
    "cluster": _cluster.run,
    "compression": _compression.run,
    "hot": _hot.run,
    "streams": _streamtimes.run,
}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer calls: under a minute")
    size.add_argument(
        "--smoke", action="store_true", help="tiny counts: proves the script runs (seconds)"
    )
    p.add_argument("--redis-url", help="use this Redis for the hit families instead of our own")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"default: {RESULTS_DIR}")
    p.add_argument(
        "--only",
        help=f"comma-separated families to run (default: all): {', '.join(FAMILIES)}",
    )
    return p.parse_args(argv)


@contextlib.contextmanager
def _redis(url: str | None, results: Results) -> Iterator[tuple[str | None, bool]]:
    if url:
        yield url, False
        return
    try:
        server = RedisServer()
        server.start()
    except RuntimeError as exc:
        results.notes.append(f"No Redis: {exc}; Redis contenders were skipped.")
        yield None, False
        return
    try:
        yield server.url, True
    finally:
        server.stop()


async def _cleanup_redis(url: str) -> None:
    """Remove the keys this run wrote to a Redis it was given (our own server just stops)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        for pattern in ("aicache:bench*", "*benchmarks*"):
            async for key in client.scan_iter(match=pattern, count=500):
                await client.delete(key)
    finally:
        await client.aclose()


async def _run(args: argparse.Namespace) -> Path:
    mode = Mode.named("smoke" if args.smoke else "quick" if args.quick else "full")
    wanted = list(FAMILIES) if not args.only else [f.strip() for f in args.only.split(",")]
    unknown = set(wanted) - set(FAMILIES)
    if unknown:
        raise SystemExit(f"unknown families {sorted(unknown)}; choose from {list(FAMILIES)}")
    results = Results(mode, machine=machine(), versions=versions())
    quiet_logs()  # the outage family trips breakers and fails peers on purpose
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="aicache-bench-") as tmp,
        _redis(args.redis_url, results) as (url, ours),
    ):
        env = Env(Path(tmp), url, ours)
        results.machine["Redis for the hit families"] = (
            "none"
            if url is None
            else "its own redis-server on a free loopback port (no persistence)"
            if ours
            else "given with --redis-url"
        )
        # Every contender names its tiers; the configured default stays "memory" so that
        # aicache's fleet-wide stats (kept in Redis or a file for the configured chain) do not
        # count the benchmark's millions of calls into a Redis given with --redis-url.
        aicache.configure(
            aicache.CacheConfig(
                cache_dir=env.tmp / "aicache", redis_url=url, namespace="bench", backend="memory"
            )
        )
        try:
            for name in wanted:
                print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                try:
                    await FAMILIES[name](env, mode, results)
                except Exception as exc:
                    results.errors[name] = f"{type(exc).__name__}: {exc}"
                    traceback.print_exc()
                finally:
                    await aicache.close()
                results.seconds[name] = time.perf_counter() - t0
        finally:
            await aicache.close()
            aicache.configure()
            if url and not ours:
                await _cleanup_redis(url)
    results.seconds["total"] = time.perf_counter() - started
    results.machine["load average at end (1/5/15 min)"] = load_average()
    suffix = "" if mode.name == "full" else f"-{mode.name}"
    path = _report.write(results, args.out, f"{date.today().isoformat()}{suffix}")
    print(_report.summary(results))
    print(f"\nwrote {path} ({results.seconds['total']:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
