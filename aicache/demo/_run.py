"""``aicache demo``: analyse the bundled tracks (some twice) and show what the cache did."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .. import _clock
from .._cache import AICache
from .._config import CacheConfig
from .._console import Progress, duration, money, percent, say, table
from .._errors import ConfigError
from .._persisted import Persisted, persisted
from .._shared import close as close_shared
from ..backends import build_backends
from ._manager import (
    KEY_VARIABLES,
    PROVIDERS,
    AnalysisError,
    AnalysisResult,
    SampleMindAIManager,
)
from ._prompts import AnalysisType
from ._tracks import TRACKS

__all__ = ["Request", "plan", "run"]

NAMESPACE = "samplemind"


@dataclass(frozen=True)
class Request:
    title: str
    kind: AnalysisType
    features: dict[str, Any]
    note: str = ""  # why a request repeats an earlier one


def plan(tracks: int) -> list[Request]:
    """One analysis per track (the types in turn), then repeats: every third request again, and
    the first track re-extracted with float noise that normalisation removes."""
    kinds = list(AnalysisType)
    first = [
        Request(t["title"], kinds[i % len(kinds)], t["features"])
        for i, t in enumerate(TRACKS[:tracks])
    ]
    again = [Request(r.title, r.kind, r.features, "again") for r in first[::3]]
    lead = first[0]
    noisy = {**lead.features, "tempo": lead.features["tempo"] + 0.0001}
    noisy["energy"] = lead.features["energy"] - 0.0004
    return [*first, *again, Request(lead.title, lead.kind, noisy, "tempo +0.0001")]


async def _tiers(config: CacheConfig) -> str:
    if not config.enabled:
        return "OFF (AI_CACHE_ENABLED=false): every request goes to the provider, nothing is kept"
    tiers = build_backends(None, config)
    names = [t.name for t in tiers]
    for t in tiers:
        await t.close()
    where = f" (file tier in {config.cache_dir})" if "file" in names else ""
    return " -> ".join(names) + where


async def run(
    config: CacheConfig,
    *,
    tracks: int,
    fresh: bool,
    concurrency: int,
    latency: tuple[float, float],
    live: bool,
) -> int:
    """Run the demo and print its table; return the exit code (``aicache demo``)."""
    manager = SampleMindAIManager(
        simulate=None if live else True, latency=latency, namespace=NAMESPACE
    )
    if live and manager.simulated:
        names = ", ".join(v for p in PROVIDERS for v in KEY_VARIABLES[p])
        raise ConfigError(f"--live needs an API key: set one of {names}")
    if fresh and config.enabled:
        cache = AICache(config, namespace=NAMESPACE)
        removed = await cache.clear()
        await cache.close()
        say(f"--fresh: removed {removed} cached entries of namespace {NAMESPACE!r}")
    requests = plan(tracks)
    say(f"SampleMind demo: {len(requests)} analyses of {tracks} tracks")
    say(f"provider: {manager.description}")
    say(f"cache:    {await _tiers(config)}, namespace {NAMESPACE!r}")
    say()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(request: Request, progress: Progress) -> AnalysisResult | AnalysisError:
        async with semaphore:
            try:
                result: AnalysisResult | AnalysisError = await manager.analyze_music(
                    request.features, request.kind
                )
            except AnalysisError as exc:
                result = exc
        note = (
            "failed" if isinstance(result, AnalysisError) else ("hit" if result.cached else "miss")
        )
        progress.advance(f"{request.title}: {note}")
        return result

    try:
        await manager.start()
        started = _clock.monotonic()
        with Progress(len(requests), "analysing") as progress:
            results = await asyncio.gather(*(one(r, progress) for r in requests))
        wall = _clock.monotonic() - started
    finally:
        await manager.close()
        await close_shared()
    stored = [r.key for r in results if isinstance(r, AnalysisResult) and not r.cached and r.key]
    kept = await persisted(config, stored) if config.enabled else None
    _report(requests, results, manager, wall, kept)
    return 1 if any(isinstance(r, AnalysisError) for r in results) else 0


def _report(
    requests: list[Request],
    results: list[AnalysisResult | AnalysisError],
    manager: SampleMindAIManager,
    wall: float,
    kept: Persisted | None,
) -> None:
    rows = []
    for i, (request, result) in enumerate(zip(requests, results, strict=True), 1):
        title = request.title + (f" ({request.note})" if request.note else "")
        if isinstance(result, AnalysisError):
            rows.append((str(i), title, request.kind.label, "FAILED", "-", "-", "-", str(result)))
            continue
        rows.append(
            (
                str(i),
                title,
                request.kind.label,
                "HIT" if result.cached else ("MISS" if kept is not None else "CALL"),
                result.tier or "-",
                duration(result.latency_s),
                money(result.cost_usd) if result.cached else "-",
                result.summary,
            )
        )
    headers = ("#", "track", "analysis", "result", "tier", "latency", "saved", "answer")
    table(headers, rows, right=(0, 5, 6))
    stats = manager.get_global_stats()
    hits, misses = stats["cache_hits"], stats["cache_misses"]
    say()
    if kept is None:
        calls = sum(1 for r in results if not isinstance(r, AnalysisError))
        say(
            f"requests {len(requests)}: caching is OFF (AI_CACHE_ENABLED=false), so {calls} "
            f"provider calls, no hits, nothing stored; wall time {duration(wall)}"
        )
        say("cost is counted only for calls that go through the cache")
    else:
        say(
            f"requests {len(requests)}: {hits} hits, {misses} misses "
            f"(hit rate {percent(stats['cache_hit_rate'])}), wall time {duration(wall)}"
        )
        say(
            f"saved: {duration(stats['cache_time_saved'])} of provider time and "
            f"{money(stats['cache_cost_saved'])}; spent {money(stats['cost_spent'])}"
        )
    if manager.simulated:
        say("(SIMULATED provider: real OpenAI SDK and real prices, answers made up locally)")
    if kept is not None and kept.total:
        say(kept.describe())
        if kept.everything:
            say("Run it again: every request is then a hit.")
    say("`aicache stats` shows the totals of every run; `aicache demo --fresh` starts over.")
