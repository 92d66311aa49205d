"""The storage interface: bytes under a key, with a time to live.

A backend knows nothing of envelopes, keys' meaning or stats. It raises on failure (any exception);
the chain turns that into a miss and opens the tier's circuit breaker.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["WOULD_BLOCK", "Backend", "Leases", "Nowait"]

T = TypeVar("T")


class Nowait(enum.Enum):
    """What :meth:`Backend.get_nowait` returns when it cannot answer without waiting."""

    WOULD_BLOCK = "would block"


WOULD_BLOCK = Nowait.WOULD_BLOCK


class Leases(Protocol):
    """Cross-process single-flight that a tier lends (``lock=True``): one process makes a call,
    the others wait for the entry it stores."""

    async def run(
        self,
        key: str,
        make: Callable[[], Awaitable[T]],
        stored: Callable[[], Awaitable[T | None]],
    ) -> tuple[T, bool]:
        """``(result, waited)``: ``make()``'s result (``make`` stores it before returning), or the
        entry another process stored, as ``stored()`` found it."""
        ...

    async def close(self) -> None: ...


class Backend(ABC):
    """One storage tier. Subclasses implement the five async methods below."""

    #: Short name used in stats, logs and ``cache_info(...).tier``.
    name: str = "backend"
    #: True for a tier whose reads answer without waiting on a server (memory, local files).
    #: The chain shares one read of a key among concurrent callers only for remote tiers.
    local: bool = False
    #: True for a tier whose ``get_nowait`` hands back the stored bytes object itself, the same
    #: object until the entry changes (memory): a cache may keep what it decoded from them.
    same_bytes: bool = False

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """Return the stored bytes, or ``None`` when absent or expired."""

    def get_nowait(self, key: str) -> bytes | Nowait | None:
        """:meth:`get` without suspending, or :data:`WOULD_BLOCK` when only an ``await`` can
        answer (a server, a large file). A hit through tiers that answer here awaits nothing,
        and a sync caller needs no event loop. Raises on failure, as :meth:`get` does."""
        return WOULD_BLOCK

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: until evicted)."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove one key; return whether it existed."""

    @abstractmethod
    async def clear(self, prefix: str) -> int:
        """Remove every key that starts with ``prefix``; return how many. Never touches others."""

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        """Yield the live keys that start with ``prefix`` (for inspection; may be slow)."""
        return
        yield  # pragma: no cover

    def leases(
        self, *, lease: float, wait: float, failed: Callable[[Exception], None]
    ) -> Leases | None:
        """Cross-process leases over this tier's server, or ``None`` if it cannot lend them.

        ``lease`` and ``wait`` are in seconds; ``failed`` hears of every server error (the tier's
        circuit breaker). Built once per cache, on the first call that needs one.
        """
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook, most tiers hold nothing
        """Release connections and files. Safe to call twice."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
