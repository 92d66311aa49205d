"""aicache: repeated AI provider calls that cost nothing and return in microseconds.

    from aicache import ai_cached

    @ai_cached(ttl=3600)
    async def classify(features: dict, kind: str) -> dict: ...

See the README and ``docs/guide.md``.
"""

from __future__ import annotations

from . import stats
from ._cache import AICache
from ._codecs import register_type
from ._config import CacheConfig, configure, get_config
from ._controls import cache_control
from ._decorator import (
    CachedFunction,
    CacheHandle,
    SyncCachedFunction,
    SyncCacheHandle,
    ai_cached,
)
from ._errors import AICacheError, BackendError, ConfigError, KeyBuildError, ReplayMiss
from ._info import CacheInfo, cache_info
from ._policy import Policy
from ._pricing import Price, price_for, set_prices
from ._shared import close, lifespan
from .backends import Backend, MemoryBackend
from .providers import CachedClient, Retry, cached_client

__version__ = "0.1.0"

__all__ = [
    "AICache",
    "AICacheError",
    "Backend",
    "BackendError",
    "CacheConfig",
    "CacheHandle",
    "CacheInfo",
    "CachedClient",
    "CachedFunction",
    "ConfigError",
    "KeyBuildError",
    "MemoryBackend",
    "Policy",
    "Price",
    "ReplayMiss",
    "Retry",
    "SyncCacheHandle",
    "SyncCachedFunction",
    "__version__",
    "ai_cached",
    "cache_control",
    "cache_info",
    "cached_client",
    "close",
    "configure",
    "get_config",
    "lifespan",
    "price_for",
    "register_type",
    "set_prices",
    "stats",
]
