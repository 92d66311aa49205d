"""Storage tiers. A tier stores bytes under a key with a TTL; a new tier is one module here.

``backend=`` options accept a tier name (``"memory"``, ``"file"``, ``"redis"``, ``"auto"``), a
:class:`Backend` instance, or a list of either, tried in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .._errors import ConfigError, EntryError, WriteRefused
from ._base import WOULD_BLOCK, Backend, Leases, Nowait
from ._memory import MemoryBackend
from ._redis_target import MODES as REDIS_MODES
from ._redis_target import parse_target as parse_redis_target
from ._redis_target import sync_client as redis_sync_client

if TYPE_CHECKING:
    from .._config import CacheConfig
    from ._file import FileBackend
    from ._redis import RedisBackend

__all__ = [
    "BACKEND_NAMES",
    "REDIS_MODES",
    "TIERS",
    "WOULD_BLOCK",
    "Backend",
    "BackendSpec",
    "EntryError",
    "FileBackend",
    "Leases",
    "MemoryBackend",
    "Nowait",
    "RedisBackend",
    "WriteRefused",
    "build_backends",
    "named_backend",
    "parse_redis_target",
    "redis_sync_client",
]

BackendSpec = str | Backend | Sequence[str | Backend] | None


def __getattr__(name: str) -> object:
    # The file and Redis tiers load on first use: redis is an optional extra.
    if name == "FileBackend":
        from ._file import FileBackend

        return FileBackend
    if name == "RedisBackend":
        from ._redis import RedisBackend

        return RedisBackend
    raise AttributeError(name)


def _memory(config: CacheConfig) -> Backend:
    return MemoryBackend(config.memory_max_entries, config.memory_max_bytes)


def _file(config: CacheConfig) -> Backend:
    from ._file import FileBackend

    return FileBackend(
        config.cache_dir, max_bytes=config.file_max_bytes, max_entry_bytes=config.max_entry_bytes
    )


def _redis(config: CacheConfig) -> Backend:
    if not config.redis_url:
        raise ConfigError("backend 'redis' needs a URL: set REDIS_URL or redis_url=...")
    from ._redis import RedisBackend

    return RedisBackend(
        config.redis_url,
        timeout=config.redis_timeout,
        connect_timeout=config.redis_connect_timeout,
        max_connections=config.redis_max_connections,
        mode=config.redis_mode,
        max_ttl=config.redis_max_ttl,
    )


#: The tiers a name builds from the settings. A new named tier is one module and one line here.
TIERS: dict[str, Callable[[CacheConfig], Backend]] = {
    "memory": _memory,
    "file": _file,
    "redis": _redis,
}
#: What ``backend=`` and ``AI_CACHE_BACKEND`` accept: ``"auto"`` or a name in :data:`TIERS`.
BACKEND_NAMES = ("auto", *TIERS)


def named_backend(name: str, config: CacheConfig) -> Backend:
    """A new tier built from the settings."""
    build = TIERS.get(name)
    if build is None:
        choices = ", ".join(repr(n) for n in BACKEND_NAMES)
        raise ConfigError(f"unknown backend {name!r}: use one of {choices}")
    return build(config)


def build_backends(spec: BackendSpec, config: CacheConfig) -> list[Backend]:
    """The tiers a ``backend=`` option names, in order. ``None`` means the configured backend."""
    if spec is None:
        spec = config.backend
    items: Sequence[str | Backend] = [spec] if isinstance(spec, str | Backend) else spec
    tiers: list[Backend] = []
    for item in items:
        if isinstance(item, Backend):
            tiers.append(item)
        elif item == "auto":
            names = (["redis"] if config.redis_url else []) + ["file", "memory"]
            tiers.extend(named_backend(n, config) for n in names)
        elif isinstance(item, str):
            tiers.append(named_backend(item, config))
        else:
            raise ConfigError(f"backend= takes names or Backend instances, not {item!r}")
    if not tiers:
        raise ConfigError("backend= names no tier")
    return tiers
