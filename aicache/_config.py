"""Settings: a frozen :class:`CacheConfig`, read from the environment when first needed.

Nothing is read at import. ``aicache.configure(...)`` replaces the settings in code; every
decorated function and cached client picks the change up on its next call.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._keys import check_name
from ._policy import seconds
from .backends import BACKEND_NAMES, REDIS_MODES, parse_redis_target

__all__ = ["CacheConfig", "configure", "generation", "get_config"]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/aicache``, else ``~/.cache/aicache``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aicache"


@dataclass(frozen=True)
class CacheConfig:
    """Every setting, with its default. Environment variables are listed in ``.env.example``."""

    enabled: bool = True
    backend: str = "auto"
    ttl: float | None = 168 * 3600.0
    namespace: str = "default"
    cache_dir: Path = field(default_factory=default_cache_dir)
    redis_url: str | None = None
    #: ``auto`` reads the URL (``?cluster=true``, ``redis+sentinel://``); ``standalone``,
    #: ``cluster`` or ``sentinel`` say it outright.
    redis_mode: str = "auto"
    #: How long an entry stored with ``ttl=None`` lives in Redis: every key gets an expiry.
    redis_max_ttl: float = 30 * 24 * 3600.0
    secret: bytes | None = field(default=None, repr=False)
    #: Secrets an entry may also be signed with (verified, never used to sign): a rotation.
    secret_previous: tuple[bytes, ...] = field(default=(), repr=False)
    #: Per-operation Redis socket timeout, seconds. A cache must answer fast or step aside.
    redis_timeout: float = 0.25
    redis_connect_timeout: float = 1.0
    redis_max_connections: int = 64
    #: Seconds a failed tier is skipped before one probe call tries it again.
    cooldown: float = 5.0
    memory_max_entries: int = 10_000
    memory_max_bytes: int = 256 * 1024 * 1024
    file_max_bytes: int = 1024 * 1024 * 1024
    max_entry_bytes: int = 16 * 1024 * 1024
    lock: bool = False
    lock_lease: float = 10.0
    lock_wait: float = 60.0
    prices_file: Path | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"backend must be one of {BACKEND_NAMES}, not {self.backend!r}")
        check_name("namespace", self.namespace)
        if self.redis_mode not in REDIS_MODES:
            raise ConfigError(
                f"redis_mode must be one of {', '.join(REDIS_MODES)}, not {self.redis_mode!r}"
            )
        if self.redis_url is not None:
            try:
                parse_redis_target(self.redis_url, self.redis_mode)
            except ConfigError as exc:
                raise ConfigError(f"redis_url is not usable: {exc}") from None
        if self.ttl is not None:
            object.__setattr__(self, "ttl", seconds("ttl", self.ttl))
        for name in (
            "redis_timeout",
            "redis_connect_timeout",
            "redis_max_ttl",
            "lock_lease",
            "lock_wait",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.cooldown < 0:
            raise ConfigError(f"cooldown must be >= 0 seconds, not {self.cooldown!r}")
        for name in (
            "redis_max_connections",
            "memory_max_entries",
            "memory_max_bytes",
            "file_max_bytes",
            "max_entry_bytes",
        ):
            if not getattr(self, name) >= 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if isinstance(self.secret, str):
            object.__setattr__(self, "secret", self.secret.encode())
        previous = self.secret_previous
        if isinstance(previous, str | bytes):
            raise ConfigError(
                "secret_previous must be a list of secrets, not one string: "
                "secret_previous=['old-secret']"
            )
        object.__setattr__(
            self,
            "secret_previous",
            tuple(p.encode() if isinstance(p, str) else p for p in previous),
        )
        if self.secret_previous and self.secret is None:
            raise ConfigError(
                "secret_previous (AI_CACHE_SECRET_PREVIOUS) needs a current secret: set "
                "AI_CACHE_SECRET (secret=...) as well"
            )
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    def replace(self, **changes: Any) -> CacheConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> CacheConfig:
        """Read the ``AI_CACHE_*`` variables and ``REDIS_URL``; a bad value names its variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, (name, parse) in _ENV.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError as exc:
                raise ConfigError(f"{var}={raw!r} is not valid: {exc}") from None
        values.update(overrides)
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (check the AI_CACHE_* environment variables)") from None


def _bool(raw: str) -> bool:
    low = raw.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("use true or false")


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _hours(raw: str) -> float:
    return _positive(raw) * 3600.0


def _ms(raw: str) -> float:
    return _positive(raw) / 1000.0


def _count(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _mb(raw: str) -> int:
    return int(_positive(raw) * 1024 * 1024)


def _backend(raw: str) -> str:
    if raw.lower() not in BACKEND_NAMES:
        raise ValueError(f"use one of {', '.join(BACKEND_NAMES)}")
    return raw.lower()


def _path(raw: str) -> Path:
    return Path(raw).expanduser()  # .env files and process managers do not expand "~"


def _namespace(raw: str) -> str:
    return check_name("namespace", raw)  # its ConfigError is a ValueError: named below


def _redis_url(raw: str) -> str:
    parse_redis_target(raw)  # its ConfigError is a ValueError: named below
    return raw


def _redis_mode(raw: str) -> str:
    if raw.lower() not in REDIS_MODES:
        raise ValueError(f"use one of {', '.join(REDIS_MODES)}")
    return raw.lower()


def _secrets(raw: str) -> tuple[bytes, ...]:
    return tuple(part.strip().encode() for part in raw.split(",") if part.strip())


def _nonneg(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number >= 0")
    return value


_ENV: dict[str, tuple[str, Any]] = {
    "AI_CACHE_ENABLED": ("enabled", _bool),
    "AI_CACHE_BACKEND": ("backend", _backend),
    "AI_CACHE_TTL_HOURS": ("ttl", _hours),
    "AI_CACHE_DIR": ("cache_dir", _path),
    "AI_CACHE_NAMESPACE": ("namespace", _namespace),
    "REDIS_URL": ("redis_url", _redis_url),
    "AI_CACHE_SECRET": ("secret", str.encode),
    "AI_CACHE_REDIS_MODE": ("redis_mode", _redis_mode),
    "AI_CACHE_REDIS_MAX_TTL_HOURS": ("redis_max_ttl", _hours),
    "AI_CACHE_SECRET_PREVIOUS": ("secret_previous", _secrets),
    "AI_CACHE_REDIS_TIMEOUT_MS": ("redis_timeout", _ms),
    "AI_CACHE_REDIS_CONNECT_TIMEOUT_MS": ("redis_connect_timeout", _ms),
    "AI_CACHE_REDIS_MAX_CONNECTIONS": ("redis_max_connections", _count),
    "AI_CACHE_COOLDOWN_S": ("cooldown", _nonneg),
    "AI_CACHE_MEMORY_MAX_ENTRIES": ("memory_max_entries", _count),
    "AI_CACHE_MEMORY_MAX_MB": ("memory_max_bytes", _mb),
    "AI_CACHE_FILE_MAX_MB": ("file_max_bytes", _mb),
    "AI_CACHE_MAX_ENTRY_BYTES": ("max_entry_bytes", _count),
    "AI_CACHE_LOCK": ("lock", _bool),
    "AI_CACHE_LOCK_LEASE_S": ("lock_lease", _positive),
    "AI_CACHE_LOCK_WAIT_S": ("lock_wait", _positive),
    "AI_CACHE_PRICES": ("prices_file", _path),
}

_state_lock = threading.Lock()
_config: CacheConfig | None = None
_generation = 0


def get_config() -> CacheConfig:
    """The settings in force: those given to :func:`configure`, else the environment's."""
    global _config
    if _config is None:
        with _state_lock:
            if _config is None:
                _config = CacheConfig.from_env()
    return _config


def configure(config: CacheConfig | None = None, **changes: Any) -> CacheConfig:
    """Set the settings in code: a whole ``CacheConfig``, or changes to the current one.

    ``configure()`` with no arguments drops the settings so that the environment is read again.
    """
    global _config, _generation
    with _state_lock:
        if config is None and not changes:
            new = None
        else:
            base = config or _config or CacheConfig.from_env()
            new = base.replace(**changes) if changes else base
        _config = new
        _generation += 1
    return get_config()


def generation() -> int:
    """Bumped by every :func:`configure`, so cached objects built from settings know to rebuild."""
    return _generation
