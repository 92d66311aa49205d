"""Workload replay: a Zipf-like stream of requests against the simulated provider, through the
real Anthropic SDK, with and without aicache. Hit rate, dollars spent and saved, latency.

The provider answers after a seeded 2-5 s, scaled down by ``SCALE`` so the run takes seconds.
Latency is reported in simulated seconds: the time a request spent waiting on the provider's HTTP
answer (timed by httpx event hooks) is scaled back up by ``1 / SCALE``, the rest of its time
(SDK, cache, event loop) counts as measured. A caller that shared another caller's in-flight
call counts ``real / SCALE`` (it waited on the provider, for less than a whole call).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aicache
from aicache import stats

from . import _workload
from ._common import Env, Mode, Results, has_module
from ._simproc import SimulatorProcess
from ._timing import percentile

__all__ = ["run"]

SCALE = 0.02  # 2-5 s of simulated provider latency becomes 40-100 ms
LATENCY = (2.0, 5.0)
ZIPF_S = 1.0
CONCURRENCY = 16
MAX_TOKENS = 400
_SYSTEM = (
    "You are a music analyst. Given a track's features, describe its tempo, key, mood and "
    "instrumentation in two sentences, then classify its genre. " + _workload.text(900, 77)
)

Call = Callable[..., Awaitable[Any]]

# Seconds the current request spent waiting for provider answers. A list, so the cache's flight
# task (which runs the SDK call in a copy of the caller's context) adds to the caller's total.
_provider_wait: contextvars.ContextVar[list[float]] = contextvars.ContextVar("provider_wait")


async def _on_request(request: Any) -> None:
    request.extensions["bench_t0"] = time.perf_counter()


async def _on_response(response: Any) -> None:
    box = _provider_wait.get(None)
    if box is not None:
        box[0] += time.perf_counter() - response.request.extensions["bench_t0"]


def prompts(count: int) -> list[dict[str, Any]]:
    """``count`` distinct requests: a shared system prompt and one track description each."""
    return [
        {
            "model": _workload.MODEL,
            "max_tokens": MAX_TOKENS,
            "system": _SYSTEM,
            "messages": [
                {"role": "user", "content": f"Track {i}: " + _workload.text(300, 10_000 + i)}
            ],
        }
        for i in range(count)
    ]


def zipf_order(requests: int, distinct: int, s: float = ZIPF_S, seed: int = 11) -> list[int]:
    """``requests`` prompt indexes; index ``i`` is drawn with weight ``1 / (i + 1) ** s``."""
    weights = [1 / (i + 1) ** s for i in range(distinct)]
    return random.Random(seed).choices(range(distinct), weights=weights, k=requests)


def _price_of() -> Callable[[str, Any], float | None] | None:
    """``(model, usage) -> USD`` from aicache's own price table, if this checkout has one."""
    try:
        from aicache._pricing import cost_of
    except ImportError:
        return None

    def price(model: str, usage: Any) -> float | None:
        tokens = {
            "input": usage.input_tokens,
            "cached_input": usage.cache_read_input_tokens or 0,
            "cache_write": usage.cache_creation_input_tokens or 0,
            "output": usage.output_tokens,
        }
        return cost_of("anthropic", model, tokens)

    return price


async def _drive(call: Call, order: list[int], reqs: list[dict[str, Any]]) -> dict[str, Any]:
    served: list[bool] = []
    latencies: list[float] = []
    usages: list[tuple[str, Any, bool]] = []
    pending = iter(order)

    async def worker() -> None:
        for index in pending:
            box = [0.0]
            _provider_wait.set(box)
            t0 = time.perf_counter()
            reply = await call(**reqs[index])
            real = time.perf_counter() - t0
            info = aicache.cache_info(reply)
            from_cache = info is not None and info.hit and not info.coalesced
            served.append(from_cache)
            if box[0] > 0:
                latencies.append(real - box[0] + box[0] / SCALE)
            else:
                latencies.append(real if from_cache else real / SCALE)
            usages.append((reqs[index]["model"], reply.usage, from_cache))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "served": sum(served),
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "wall_s": wall,
        "usages": usages,
    }


def _cached_create(client: Any, backend: str) -> Call:
    cached_client = getattr(aicache, "cached_client", None)
    if cached_client is None and has_module("aicache.providers"):
        from aicache.providers import cached_client
    if cached_client is not None:
        proxy = cached_client(client, backend=backend, namespace="bench-replay")
        create: Call = proxy.messages.create
        return create

    @aicache.ai_cached(backend=backend, namespace="bench-replay", name="bench_replay")
    async def create_via_decorator(**kwargs: Any) -> Any:
        return await client.messages.create(**kwargs)

    fallback: Call = create_via_decorator
    return fallback


async def run(env: Env, mode: Mode, results: Results) -> None:
    if not has_module("aicache.simulator") or not has_module("anthropic"):
        results.notes.append("Replay not measured: aicache.simulator or anthropic is missing.")
        return
    import httpx2
    from anthropic import AsyncAnthropic

    price = _price_of()
    reqs = prompts(mode.replay_prompts)
    order = zipf_order(mode.replay_requests, mode.replay_prompts)
    backend = "auto"
    lo, hi = LATENCY
    async with SimulatorProcess(lo * SCALE, hi * SCALE) as sim:
        for arm in ("without aicache", "with aicache"):
            http = httpx2.AsyncClient(
                event_hooks={"request": [_on_request], "response": [_on_response]}
            )
            client = AsyncAnthropic(
                api_key="sk-bench-not-a-key", base_url=sim.base_url, max_retries=0, http_client=http
            )
            call = (
                client.messages.create
                if arm == "without aicache"
                else _cached_create(client, backend)
            )
            await sim.reset()
            with stats.scope(f"replay {arm}") as scope:
                out = await _drive(call, order, reqs)
            provider_calls = await sim.count()
            await client.close()
            snap = scope.snapshot()
            own_spent = own_saved = 0.0
            priced = price is not None
            for model, usage, from_cache in out["usages"]:
                usd = price(model, usage) if price is not None else None
                if usd is None:
                    priced = False
                    continue
                if from_cache:
                    own_saved += usd
                else:
                    own_spent += usd
            row: dict[str, Any] = {
                "name": arm,
                "requests": len(order),
                "provider_calls": provider_calls,
                "hit_rate": out["served"] / len(order),
                "p50_s": out["p50_s"],
                "p99_s": out["p99_s"],
                "wall_s": out["wall_s"],
            }
            if arm == "with aicache":
                row["spent_usd"] = snap["cost_spent_usd"]
                row["saved_usd"] = snap["cost_saved_usd"]
                row["stats_hits"] = snap["hits"]
                row["stats_coalesced"] = snap["coalesced"]
            else:
                row["spent_usd"] = own_spent if priced else float("nan")
                row["saved_usd"] = 0.0
            row["own_spent_usd"] = own_spent if priced else None
            row["own_saved_usd"] = own_saved if priced else None
            results.replay.append(row)
    distinct = len(set(order))
    how = "cached_client" if has_module("aicache.providers") else "@ai_cached(messages.create)"
    results.replay[0]["about"] = (
        f"{len(order):,} requests drawn from {len(reqs):,} distinct prompts with weight "
        f"1/rank^{ZIPF_S:g} ({distinct:,} distinct drawn), {CONCURRENCY} concurrent callers, "
        f"through anthropic.AsyncAnthropic against aicache's ProviderSimulator in its own "
        f"process ({lo:g}-{hi:g} s simulated latency run at x{SCALE:g}). aicache: "
        f"{how}, backend='{backend}'. Dollars: aicache's stats for the cached run; the "
        "uncached run is priced from each response's usage with aicache's price table. "
        "Latency in simulated seconds (see the module docstring)."
    )
