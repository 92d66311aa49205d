"""The Prometheus collector: a scrape reflects the stats snapshot, per function and tier."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import aicache
import aicache.prometheus
from aicache import _fleet


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@aicache.ai_cached(cost=0.125, name="tests.prom.tag")
async def tag(n: int) -> dict[str, int]:
    return {"n": n}


async def test_scrape_reports_hits_per_tier_and_money_per_function() -> None:
    registry = CollectorRegistry()
    aicache.prometheus.register(registry)
    fn = (("function", "tests.prom.tag"),)
    assert ("aicache_misses_total", fn) not in _scrape(registry)
    for n in (1, 2, 1, 1):
        await tag(n)
    await tag(1, bypass_cache=True)
    got = _scrape(registry)
    assert got[("aicache_hits_total", (("function", "tests.prom.tag"), ("tier", "file")))] == 2
    assert got[("aicache_misses_total", fn)] == 2
    assert got[("aicache_bypasses_total", fn)] == 1
    assert got[("aicache_stores_total", fn)] == 3
    assert got[("aicache_cost_saved_usd_total", fn)] == pytest.approx(0.25)
    assert got[("aicache_cost_spent_usd_total", fn)] == pytest.approx(0.375)
    assert got[("aicache_time_saved_seconds_total", fn)] >= 0


async def test_errors_per_tier(redis_server: Any) -> None:
    aicache.configure(redis_url=redis_server.url)
    registry = CollectorRegistry()
    aicache.prometheus.register(registry)
    await tag(7)
    redis_server.kill()
    assert await tag(7) == {"n": 7}  # served by the file tier
    got = _scrape(registry)
    labels = (("function", "tests.prom.tag"), ("tier", "redis"))
    assert got[("aicache_errors_total", labels)] >= 1
    assert got[("aicache_hits_total", (("function", "tests.prom.tag"), ("tier", "file")))] == 1


async def test_fleet_collector_reads_the_shared_store(caplog: pytest.LogCaptureFixture) -> None:
    await tag(1)
    await tag(1)
    _fleet.flush()
    aicache.stats.reset()  # this process forgets; the fleet store remembers
    registry = CollectorRegistry()
    aicache.prometheus.register(registry, fleet=True)
    got = _scrape(registry)
    assert got[("aicache_misses_total", (("function", "tests.prom.tag"),))] == 1

    aicache.configure(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    assert _scrape(registry) == {}  # the scrape succeeds, empty, and says why in the log
    assert "unavailable" in caplog.text
