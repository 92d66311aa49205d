"""``aicache stats``: the fleet's counters, from every store that can be read."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from .. import _fleet
from .._console import duration, money, percent, say, table
from ._common import FAILURE, OK, settings

__all__ = ["cmd_stats", "rounded"]

_COLUMNS = ("hits", "misses", "hit rate", "saved", "time saved", "spent", "errors")
_ALSO = (
    "bypasses",
    "stores",
    "not_stored",
    "uncached",
    "coalesced",
    "stale_hits",
    "tampered",
    "retries",
    "failures",
    "cost_unknown",
)


def _figures(c: dict[str, Any]) -> list[str]:
    return [
        str(c["hits"]),
        str(c["misses"]),
        percent(c["hit_rate"]),
        money(c["cost_saved_usd"]),
        duration(c["time_saved_s"]),
        money(c["cost_spent_usd"]),
        str(c["errors"]),
    ]


def rounded(doc: Any) -> Any:
    """``doc`` with every ``*_usd`` figure rounded to the micro-dollar (sums of floats are not)."""
    if isinstance(doc, dict):
        return {
            k: round(v, 6) if k.endswith("_usd") and isinstance(v, float) else rounded(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [rounded(v) for v in doc]
    return doc


def cmd_stats(args: argparse.Namespace) -> int:
    config = settings(args)
    if args.reset:
        _fleet.reset(config)
        say("fleet stats deleted")
        return OK
    fleet = _fleet.read(config, partial=True)
    missing = "; ".join(f"{s}: {why}" for s, why in fleet.unreachable.items())
    if missing:
        say(f"aicache stats: not reachable, left out: {missing}", sys.stderr)
    code = FAILURE if fleet.unreachable else OK
    snap = fleet.snapshot
    if args.json:
        doc = {**snap, "sources": fleet.sources, "unreachable": fleet.unreachable}
        say(orjson.dumps(rounded(doc), option=orjson.OPT_INDENT_2).decode())
        return code
    say(f"aicache fleet stats, every process that flushed to: {', '.join(fleet.sources)}")
    if missing:
        say(f"NOT included (not reachable): {', '.join(fleet.unreachable)}")
    if not snap["hits"] + snap["misses"] + snap["bypasses"] + snap["errors"]:
        say("nothing recorded yet: run a workload (for example `aicache demo`) and look again")
        return code
    right = tuple(range(1, len(_COLUMNS) + 1))
    table(("", *_COLUMNS), [("total", *_figures(snap))], right=right)
    tiers = ", ".join(f"{t} {n}" for t, n in sorted(snap["hits_by_tier"].items())) or "none"
    say(f"hits by tier: {tiers}")
    extra = [f"{name.replace('_', ' ')} {snap[name]}" for name in _ALSO if snap[name]]
    if extra:
        say("also: " + ", ".join(extra))
    for group, heading in (("functions", "function"), ("models", "provider/model")):
        if snap[group]:
            say()
            rows = [(name, *_figures(c)) for name, c in snap[group].items()]
            table((heading, *_COLUMNS), rows, right=right)
    return code
