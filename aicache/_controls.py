"""Per-call controls that reach through layers: switch cache reads or writes off for a block, or
pick the namespace (tenant) and ttl of the calls made inside it."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._keys import check_name
from ._policy import seconds

__all__ = [
    "BYPASS",
    "CALL_CONTROLS",
    "KEEP",
    "Controls",
    "Overrides",
    "applied",
    "cache_control",
    "check_ttl",
    "controls",
    "overrides",
    "switches",
    "take_controls",
]

#: ``ttl=`` not given: the function's or client's own ttl stands.
KEEP: Any = object()


@dataclass(frozen=True, slots=True)
class Overrides:
    """The namespace and ttl chosen for the calls of a block (``None`` / :data:`KEEP`: not
    chosen here)."""

    namespace: str | None = None
    ttl: Any = KEEP  # seconds, None (until evicted) or KEEP

    def over(self, namespace: str | None, ttl: Any) -> Overrides:
        """These overrides with ``namespace`` and ``ttl`` put over them where given."""
        return Overrides(
            self.namespace if namespace is None else namespace,
            self.ttl if ttl is KEEP else ttl,
        )


@dataclass(frozen=True, slots=True)
class Controls:
    """Everything ``cache_control`` and a call's own controls put in force, in one context
    variable: the hit path reads it once."""

    read: bool = True  # lookups happen
    write: bool = True  # stores happen
    over: Overrides | None = None  # the namespace and ttl chosen, or None (the usual case)


#: No block in force: read and write, no overrides (frozen, so one object serves every context).
_PLAIN = Controls()
_controls: contextvars.ContextVar[Controls] = contextvars.ContextVar(
    "aicache_controls", default=_PLAIN
)
#: The controls in force.
controls = _controls.get


def switches() -> tuple[bool, bool]:
    """(read, write): whether lookups and stores happen in the current context."""
    now = _controls.get()
    return now.read, now.write


def overrides() -> Overrides | None:
    """The overrides in force, or ``None``."""
    return _controls.get().over


def check_ttl(ttl: float | timedelta | None) -> float | None:
    """A per-call or per-block ``ttl``: seconds or a ``timedelta``; ``None``: until evicted."""
    return seconds("ttl", ttl)


@contextmanager
def cache_control(
    *,
    read: bool = True,
    write: bool = True,
    namespace: str | None = None,
    ttl: float | timedelta | None = KEEP,
) -> Iterator[None]:
    """Control the cache for the calls inside the block (and the tasks it starts).

    ``read=False`` makes every call fresh (like ``bypass_cache=True``); ``write=False`` serves
    hits but stores nothing. Nested blocks can only switch more off, never back on.
    ``namespace="tenant-a"`` keys every call under that namespace: entries of one namespace are
    never served to another. ``ttl`` (seconds, a ``timedelta``, or ``None``: until evicted) is
    the lifetime of the entries stored inside. An inner block's namespace and ttl win; a
    ``namespace=`` or ``ttl=`` given to one call wins over both.
    """
    if namespace is not None:
        check_name("namespace", namespace)
    chosen = KEEP if ttl is KEEP else check_ttl(ttl)
    outer = _controls.get()
    changed = namespace is not None or chosen is not KEEP
    scope = (outer.over or Overrides()).over(namespace, chosen) if changed else outer.over
    token = _controls.set(Controls(outer.read and read, outer.write and write, scope))
    try:
        yield
    finally:
        _controls.reset(token)


#: The keywords every cached call accepts besides its own arguments.
BYPASS = "bypass_cache"
CALL_CONTROLS = frozenset({BYPASS, "namespace", "ttl"})


def take_controls(kwargs: dict[str, Any], names: frozenset[str]) -> tuple[bool, Overrides | None]:
    """Pop one call's controls (those of ``names``: ``bypass_cache``, ``namespace``, ``ttl``)
    from ``kwargs``: ``(bypass, the overrides in force for this call or None)``. A bad
    ``namespace`` or ``ttl`` is a :class:`~aicache.ConfigError` naming the argument."""
    bypass = kwargs.pop(BYPASS, False) if BYPASS in names else False
    if bypass is not False and bypass is not True:
        raise TypeError(f"{BYPASS}= takes True or False, not {bypass!r}")
    namespace = kwargs.pop("namespace", None) if "namespace" in names else None
    ttl = kwargs.pop("ttl", KEEP) if "ttl" in names else KEEP
    scope = _controls.get().over
    if namespace is None and ttl is KEEP:
        return bypass, scope
    if namespace is not None:
        check_name("namespace", namespace)
    if ttl is not KEEP:
        ttl = check_ttl(ttl)
    return bypass, (scope or Overrides()).over(namespace, ttl)


@contextmanager
def applied(over: Overrides | None) -> Iterator[None]:
    """Put ``over`` (from :func:`take_controls`) in force for the block: a call's own controls,
    seen by everything the call goes through."""
    now = _controls.get()
    token = _controls.set(Controls(now.read, now.write, over))
    try:
        yield
    finally:
        _controls.reset(token)
