"""Prometheus metrics for aicache (``pip install 'aicache[prometheus]'``).

    from prometheus_client import start_http_server
    import aicache.prometheus

    aicache.prometheus.register()        # this process's counters, read at each scrape
    start_http_server(9100)

The collector reads :func:`aicache.stats.snapshot` when scraped: nothing is added to the hit path.
``register(fleet=True)`` exports the totals every process flushed (what ``aicache stats`` shows)
instead, for one exporter per service. Metrics, all counters, labelled by ``function`` (and
``tier`` where it applies): ``aicache_hits_total``, ``aicache_misses_total``,
``aicache_bypasses_total``, ``aicache_errors_total``, ``aicache_stores_total``,
``aicache_coalesced_total``, ``aicache_stale_hits_total``, ``aicache_tampered_total``,
``aicache_retries_total``, ``aicache_failures_total``, ``aicache_cost_saved_usd_total``,
``aicache_cost_spent_usd_total``, ``aicache_time_saved_seconds_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import REGISTRY, CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from . import _fleet, stats
from ._log import log

__all__ = ["AICacheCollector", "register"]


#: (metric name, snapshot field, help) of the plain per-function counters.
_PER_FUNCTION = (
    ("misses", "misses", "Lookups that found nothing servable and called through."),
    ("bypasses", "bypasses", "Calls that skipped the lookup (bypass_cache, read switched off)."),
    ("stores", "stores", "Results written to the tiers."),
    ("coalesced", "coalesced", "Callers that shared another caller's in-flight call."),
    ("stale_hits", "stale_hits", "Hits served stale while a refresh ran."),
    ("tampered", "tampered", "Entries that failed their signature check."),
    ("retries", "retries", "Provider call retries."),
    ("failures", "failures", "Provider calls that raised after their retries."),
    ("cost_saved_usd", "cost_saved_usd", "USD the calls replaced by hits had cost."),
    ("cost_spent_usd", "cost_spent_usd", "USD spent on calls that ran."),
    ("time_saved_seconds", "time_saved_s", "Seconds the calls replaced by hits had taken."),
)


class AICacheCollector(Collector):
    """A custom collector: each scrape turns one stats snapshot into counter families."""

    def __init__(
        self, snapshot: Callable[[], dict[str, Any]] | None = None, *, fleet: bool = False
    ) -> None:
        if snapshot is None:
            snapshot = _fleet_snapshot if fleet else stats.snapshot
        self._snapshot = snapshot

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unknown label values until collected; avoids a scrape at register()

    def collect(self) -> Iterator[Metric]:
        try:
            snap = self._snapshot()
        except Exception as exc:  # a scrape must not fail because the fleet store is away
            log.warning("aicache: stats for Prometheus unavailable: %r", exc)
            return
        functions: dict[str, dict[str, Any]] = snap["functions"]
        hits = CounterMetricFamily(
            "aicache_hits", "Lookups served from a tier.", labels=["function", "tier"]
        )
        errors = CounterMetricFamily(
            "aicache_errors",
            "Tier failures and unreadable entries (each also a miss or a skipped store).",
            labels=["function", "tier"],
        )
        for fn, c in functions.items():
            for tier, n in sorted(c["hits_by_tier"].items()):
                hits.add_metric([fn, tier], n)
            for tier, n in sorted(c["errors_by_tier"].items()):
                errors.add_metric([fn, tier], n)
            untiered = c["errors"] - sum(c["errors_by_tier"].values())
            if untiered > 0:
                errors.add_metric([fn, ""], untiered)
        yield hits
        yield errors
        for name, field, text in _PER_FUNCTION:
            family = CounterMetricFamily(f"aicache_{name}", text, labels=["function"])
            for fn, c in functions.items():
                family.add_metric([fn], c[field])
            yield family


def _fleet_snapshot() -> dict[str, Any]:
    return _fleet.read().snapshot


def register(registry: CollectorRegistry = REGISTRY, *, fleet: bool = False) -> AICacheCollector:
    """Register a collector of this process's stats (``fleet=True``: every process's)."""
    collector = AICacheCollector(fleet=fleet)
    registry.register(collector)
    return collector
