"""The physical floors: the least work any cache must do for a hit, written by hand.

- key: ``orjson.dumps(kwargs, OPT_SORT_KEYS)`` + SHA-256 hex digest.
- hand-written decorator: that key + a dict lookup returning the stored object itself (the
  floor the targets are measured against), and a variant that keeps bytes and returns
  ``orjson.loads(bytes)``, a fresh object, which is what aicache promises.
- Redis: a raw ``redis.asyncio`` GET of the 2 KB value, with and without ``orjson.loads``.
- file: read a 2 KB file from a sharded directory + ``orjson.loads``, inline and via
  ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "FileFloor",
    "floor_decorator",
    "floor_key",
    "redis_floor",
]

_SORT = orjson.OPT_SORT_KEYS

Fn = Callable[..., Coroutine[Any, Any, Any]]


def floor_key(kwargs: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(kwargs, option=_SORT)).hexdigest()


def floor_decorator(fn: Fn, *, fresh: bool) -> Fn:
    """The smallest correct-enough caching decorator for keyword-argument calls."""
    store: dict[str, Any] = {}
    if fresh:

        async def copying(**kwargs: Any) -> Any:
            key = hashlib.sha256(orjson.dumps(kwargs, option=_SORT)).hexdigest()
            data = store.get(key)
            if data is not None:
                return orjson.loads(data)
            value = await fn(**kwargs)
            store[key] = orjson.dumps(value)
            return value

        return copying

    async def sharing(**kwargs: Any) -> Any:
        key = hashlib.sha256(orjson.dumps(kwargs, option=_SORT)).hexdigest()
        value = store.get(key)
        if value is not None:
            return value
        value = store[key] = await fn(**kwargs)
        return value

    return sharing


async def redis_floor(url: str, key: str, data: bytes) -> tuple[Any, Callable[[], Awaitable[Any]]]:
    """``(client, loader)`` where ``loader()`` GETs ``key`` and decodes it; the caller closes."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    await client.set(key, data)
    return client, lambda: client.get(key)


class FileFloor:
    """One value in a two-level sharded directory, as a file tier would lay it out."""

    def __init__(self, root: Path, key: str, data: bytes) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        self.path = root / digest[:2] / digest[2:4] / digest
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(data)

    def read(self) -> Any:
        with open(self.path, "rb") as f:
            return orjson.loads(f.read())

    async def read_inline(self) -> Any:
        return self.read()

    async def read_thread(self) -> Any:
        return await asyncio.to_thread(self.read)
