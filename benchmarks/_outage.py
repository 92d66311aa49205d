"""Outage: what each cache adds to a call while its Redis is down, refused or hung.

A private redis-server is started for each scenario, whatever ``--redis-url`` says, because
this family stops it (connections refused) or freezes it with SIGSTOP (connections accepted,
nothing answered). Each contender makes the same call again and again; the added latency is a
call's time minus the bare call's p50. Peers left at their default timeouts hang for seconds per
call, so they make only a few calls, concurrently with each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aicache

from . import _workload
from ._common import Env, Mode, Results, has_module
from ._peers import aiocache_factory, cashews_factory
from ._server import RedisServer
from ._timing import percentile

__all__ = ["run"]

Fn = Callable[..., Coroutine[Any, Any, Any]]


async def _calls(fn: Fn, count: int, bare_ns: float) -> dict[str, Any]:
    """``count`` identical calls; the first alone, the rest as p50/p99 of the added time."""
    req = _workload.request()
    times: list[float] = []
    errors: set[str] = set()
    for _ in range(count):
        t0 = time.perf_counter_ns()
        try:
            await fn(**req)
        except Exception as exc:
            errors.add(type(exc).__name__)
        times.append(max(0.0, time.perf_counter_ns() - t0 - bare_ns) / 1e6)
    first, rest = times[0], sorted(times[1:]) or [times[0]]
    return {
        "first_ms": first,
        "added_p50_ms": percentile(rest, 50),
        "added_p99_ms": percentile(rest, 99),
        "calls": count,
        "errors": ", ".join(sorted(errors)),
    }


async def _bare_ns() -> float:
    req = _workload.request()
    times = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        await _workload.chat(**req)
        times.append(time.perf_counter_ns() - t0)
    return percentile(sorted(times), 50)


def _contenders(
    url: str, mode: Mode, hung: bool
) -> tuple[list[tuple[str, str, Fn, int]], list[Callable[[], Awaitable[None]]]]:
    """``(name, settings, fn, calls)`` for each cache on ``url``, and how to close them."""
    out: list[tuple[str, str, Fn, int]] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    fn: Fn = aicache.ai_cached(backend="redis", name="bench_outage")(_workload.chat)
    config = aicache.get_config()
    # The peers get aicache's own per-operation and connect timeouts, to be fair.
    timeout, connect = config.redis_timeout, config.redis_connect_timeout
    out.append(
        (
            "aicache redis",
            f"timeout {config.redis_timeout * 1000:.0f} ms, breaker cooldown {config.cooldown:g} s",
            fn,
            mode.outage_calls * 10,
        )
    )
    bounded = [
        (
            "cashews redis",
            f"socket_timeout={timeout:g}",
            cashews_factory(url, socket_timeout=timeout, socket_connect_timeout=connect),
        ),
        (
            "aiocache redis",
            f"timeout={timeout:g}",
            aiocache_factory(url, timeout=timeout, create_connection_timeout=connect),
        ),
    ]
    defaults = [
        ("cashews redis", "defaults (socket_timeout=1)", cashews_factory(url)),
        ("aiocache redis", "defaults (timeout=5)", aiocache_factory(url)),
    ]
    for name, settings, (decorate, close) in bounded:
        closers.append(close)
        out.append((name, settings, decorate(_workload.chat), mode.outage_calls))
    if hung and mode.hang_calls:
        for name, settings, (decorate, close) in defaults:
            closers.append(close)
            out.append((name, settings, decorate(_workload.chat), mode.hang_calls))
    elif not hung:
        for name, settings, (decorate, close) in defaults:
            closers.append(close)
            out.append((name, settings, decorate(_workload.chat), mode.outage_calls))
    return out, closers


async def _scenario(mode: Mode, results: Results, hung: bool, bare_ns: float) -> None:
    scenario = "hung (SIGSTOP)" if hung else "refused (stopped)"
    with RedisServer() as server:
        aicache.configure(redis_url=server.url)
        contenders, closers = _contenders(server.url, mode, hung)
        req = _workload.request()
        try:
            for _, _, fn, _ in contenders:  # connect and store while the server is up
                await fn(**req)
                await fn(**req)
            if hung:
                server.pause()
            else:
                server.stop()
            # aicache alone first: its per-call cost is microseconds and must not share the loop
            ours = await _calls(contenders[0][2], contenders[0][3], bare_ns)
            theirs = await asyncio.gather(
                *(_calls(fn, calls, bare_ns) for _, _, fn, calls in contenders[1:])
            )
            for (name, settings, _, _), row in zip(contenders, [ours, *theirs], strict=True):
                row.update(name=name, scenario=scenario, settings=settings)
                results.outage.append(row)
        finally:
            server.resume()
            for close in closers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(close(), 5)
            await aicache.close()


async def run(env: Env, mode: Mode, results: Results) -> None:
    if not has_module("aicache.backends._redis"):
        results.notes.append("Outage not measured: aicache has no Redis tier in this checkout.")
        return
    bare_ns = await _bare_ns()
    try:
        for hung in (False, True):
            await _scenario(mode, results, hung, bare_ns)
    finally:
        aicache.configure(redis_url=env.redis_url)
