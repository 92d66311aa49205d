"""Stampede: many concurrent identical calls on an empty cache. How many real calls ran, how long.

In-process: ``n`` tasks in one event loop. Cross-process: ``processes`` workers sharing one Redis,
``n / processes`` tasks each, started together (see ``_stampede_worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

import aicache

from . import _workload
from ._common import Env, Mode, Results, has_module
from ._floors import floor_decorator
from ._peers import aiocache_factory, cashews_factory, logged, messages

__all__ = ["Calls", "Prepared", "run", "slow_call", "stampede"]

_ROOT = Path(__file__).resolve().parent.parent

Fn = Callable[..., Coroutine[Any, Any, Any]]
Decorate = Callable[[Fn], Fn]


class Calls:
    """How often the slow call really ran, when the first started and the last returned."""

    def __init__(self) -> None:
        self.count = 0
        self.first_start = 0.0
        self.last_end = 0.0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


def slow_call(delay: float, calls: Calls) -> Fn:
    """A call that takes ``delay`` seconds and records each real run in ``calls``."""

    async def chat(
        model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int
    ) -> dict[str, Any]:
        if not calls.count:
            calls.first_start = time.perf_counter()
        calls.count += 1
        await asyncio.sleep(delay)
        out: dict[str, Any] = orjson.loads(_workload.RESULT_BYTES)
        calls.last_end = time.perf_counter()
        return out

    return chat


class Prepared:
    """A decorated slow call, warmed up (connections open) on other arguments, ready to fire."""

    def __init__(self, decorate: Decorate, delay: float, variant: int) -> None:
        self.calls = Calls()
        self.fn = decorate(slow_call(delay, self.calls))
        self.variant = variant

    async def warm(self, warm_variant: int, n: int) -> float:
        """A first burst of ``n`` callers on other arguments: opens the connections a burst
        needs and warms the code paths. Returns its wall time (a cold start's).

        Then a full garbage collection, so that the measured burst starts from a collected heap:
        otherwise the collection that the earlier families' garbage is due (80 ms after the hits
        family) lands in whichever contender's burst crosses the collector's threshold."""
        req = _workload.request(variant=warm_variant)
        t0 = time.perf_counter()
        await asyncio.gather(*(self.fn(**req) for _ in range(n)), return_exceptions=True)
        wall = time.perf_counter() - t0
        self.calls.reset()
        gc.collect()
        return wall

    async def fire(self, n: int) -> dict[str, Any]:
        """``n`` concurrent identical calls; what ran, how long, what failed."""
        req = _workload.request(variant=self.variant)
        expected = orjson.loads(_workload.RESULT_BYTES)
        t0 = time.perf_counter()
        out = await asyncio.gather(*(self.fn(**req) for _ in range(n)), return_exceptions=True)
        end = time.perf_counter()
        wall = end - t0
        calls = self.calls
        errors = [o for o in out if isinstance(o, BaseException)]
        wrong = sum(1 for o in out if not isinstance(o, BaseException) and o != expected)
        kinds = sorted({type(e).__name__ for e in errors})
        return {
            "ran": calls.count,
            "wall_s": wall,
            # When the (first) real call started, and how long the callers took to get their
            # answers after the (last) one returned: the cache's own cost before and after.
            "started_s": calls.first_start - t0 if calls.count else float("nan"),
            "fan_out_s": end - calls.last_end if calls.count else float("nan"),
            "errors": len(errors) + wrong,
            "kinds": kinds,
        }


async def stampede(decorate: Decorate, n: int, delay: float, variant: int) -> dict[str, Any]:
    prepared = Prepared(decorate, delay, variant)
    cold = await prepared.warm(variant + 100_000, n)
    out = await prepared.fire(n)
    out["cold_wall_s"] = cold
    return out


async def _one_call(delay: float) -> float:
    """The median time of one bare call, alone."""
    fn = slow_call(delay, Calls())
    req = _workload.request()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        await fn(**req)
        times.append(time.perf_counter() - t0)
    return sorted(times)[2]


def _aicache(spec: str, tag: str) -> Decorate:
    def decorate(fn: Fn) -> Fn:
        wrapped: Fn = aicache.ai_cached(backend=spec, name=f"bench_stampede_{tag}")(fn)
        return wrapped

    return decorate


async def _cross_process(
    env: Env, lib: str, processes: int, n: int, delay: float, variant: int
) -> dict[str, Any]:
    """``processes`` workers, ``n // processes`` calls each, released at once through stdin."""
    assert env.redis_url is not None
    root = str(_ROOT)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._stampede_worker",
            env.redis_url,
            lib,
            str(n // processes),
            str(delay),
            str(variant),
            str(env.tmp / "xproc"),
            cwd=root,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": root},
        )
        for _ in range(processes)
    ]
    readies: list[dict[str, Any]] = []
    try:
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.wait_for(p.stdout.readline(), 60)
            if not line.startswith(b"{"):
                raise RuntimeError(f"stampede worker did not start: {line!r}")
            readies.append(json.loads(line))
        t0 = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
        await asyncio.gather(*(p.stdin.drain() for p in procs if p.stdin))
        cold = max(r["cold_wall_s"] for r in readies)
        reports = [
            json.loads(await asyncio.wait_for(p.stdout.readline(), 120)) for p in procs if p.stdout
        ]
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
            await p.wait()
    return {
        "ran": sum(r["ran"] for r in reports),
        "wall_s": wall,
        "errors": sum(r["errors"] for r in reports),
        "logged": sum(r["logged"] for r in reports),
        "messages": sorted({m for r in reports for m in r["messages"]}),
        # in the worker whose call ran (others joined it across processes)
        "started_s": min((r["started_s"] for r in reports if r["ran"]), default=float("nan")),
        "fan_out_s": float("nan"),
        "cold_wall_s": cold,
        "kinds": sorted({k for r in reports for k in r["kinds"]}),
    }


async def run(env: Env, mode: Mode, results: Results) -> None:
    n, delay = mode.stampede_n, mode.stampede_delay
    one = await _one_call(delay)
    version = ".".join(map(str, sys.version_info[:2]))
    results.notes.append(
        f"Stampede: this run's Python {version} "
        + (
            "starts the leader's call at once (an eager task)."
            if sys.version_info >= (3, 12)
            else "starts the leader's call on the loop's next turn, after every caller of the "
            "burst has joined (eager tasks need Python 3.12+)."
        )
    )
    results.notes.append(
        "Stampede: each measured burst starts after a full garbage collection (at the end of its "
        "warm-up burst), so that no contender pays for the garbage earlier families left."
    )
    cases: list[tuple[str, str, Callable[[int], Awaitable[dict[str, Any]]]]] = []

    def local(decorate: Decorate) -> Callable[[int], Awaitable[dict[str, Any]]]:
        return lambda variant: stampede(decorate, n, delay, variant)

    closers: list[Callable[[], Awaitable[None]]] = []

    def peer(factory: tuple[Decorate, Callable[[], Awaitable[None]]]) -> Decorate:
        closers.append(factory[1])
        return factory[0]

    cases.append(("hand-written decorator (floor)", "in-process", local(_floor)))
    cases.append(("aicache memory", "in-process", local(_aicache("memory", "memory"))))
    if env.redis_url and has_module("aicache.backends._redis"):
        cases.append(("aicache redis", "in-process", local(_aicache("redis", "redis"))))
    cases.append(("cashews mem (default)", "in-process", local(peer(cashews_factory(None)))))
    cases.append(("aiocache memory", "in-process", local(peer(aiocache_factory(None)))))
    if env.redis_url:
        url = env.redis_url
        cases.append(("cashews redis (default)", "in-process", local(peer(cashews_factory(url)))))
        cases.append(("aiocache redis", "in-process", local(peer(aiocache_factory(url)))))
        if mode.name != "smoke":
            procs = 4
            how = f"{procs} processes x {n // procs}"
            if has_module("aicache.backends._redis_lease"):
                cases.append(
                    (
                        "aicache redis lock=True",
                        how,
                        lambda v: _cross_process(env, "aicache", procs, n, delay, v),
                    )
                )
            else:
                results.notes.append(
                    "Stampede across processes (aicache lock=True) not measured: "
                    "aicache.backends._redis_lease is not in this checkout yet."
                )
            cases.append(
                (
                    "cashews redis lock=True",
                    how,
                    lambda v: _cross_process(env, "cashews", procs, n, delay, v),
                )
            )
    try:
        for i, (name, how, case) in enumerate(cases):
            lib = name.split()[0]
            before, said = logged(lib), messages(lib)
            row = await case(7000 + i)
            row.setdefault("logged", logged(lib) - before)
            now = messages(lib)
            row.setdefault("messages", sorted(m for m in now if now[m] > said.get(m, 0)))
            if row["messages"]:
                results.notes.append(
                    f"Stampede, {name} ({how}): the cache logged {row['logged']:,} records, e.g. "
                    + "; ".join(f"`{m[:90]}...`" for m in row["messages"][:2])
                )
            row.update(name=name, how=how, n=n, one_call_s=one)
            row["ratio"] = row["wall_s"] / one
            results.stampede.append(row)
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()


def _floor(fn: Fn) -> Fn:
    return floor_decorator(fn, fresh=False)
