"""A near cache for the Redis tier: hot entries held in process memory, kept coherent by Redis.

One dedicated connection turns on Redis's client-side caching in broadcast mode for the keys under
a prefix (``CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX <prefix>``) and listens on
``__redis__:invalidate``: Redis then names every key under the prefix that any client writes,
deletes, or that expires or is evicted, and this process drops its copy of it. It works over
RESP2, so over any Redis 6+ and through Sentinel.

A copy is served only while that channel is known to be alive. When it is lost (closed, or
silent: it is pinged after ``check`` seconds of quiet and must answer within ``check`` more),
every copy is dropped and nothing is kept until it is back. A read that was in flight when its key
changed (or when the channel was lost) does not keep what it read.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from .._log import log, warn_once

__all__ = ["CHANNEL", "NearCache"]

CHANNEL = "__redis__:invalidate"
_RETRY_FIRST = 0.05
_RETRY_MOST = 2.0


class NearCache:
    """Copies of Redis entries for one event loop's pool, and the channel that keeps them true."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        max_entries: int,
        max_bytes: int,
        prefix: str,
        check: float,
    ) -> None:
        self._connect = connect  # a new redis-py connection, not from the pool
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.prefix = prefix
        self.check = check
        self.live = False  # the channel is subscribed and answering
        self._copies: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._epoch = 0  # moves when the channel comes or goes: reads begun before keep nothing
        self._reads: dict[str, int] = {}  # reads in flight, by key
        self._changed: set[str] = set()  # keys invalidated while a read of them was in flight
        self._task: asyncio.Task[None] | None = None
        self.hits = 0
        self.invalidated = 0
        self.losses = 0

    # -- the copies ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """This process's copy of ``key``, if it holds one (never suspends)."""
        data = self._copies.get(key)
        if data is not None:
            self._copies.move_to_end(key)
            self.hits += 1
        return data

    def begin(self, key: str) -> int:
        """Note a read of ``key`` going to Redis; pass what it returns to :meth:`end`."""
        self._reads[key] = self._reads.get(key, 0) + 1
        return self._epoch

    def end(self, key: str, data: bytes | None, epoch: int) -> None:
        """A read of ``key`` came back with ``data``: keep a copy unless the key changed or the
        channel came or went meanwhile."""
        left = self._reads[key] - 1
        changed = key in self._changed
        if left:
            self._reads[key] = left
        else:
            del self._reads[key]
            self._changed.discard(key)
        if data is None or changed or not self.live or epoch != self._epoch:
            return
        if len(data) > self.max_bytes:
            return
        old = self._copies.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._copies[key] = data
        self._bytes += len(data)
        while len(self._copies) > self.max_entries or self._bytes > self.max_bytes:
            self._bytes -= len(self._copies.popitem(last=False)[1])

    def forget(self, key: str) -> None:
        """Drop the copy of ``key`` (it changed); a read of it in flight keeps nothing."""
        old = self._copies.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        if key in self._reads:
            self._changed.add(key)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._copies if k.startswith(prefix)]:
            self.forget(key)
        self._changed.update(k for k in self._reads if k.startswith(prefix))

    def drop_all(self) -> None:
        self._copies.clear()
        self._bytes = 0
        self._epoch += 1

    def __len__(self) -> int:
        return len(self._copies)

    # -- the invalidation channel -------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.live = False
        self.drop_all()

    async def _listen(self) -> None:
        retry = _RETRY_FIRST
        while True:
            conn = None
            try:
                conn = self._connect()
                await conn.connect()
                await self._subscribe(conn)
                retry = _RETRY_FIRST
                await self._follow(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.losses += 1
                warn_once(
                    "redis:near",
                    "aicache: the Redis near cache lost its invalidation channel (%r); serving "
                    "from Redis until it is back",
                    exc,
                )
                log.debug("aicache: near cache channel lost: %r", exc)
            finally:
                self.live = False
                self.drop_all()
                if conn is not None:
                    await _disconnect(conn)
            await asyncio.sleep(retry)
            retry = min(retry * 2, _RETRY_MOST)

    async def _subscribe(self, conn: Any) -> None:
        await conn.send_command("CLIENT", "ID")
        own_id = await conn.read_response()
        await conn.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST", "PREFIX", self.prefix
        )
        await conn.read_response()
        await conn.send_command("SUBSCRIBE", CHANNEL)
        await conn.read_response()
        self.drop_all()  # anything read before this point was not watched
        self.live = True

    async def _follow(self, conn: Any) -> None:
        pinged = False
        while True:
            try:
                # With its own timeout, redis-py answers None when nothing came in that time.
                message = await conn.read_response(timeout=self.check, disconnect_on_error=False)
            except (RedisTimeoutError, asyncio.TimeoutError):
                message = None
            if message is None:
                if pinged:
                    raise ConnectionError("the invalidation channel stopped answering")
                await conn.send_command("PING")
                pinged = True
                continue
            pinged = False  # anything from the server proves the channel alive
            self._received(message)

    def _received(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) < 3 or message[0] != b"message":
            return  # a pong, a subscribe confirmation
        keys = message[2]
        if keys is None:  # FLUSHDB / FLUSHALL
            self.invalidated += len(self._copies)
            self.drop_all()
            self._changed.update(self._reads)
            return
        for raw in keys:
            key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            self.invalidated += 1
            self.forget(key)


async def _disconnect(conn: Any) -> None:
    try:
        await conn.disconnect()
    except Exception as exc:  # closing must not fail the retry loop
        log.debug("aicache: closing the near cache channel failed: %r", exc)
