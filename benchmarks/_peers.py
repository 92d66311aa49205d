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

__all__ = ["aiocache_factory", "cashews_factory", "logged", "messages", "quiet_logs"]

Fn = Callable[..., Coroutine[Any, Any, Any]]
Factory = tuple[Callable[[Fn], Fn], Callable[[], Awaitable[None]]]
TTL = 3600


class _Count(logging.Handler):
    """Counts the records a peer logs instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records = 0
        self.messages: dict[str, int] = {}  # the first few distinct messages, with counts

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = record.getMessage()[:300]
        except Exception:
            text = str(record.msg)[:300]
        if text in self.messages or len(self.messages) < 5:
            self.messages[text] = self.messages.get(text, 0) + 1


_counts = {name: _Count() for name in ("aicache", "aiocache", "cashews")}


def quiet_logs() -> None:
    """The caches log failed operations (the peers with a traceback each time): count those
    records instead of printing them.

    The handler still receives each record, so the cost of making it stays in the timings.
    """
    for name, handler in _counts.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False


def messages(name: str) -> dict[str, int]:
    """The first few distinct messages the named library logged, with how often."""
    counter = _counts.get(name)
    return {} if counter is None else dict(counter.messages)


def logged(name: str) -> int:
    """Warnings and errors the named library logged so far (see :func:`quiet_logs`)."""
    counter = _counts.get(name)
    return 0 if counter is None else counter.records


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
