"""Storage tiers. A tier stores bytes under a key with a TTL; a new tier is one module here.

``backend=`` options accept a tier name (``"memory"``, ``"file"``, ``"redis"``, ``"auto"``), a
:class:`Backend` instance, or a list of either, tried in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import ConfigError, EntryError, WriteRefused
from ._base import Backend
from ._memory import MemoryBackend

if TYPE_CHECKING:
    from .._config import CacheConfig
    from ._file import FileBackend
    from ._redis import RedisBackend

__all__ = [
    "Backend",
    "BackendSpec",
    "EntryError",
    "FileBackend",
    "MemoryBackend",
    "RedisBackend",
    "WriteRefused",
    "build_backends",
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


def named_backend(name: str, config: CacheConfig) -> Backend:
    """A new tier built from the settings."""
    if name == "memory":
        return MemoryBackend(config.memory_max_entries, config.memory_max_bytes)
    if name == "file":
        from ._file import FileBackend

        return FileBackend(
            config.cache_dir,
            max_bytes=config.file_max_bytes,
            max_entry_bytes=config.max_entry_bytes,
        )
    if name == "redis":
        if not config.redis_url:
            raise ConfigError("backend 'redis' needs a URL: set REDIS_URL or redis_url=...")
        from ._redis import RedisBackend

        return RedisBackend(
            config.redis_url,
            timeout=config.redis_timeout,
            connect_timeout=config.redis_connect_timeout,
            max_connections=config.redis_max_connections,
        )
    raise ConfigError(f"unknown backend {name!r}: use 'auto', 'memory', 'file' or 'redis'")


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
