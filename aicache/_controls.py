"""Per-call controls that reach through layers: switch cache reads or writes off for a block."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cache_control", "switches"]

#: (read, write): whether lookups and stores happen in the current context.
_switches: contextvars.ContextVar[tuple[bool, bool]] = contextvars.ContextVar(
    "aicache_switches", default=(True, True)
)
switches = _switches.get


@contextmanager
def cache_control(*, read: bool = True, write: bool = True) -> Iterator[None]:
    """Switch cache reads and/or writes off inside the block (and the tasks it starts).

    ``read=False`` makes every call fresh (like ``bypass_cache=True``); ``write=False`` serves
    hits but stores nothing. Nested blocks can only switch more off, never back on.
    """
    outer_read, outer_write = _switches.get()
    token = _switches.set((outer_read and read, outer_write and write))
    try:
        yield
    finally:
        _switches.reset(token)
