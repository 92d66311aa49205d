"""cashews and aiocache, set up as their docs show, for the same workload as aicache.

Each factory returns ``(decorate, close)``: ``decorate(fn)`` caches an ``async def`` function the
peer's way, ``close()`` releases its connections. Options are the peers' defaults unless a
benchmark names one (``protected=False``, timeouts in the outage family).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import urlparse

__all__ = ["aiocache_factory", "cashews_factory", "quiet_peers"]

Fn = Callable[..., Coroutine[Any, Any, Any]]
Factory = tuple[Callable[[Fn], Fn], Callable[[], Awaitable[None]]]
TTL = 3600


def quiet_peers() -> None:
    """The peers log every failed operation with a traceback; keep that out of the report.

    A handler still receives each record (so the cost of making it stays in the timings), it
    just writes nothing.
    """
    for name in ("aiocache", "cashews"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [logging.NullHandler()]
        logger.propagate = False


def cashews_factory(
    url: str | None, *, protected: bool = True, lock: bool = False, **setup: Any
) -> Factory:
    """cashews ``@cache(ttl=...)`` on ``mem://`` (``url=None``) or Redis (no client-side cache)."""
    from cashews import Cache

    cache = Cache()
    if url is None:
        cache.setup("mem://")
    else:
        cache.setup(url, client_side=False, **setup)

    def decorate(fn: Fn) -> Fn:
        wrapped: Fn = cache(ttl=TTL, protected=protected, lock=lock)(fn)
        return wrapped

    return decorate, cache.close


def aiocache_factory(url: str | None, **options: Any) -> Factory:
    """aiocache ``@cached(ttl=...)`` on its memory cache, or Redis (its JSON serializer)."""
    from aiocache import Cache, cached  # type: ignore[import-untyped]

    kwargs: dict[str, Any] = dict(options)
    if url is None:
        kwargs["cache"] = Cache.MEMORY
    else:
        parsed = urlparse(url)
        kwargs.update(cache=Cache.REDIS, endpoint=parsed.hostname, port=parsed.port or 6379)
    caches: list[Any] = []

    def decorate(fn: Fn) -> Fn:
        wrapper: Any = cached(ttl=TTL, **kwargs)(fn)
        caches.append(wrapper.cache)
        wrapped: Fn = wrapper
        return wrapped

    async def close() -> None:
        for c in caches:
            await c.close()

    return decorate, close
