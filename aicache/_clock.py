"""The one clock aicache reads, so tests can move time without sleeping.

Read the clocks as ``_clock.now()`` and ``_clock.monotonic()`` (never import the names):
:func:`set_clock` rebinds them, and a hit reads the wall clock without a call in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["monotonic", "now", "set_clock"]

#: Wall-clock seconds since the epoch: entry creation and expiry, shared across processes.
now: Callable[[], float] = time.time
#: Monotonic seconds: breaker cool-downs and durations inside one process.
monotonic: Callable[[], float] = time.monotonic


def set_clock(
    wall: Callable[[], float] | None = None, mono: Callable[[], float] | None = None
) -> None:
    """Replace the clocks (tests); ``None`` restores the real ones."""
    global now, monotonic
    now = wall or time.time
    monotonic = mono or time.monotonic
