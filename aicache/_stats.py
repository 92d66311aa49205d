"""The stats registry: counters per (function, provider, model), kept per scope.

A scope is bound to a contextvar, so it covers the current task and the tasks it starts, and
every event also rolls up into each enclosing scope and the global one. Recording an event is a
dict lookup and a few additions per open scope: cheap enough for the hit path.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any

__all__ = [
    "Counters",
    "Label",
    "Scope",
    "current",
    "reset",
    "root",
    "scope",
    "snapshot",
    "summarise",
]

#: (function, provider, model); provider and model are "" for plain decorated functions.
Label = tuple[str, str, str]


@dataclass(slots=True)
class Counters:
    hits: int = 0
    misses: int = 0
    bypasses: int = 0
    stores: int = 0
    not_stored: int = 0  # refused by should_cache, too large, or not storable
    errors: int = 0  # backend failures and unreadable entries
    stale_hits: int = 0
    coalesced: int = 0
    lock_waits: int = 0
    tampered: int = 0
    uncached: int = 0  # calls that went through without the cache (streams)
    retries: int = 0
    cost_unknown: int = 0  # hits or misses whose price is not known
    refresh_failures: int = 0  # background refreshes (stale-while-revalidate) that raised
    failures: int = 0  # real calls that raised (for cached clients: after their retries)
    streams_incomplete: int = 0  # streams abandoned, cut or raising before their end: not stored
    replay_misses: int = 0  # calls replay mode refused (AI_CACHE_MODE=replay): nothing recorded
    cost_saved_usd: float = 0.0
    cost_spent_usd: float = 0.0
    time_saved_s: float = 0.0
    tokens_saved: dict[str, int] = field(default_factory=dict)
    tokens_spent: dict[str, int] = field(default_factory=dict)
    hits_by_tier: dict[str, int] = field(default_factory=dict)
    errors_by_tier: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counters) -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for k, v in theirs.items():
                    mine[k] = mine.get(k, 0) + v
            else:
                setattr(self, f.name, mine + theirs)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("tokens_saved", "tokens_spent", "hits_by_tier", "errors_by_tier"):
            out[name] = dict(out[name])
        looked_up = self.hits + self.misses
        out["hit_rate"] = self.hits / looked_up if looked_up else 0.0
        return out


def _bump(counts: dict[str, int], tokens: dict[str, Any] | None) -> None:
    if tokens:
        for k, v in tokens.items():
            if type(v) is int:
                counts[k] = counts.get(k, 0) + v


_ids = itertools.count(1)


class Scope:
    """Counts the events of one unit of work (a web request, a batch job).

    Use ``with aicache.stats.scope("job-42") as s:`` (or ``async with``); ``s.snapshot()`` then
    counts what happened inside, including in tasks started inside.
    """

    def __init__(self, name: str | None = None, parent: Scope | None = None) -> None:
        self.name = name or f"scope-{next(_ids)}"
        self.parent = parent
        self.lineage: tuple[Scope, ...] = (self, *(parent.lineage if parent else ()))
        self._by_label: dict[Label, Counters] = {}

    def counters(self, label: Label) -> Counters:
        c = self._by_label.get(label)
        if c is None:
            c = self._by_label[label] = Counters()
        return c

    def labels(self) -> list[tuple[Label, Counters]]:
        """The live counters of each label counted so far (a list: safe while others count)."""
        return list(self._by_label.items())

    def snapshot(self) -> dict[str, Any]:
        """Totals, hit rate, and breakdowns per function, provider, model and tier."""
        return summarise(self.name, self._by_label.items())

    def reset(self) -> None:
        self._by_label.clear()

    def __enter__(self) -> Scope:
        # The token lives in the entering context, so one scope object may be open in several
        # tasks at once and left in any order.
        _entered.set((*_entered.get(), _current.set(self)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        *outer, token = _entered.get()
        _entered.set(tuple(outer))
        _current.reset(token)

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<Scope {self.name}>"


def summarise(name: str, items: Iterable[tuple[Label, Counters]]) -> dict[str, Any]:
    """A snapshot named ``name`` of counters by label: totals and breakdowns."""
    total = Counters()
    groups: dict[str, dict[str, Counters]] = {"functions": {}, "providers": {}, "models": {}}
    for (function, provider, model), c in items:
        total.add(c)
        for group, key in (
            ("functions", function),
            ("providers", provider),
            ("models", f"{provider}/{model}" if model else ""),
        ):
            if key:
                groups[group].setdefault(key, Counters()).add(c)
    out = total.as_dict()
    out["scope"] = name
    for group, by_key in groups.items():
        out[group] = {k: v.as_dict() for k, v in sorted(by_key.items())}
    return out


root = Scope("global")
_current: contextvars.ContextVar[Scope] = contextvars.ContextVar("aicache_scope", default=root)
_entered: contextvars.ContextVar[tuple[contextvars.Token[Scope], ...]] = contextvars.ContextVar(
    "aicache_scope_tokens", default=()
)


def current() -> Scope:
    return _current.get()


def scope(name: str | None = None) -> Scope:
    """A child of the current scope; enter it to start counting."""
    return Scope(name, _current.get())


def snapshot() -> dict[str, Any]:
    """The global totals (every scope rolls up into them)."""
    return root.snapshot()


def reset() -> None:
    """Zero the global counters (tests, or the start of a report period)."""
    root.reset()


# Recording, called by the cache core. Each walks the open scopes once.


def hit(
    label: Label,
    tier: str,
    cost: float | None,
    seconds: float,
    tokens: dict[str, Any] | None,
    *,
    stale: bool = False,
) -> None:
    for s in _current.get().lineage:
        c = s._by_label.get(label) or s.counters(label)  # the hit path: one lookup
        c.hits += 1
        c.hits_by_tier[tier] = c.hits_by_tier.get(tier, 0) + 1
        c.time_saved_s += seconds
        if cost is None:
            if tokens:
                c.cost_unknown += 1
        else:
            c.cost_saved_usd += cost
        if tokens:
            _bump(c.tokens_saved, tokens)
        if stale:
            c.stale_hits += 1


def miss(label: Label, *, bypass: bool = False) -> None:
    for s in _current.get().lineage:
        c = s.counters(label)
        if bypass:
            c.bypasses += 1
        else:
            c.misses += 1


def spent(label: Label, cost: float | None, tokens: dict[str, Any] | None) -> None:
    """A call that really ran: what it cost."""
    for s in _current.get().lineage:
        c = s.counters(label)
        if cost is None:
            if tokens:
                c.cost_unknown += 1
        else:
            c.cost_spent_usd += cost
        _bump(c.tokens_spent, tokens)


def count(label: Label, name: str, n: int = 1) -> None:
    """Add ``n`` to one integer counter (``stores``, ``coalesced``, ``retries``, ...)."""
    for s in _current.get().lineage:
        c = s.counters(label)
        setattr(c, name, getattr(c, name) + n)


def error(label: Label, tier: str | None, *, tampered: bool = False) -> None:
    for s in _current.get().lineage:
        c = s.counters(label)
        c.errors += 1
        if tier:
            c.errors_by_tier[tier] = c.errors_by_tier.get(tier, 0) + 1
        if tampered:
            c.tampered += 1
