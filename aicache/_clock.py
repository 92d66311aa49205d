"""The one clock aicache reads, so tests can move time without sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["monotonic", "now", "set_clock"]

_wall: Callable[[], float] = time.time
_mono: Callable[[], float] = time.monotonic


def now() -> float:
    """Wall-clock seconds since the epoch: entry creation and expiry, shared across processes."""
    return _wall()


def monotonic() -> float:
    """Monotonic seconds: breaker cool-downs and durations inside one process."""
    return _mono()


def set_clock(
    wall: Callable[[], float] | None = None, mono: Callable[[], float] | None = None
) -> None:
    """Replace the clocks (tests); ``None`` restores the real ones."""
    global _wall, _mono
    _wall = wall or time.time
    _mono = mono or time.monotonic
