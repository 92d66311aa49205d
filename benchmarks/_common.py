"""What every family shares: the run mode (how many calls), the run's environment, the rows."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._timing import Sample

__all__ = ["Env", "Mode", "Results", "Row", "has_module"]


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@dataclass(frozen=True)
class Mode:
    """Counts for one run. ``smoke`` proves the script works, ``quick`` < 1 min, ``full`` < 10."""

    name: str
    blocks: int
    calls: int  # per contender per block, hit family
    redis_calls: int  # same, for contenders that go over the network
    key_calls: int
    miss_calls: int
    stampede_n: int
    stampede_delay: float
    outage_calls: int  # per contender, when each call costs a bounded timeout
    hang_calls: int  # per contender left at its default timeout (0: not measured)
    replay_requests: int
    replay_prompts: int
    key_sizes: tuple[int, ...]

    @staticmethod
    def named(name: str) -> Mode:
        return _MODES[name]


_KB = 1024
_MODES = {
    "smoke": Mode("smoke", 2, 20, 10, 10, 10, 50, 0.02, 2, 0, 200, 40, (_KB, 10 * _KB)),
    "quick": Mode(
        "quick", 10, 500, 200, 200, 150, 1000, 0.05, 5, 1, 2500, 500, (_KB, 10 * _KB, 100 * _KB)
    ),
    "full": Mode(
        "full",
        25,
        2000,
        400,
        300,
        500,
        1000,
        0.05,
        20,
        3,
        10_000,
        2000,
        (_KB, 10 * _KB, 100 * _KB, 1024 * _KB),
    ),
}


@dataclass
class Env:
    """Where the run's state lives. ``redis_url`` is ``None`` when no server could be had."""

    tmp: Path
    redis_url: str | None
    redis_started_here: bool


@dataclass
class Row:
    """One timed contender of a table, with what the reader needs to judge it."""

    name: str
    group: str  # "floor", "aicache", "cashews", "aiocache"
    tier: str  # "memory", "redis", "file", "chain", "-"
    sample: Sample
    fresh: str = ""  # for in-process tiers: "fresh", "shallow copy", "shared object"
    note: str = ""


@dataclass
class Results:
    mode: Mode
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    hits: list[Row] = field(default_factory=list)
    breakdown: list[Row] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    stampede: list[dict[str, Any]] = field(default_factory=list)
    outage: list[dict[str, Any]] = field(default_factory=list)
    replay: list[dict[str, Any]] = field(default_factory=list)
    cluster: list[dict[str, Any]] = field(default_factory=list)
    compression: list[dict[str, Any]] = field(default_factory=list)
    compression_hits: list[dict[str, Any]] = field(default_factory=list)
    hot: dict[str, Any] = field(default_factory=dict)  # load, near, memory (see _hot)
    streams: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def hit(self, name: str) -> Row | None:
        return next((r for r in self.hits if r.name == name), None)
