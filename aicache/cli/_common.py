"""What every command shares: exit codes, the usage error, settings with the flags' overrides,
and the tiers another process can see, split into those that answer and those that do not."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .._config import CacheConfig, configure
from .._errors import ConfigError, reason
from .._keys import KEY_PREFIX, check_name
from ..backends import Backend, MemoryBackend, build_backends

__all__ = [
    "FAILURE",
    "OK",
    "USAGE",
    "Tiers",
    "UsageError",
    "flag_error",
    "latency_bounds",
    "namespaces_of",
    "open_tiers",
    "run",
    "settings",
]

OK, FAILURE, USAGE = 0, 1, 2
T = TypeVar("T")


class UsageError(Exception):
    """A mistake in how the command was called: exit code 2."""


def flag_error(flag: str, value: Any, exc: ConfigError) -> UsageError:
    """A settings error about a flag's value, naming the flag (not the setting behind it)."""
    why = reason(exc).split(" is not usable: ", 1)[-1]
    return UsageError(f"{flag} {value!r} is not usable: {why}")


def settings(args: argparse.Namespace) -> CacheConfig:
    """The environment's settings with the command line's overrides, put in force. A bad flag
    value is reported under the flag's name; a bad variable under the variable's."""
    changes: dict[str, Any] = {}
    redis = getattr(args, "redis", None)
    if redis:
        try:
            CacheConfig(redis_url=redis)
        except ConfigError as exc:
            raise flag_error("--redis", redis, exc) from None
        changes["redis_url"] = redis
        changes["backend"] = "auto"
    namespace = getattr(args, "namespace", None)
    if namespace:
        try:
            changes["namespace"] = check_name("--namespace", namespace)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    return configure(CacheConfig.from_env(**changes))


def latency_bounds(text: str) -> tuple[float, float]:
    """``--latency LO,HI`` (or one figure) in seconds."""
    try:
        lo, _, hi = text.partition(",")
        bounds = (float(lo), float(hi or lo))
    except ValueError:
        raise UsageError(f"--latency {text!r}: give seconds as LO,HI, e.g. 2,5") from None
    if not 0 <= bounds[0] <= bounds[1] < 600:
        raise UsageError(f"--latency {text!r}: need 0 <= LO <= HI < 600 seconds")
    return bounds


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class Tiers:
    """The configured tiers other processes can see: those that answered a probe, and the others
    with why (``{"redis": "Connection refused"}``)."""

    reachable: list[Backend]
    unreachable: dict[str, str]

    def names(self) -> str:
        return ", ".join(t.name for t in self.reachable) or "none"

    def warning(self) -> str | None:
        """One line naming the tiers that could not be read, or ``None``."""
        if not self.unreachable:
            return None
        down = "; ".join(f"{name}: {why}" for name, why in self.unreachable.items())
        return f"not reachable, left out: {down}"

    async def close(self) -> None:
        for t in self.reachable:
            await t.close()


async def open_tiers(config: CacheConfig) -> Tiers:
    """Build the shared tiers and probe each once; a tier that fails the probe is left out."""
    tiers = [t for t in build_backends(config.backend, config) if not isinstance(t, MemoryBackend)]
    if not tiers:
        raise UsageError(
            f"the configured backend {config.backend!r} keeps entries inside each process; "
            "set AI_CACHE_BACKEND=auto (or file/redis) or pass --redis URL to look at a shared tier"
        )
    found = Tiers([], {})
    for tier in tiers:
        try:
            async for _ in tier.keys(f"{KEY_PREFIX}:"):
                break
        except Exception as exc:
            found.unreachable[tier.name] = reason(exc)
            await _quietly_close(tier)
        else:
            found.reachable.append(tier)
    return found


async def _quietly_close(tier: Backend) -> None:
    with contextlib.suppress(Exception):  # a tier that never connected may fail to close too
        await tier.close()


def namespaces_of(keys: Sequence[str]) -> dict[str, int]:
    """Entries per namespace among ``aicache:<namespace>:...`` keys."""
    counts: dict[str, int] = {}
    for key in keys:
        parts = key.split(":")
        if len(parts) >= 3 and parts[0] == KEY_PREFIX:
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    return counts
