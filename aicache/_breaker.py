"""A circuit breaker per tier: one failure opens it, one probe after a cool-down closes it.

A tier that answers but refuses to store (a full disk, Redis out of memory) only has its writes
held back for a cool-down: its reads go on.
"""

from __future__ import annotations

from . import _clock
from ._log import log

__all__ = ["Breaker"]


class Breaker:
    """Closed: calls go through. Open: calls skip the tier until ``cooldown`` seconds have passed,
    then exactly one call probes it; success closes the breaker, failure opens it again."""

    def __init__(self, name: str, cooldown: float) -> None:
        self.name = name
        self.cooldown = cooldown
        self.opened_at: float | None = None
        self.probing = False
        self.writes_refused_at: float | None = None

    @property
    def closed(self) -> bool:
        return self.opened_at is None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.probing or _clock.monotonic() - self.opened_at < self.cooldown:
            return False
        self.probing = True
        return True

    def writable(self) -> bool:
        """Whether stores may go to the tier: it has not refused one in the last cool-down."""
        refused = self.writes_refused_at
        if refused is None:
            return True
        if _clock.monotonic() - refused < self.cooldown:
            return False
        self.writes_refused_at = None
        return True

    def success(self) -> bool:
        """Record a call that worked; return whether that closed the breaker."""
        # Only the probe closes an open breaker: a call let through before the tier failed may
        # finish after it, and says nothing about the tier now.
        if self.opened_at is not None and self.probing:
            log.warning("aicache: tier %s is back; using it again", self.name)
            self.opened_at = None
            self.probing = False
            return True
        return False

    def write_refused(self, exc: BaseException) -> None:
        """The tier refused a store: hold stores back for a cool-down, keep reading from it."""
        if self.writes_refused_at is None:
            log.warning(
                "aicache: tier %s refused a store (%s: %s); storing nothing there for %.1f s, "
                "still reading from it",
                self.name,
                type(exc).__name__,
                exc,
                self.cooldown,
            )
        self.writes_refused_at = _clock.monotonic()

    def failure(self, exc: BaseException) -> None:
        if self.opened_at is None or self.probing:
            # Logged once per outage and once per failed probe: at most once per cool-down.
            log.warning(
                "aicache: tier %s failed (%s: %s); skipping it for %.1f s",
                self.name,
                type(exc).__name__,
                exc,
                self.cooldown,
            )
        self.opened_at = _clock.monotonic()
        self.probing = False
