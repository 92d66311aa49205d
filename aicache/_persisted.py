"""Which shared tiers really hold a set of entries: what ``warm`` and the demo report after a run,
so that "stored" never claims more than outlives the process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._config import CacheConfig
from ._errors import reason
from .backends import MemoryBackend, build_backends

__all__ = ["Persisted", "persisted"]


@dataclass
class Persisted:
    """``held``: entries found per shared tier (``{"file": 3}``); ``where``: each shared tier's
    location; ``unreachable``: tiers that failed to answer, with why."""

    total: int
    held: dict[str, int] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def everything(self) -> bool:
        return self.total > 0 and max(self.held.values(), default=0) == self.total

    def describe(self) -> str:
        """One sentence: where the entries went, or plainly that nothing outlives the process."""
        if self.total == 0:
            return "no new entries were stored"
        if not self.where:
            return (
                f"NOTHING PERSISTED: the {self.total} entries live in this process's memory only "
                "(the configured backend has no shared tier) and are gone when it exits"
            )
        parts = [f"{n} of {self.total} in {t} ({self.where[t]})" for t, n in self.held.items()]
        down = [f"{t} ({self.where[t]}) not readable: {why}" for t, why in self.unreachable.items()]
        if not any(self.held.values()):
            return (
                f"NOTHING PERSISTED: none of the {self.total} entries reached a shared tier ("
                + "; ".join(parts + down)
                + "); they are gone when this process exits"
            )
        return "persisted: " + "; ".join(parts + down)


def _location(name: str, config: CacheConfig) -> str:
    if name == "file":
        return str(config.cache_dir)
    if name == "redis" and config.redis_url:
        return config.redis_url.split("@")[-1]  # never print a password
    return name


async def persisted(config: CacheConfig, keys: Iterable[str]) -> Persisted:
    """Look each key up in every shared tier of ``config``."""
    wanted = sorted(set(keys))
    found = Persisted(len(wanted))
    if not wanted:
        return found
    tiers = [t for t in build_backends(config.backend, config) if not isinstance(t, MemoryBackend)]
    for tier in tiers:
        found.where[tier.name] = _location(tier.name, config)
        try:
            found.held[tier.name] = sum([await tier.get(k) is not None for k in wanted])
        except Exception as exc:
            found.unreachable[tier.name] = reason(exc)
        finally:
            # A tier that failed to answer may fail to close too: already reported above.
            with contextlib.suppress(Exception):
                await tier.close()
    return found
