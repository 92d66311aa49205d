"""What the framework integrations share: a cache seam that stores a framework's own values
under keys made from the framework's own request identity, on aicache's tiers and stats.

A framework (LangChain, LiteLLM) decides what a request is and hands over a value; the seam
keys it (``aicache:<namespace>:<function>:<sha256>``), signs and stores it through
:class:`aicache.AICache`, and counts hits, misses and dollars under a
``(function, provider, model)`` label like every other cached call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .. import _stats
from .._cache import AICache
from .._config import get_config
from .._controls import switches
from .._keys import KEY_PREFIX, check_name, make_key
from .._log import warn_once
from .._policy import Cost, Policy, seconds
from .._shared import shared_cache
from ..backends import BackendSpec

__all__ = ["Seam"]

#: ``ttl=`` left at its default: the configured ttl.
TTL_DEFAULT: Any = object()


class Seam:
    """The cache behind one framework adapter.

    ``cache``: an :class:`aicache.AICache` of your own; else the shared cache for ``backend``
    under the current settings (as ``@ai_cached`` uses), which follows ``aicache.configure``.
    """

    def __init__(
        self,
        function: str,
        *,
        ttl: float | timedelta | None = TTL_DEFAULT,
        backend: BackendSpec = None,
        namespace: str | None = None,
        cache: AICache | None = None,
    ) -> None:
        self.function = function
        self.ttl = ttl if ttl is TTL_DEFAULT else seconds("ttl", ttl)
        self.backend = backend
        self.namespace = None if namespace is None else check_name("namespace", namespace)
        self.own = cache

    def cache(self) -> AICache | None:
        """The cache to use now; ``None`` when caching is switched off in the settings."""
        if self.own is not None:
            return self.own
        return shared_cache(self.backend) if get_config().enabled else None

    def key(self, cache: AICache, document: Any) -> str:
        return make_key(self._namespace(cache), self.function, document)

    def _namespace(self, cache: AICache) -> str:
        return self.namespace or cache.namespace

    def _ttl(self, cache: AICache, ttl: float | Any | None) -> float | None:
        if ttl is not TTL_DEFAULT:
            return ttl
        return cache.config.ttl if self.ttl is TTL_DEFAULT else self.ttl

    async def get(self, document: Any, label: _stats.Label) -> Any:
        """The value stored for ``document`` (a hit, counted), or ``None`` (a miss, counted)."""
        cache = self.cache()
        if cache is None:
            return None
        if not switches()[0]:  # cache_control(read=False)
            _stats.miss(label, bypass=True)
            return None
        found = await cache.lookup(self.key(cache, document), label, allow_stale=False)
        if found is None:
            _stats.miss(label)
            return None
        return found[0]

    async def put(
        self,
        document: Any,
        value: Any,
        label: _stats.Label,
        priced: Callable[[], Cost],
        ttl: float | Any | None = TTL_DEFAULT,
    ) -> bool:
        """Store ``value`` for ``document``; what it cost (``priced()``) is counted as spent now
        and as saved on every hit. Returns whether any tier stored it."""
        cache = self.cache()
        if cache is None or not switches()[1]:  # cache_control(write=False)
            return False
        try:
            cost = priced()
        except Exception as exc:  # a price is not worth failing the framework's call for
            warn_once(f"cost:{label}", "aicache: pricing %s failed: %r", label, exc)
            cost = (None, None)
        _stats.spent(label, cost[0], cost[1].get("tokens") if cost[1] else None)
        policy = Policy(label, self._ttl(cache, ttl))
        return await cache.store(self.key(cache, document), value, policy, 0.0, cost)

    async def delete(self, document: Any) -> bool:
        cache = self.cache()
        return cache is not None and await cache.chain.delete(self.key(cache, document))

    async def clear(self) -> int:
        """Remove this adapter's entries (its function, in its namespace) from every tier."""
        cache = self.cache()
        if cache is None:
            return 0
        return await cache.chain.clear(f"{KEY_PREFIX}:{self._namespace(cache)}:{self.function}:")
