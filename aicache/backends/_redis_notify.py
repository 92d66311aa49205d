"""Wake-ups for lease waiters: Redis pub/sub, so that nobody polls.

One server (or a Sentinel's primary) uses one ``SUBSCRIBE`` connection per event loop. A Redis
Cluster broadcasts a plain ``PUBLISH`` to every node, so it uses sharded pub/sub instead (Redis
7): a channel lives on the primary that owns its slot, ``SPUBLISH`` reaches only that shard,
and a waiter holds one ``SSUBSCRIBE`` connection per primary it waits on.

A notification connection that fails (a killed node, a failover, a slot that moved away) wakes
every caller waiting on it, so each looks again; the next wait opens a fresh connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from .._log import log

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

__all__ = ["Notifier", "ShardedNotifier", "Waker", "make_waker"]

_CONFIRM_TIMEOUT = 2.0  # seconds for the server to confirm a SUBSCRIBE


class Waker(Protocol):
    """What a lease waiter listens through."""

    @property
    def broken(self) -> bool:
        """Whether this waker is gone for good (a fresh one must replace it)."""
        ...

    def listen(self, channel: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """Subscribed (confirmed by the server) for the block; the event is set on a message."""
        ...

    async def close(self) -> None: ...


def make_waker(client: Any, *, sharded: bool) -> Waker:
    """The waker for ``client``: sharded pub/sub over a ``RedisCluster``, else plain pub/sub."""
    if sharded:
        return ShardedNotifier(client)
    return Notifier(client.pubsub())


class Notifier:
    """One pub/sub connection; each waiting caller gets an event set when its channel fires.

    ``sharded`` uses ``SSUBSCRIBE`` (the connection must be to the primary owning the channels);
    ``owned`` is a connection pool this notifier alone uses, disconnected when it closes.
    """

    def __init__(self, pubsub: PubSub, *, sharded: bool = False, owned: Any = None) -> None:
        self._pubsub = pubsub
        self._sharded = sharded
        self._owned = owned
        self._message = "smessage" if sharded else "message"
        self._confirm = "ssubscribe" if sharded else "subscribe"
        self._dropped = "sunsubscribe" if sharded else "unsubscribe"
        self._events: dict[bytes, set[asyncio.Event]] = {}
        # One future per SUBSCRIBE sent, resolved by the server's confirmation, in order.
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._commands = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self.broken = False

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Event]:
        """Subscribe (confirmed by the server) for the duration of the block."""
        name = channel.encode()
        event = asyncio.Event()
        listeners = self._events.setdefault(name, set())
        listeners.add(event)
        try:
            if self.broken:
                raise ConnectionError("the notification connection is gone")
            confirmed: asyncio.Future[None] | None
            if len(listeners) == 1:
                confirmed = asyncio.get_running_loop().create_future()
                self._pending.setdefault(name, deque()).append(confirmed)
                try:
                    async with self._commands:
                        await self._subscribe(name)
                        if self._reader is None:
                            self._reader = asyncio.ensure_future(self._read())
                except Exception as exc:
                    self._fail(exc)  # confirmations could no longer be matched to requests
                    raise
            else:
                confirmed = self._pending[name][-1] if self._pending.get(name) else None
            if confirmed is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(confirmed), _CONFIRM_TIMEOUT)
                except asyncio.TimeoutError as exc:
                    self._fail(exc)
                    raise
            if self.broken:
                raise ConnectionError("the notification connection is gone")
            yield event
        finally:
            listeners.discard(event)
            if not listeners and self._events.get(name) is listeners:
                del self._events[name]
                if not self.broken:
                    try:
                        async with self._commands:
                            await self._unsubscribe(name)
                    except Exception as exc:
                        log.debug("aicache: unsubscribing from %r failed: %r", name, exc)

    async def _subscribe(self, name: bytes) -> None:
        if self._sharded:
            await self._pubsub.ssubscribe(name)
        else:
            await self._pubsub.subscribe(name)

    async def _unsubscribe(self, name: bytes) -> None:
        if self._sharded:
            await self._pubsub.sunsubscribe(name)
        else:
            await self._pubsub.unsubscribe(name)

    async def _read(self) -> None:
        try:
            while True:
                message = await self._pubsub.get_message(timeout=None)
                if message is None:
                    continue
                channel = message["channel"]
                name = channel if isinstance(channel, bytes) else str(channel).encode()
                kind = message["type"]
                if kind == self._message:
                    for event in self._events.get(name, ()):
                        event.set()
                elif kind == self._confirm:
                    pending = self._pending.get(name)
                    if pending:
                        done = pending.popleft()
                        if not done.done():
                            done.set_result(None)
                        if not pending:
                            del self._pending[name]
                elif kind == self._dropped and name in self._events:
                    # Not asked for: the server dropped it (its slot moved to another node).
                    raise ConnectionError(f"the server unsubscribed {name!r}")
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """The connection is gone: wake every waiter so it re-checks, and stop listening."""
        if self.broken:
            return
        self.broken = True
        log.debug("aicache: the lease notification connection failed: %r", exc)
        for listeners in self._events.values():
            for event in listeners:
                event.set()
        for pending in self._pending.values():
            for done in pending:
                if not done.done():
                    done.set_result(None)  # the listener then finds ``broken`` set
        self._pending.clear()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait({self._reader})
        self.broken = True
        try:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            if self._owned is not None:
                await self._owned.disconnect()
        except Exception as exc:  # closing must not fail shutdown
            log.debug("aicache: closing the lease notification connection failed: %r", exc)


class ShardedNotifier:
    """Sharded pub/sub over a Redis Cluster: one :class:`Notifier` per primary, each on a
    connection of its own to that node, found from the client's slot map."""

    broken = False  # a failed node's notifier is replaced here, never this

    def __init__(self, client: Any) -> None:
        self._client = client
        self._nodes: dict[str, Notifier] = {}

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Event]:
        node = self._client.get_node_from_key(channel)
        notifier = self._nodes.get(node.name)
        if notifier is None or notifier.broken:
            if notifier is not None:
                await notifier.close()
            notifier = self._nodes[node.name] = _node_notifier(node)
        async with notifier.listen(channel) as event:
            yield event

    async def close(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for notifier in nodes:
            await notifier.close()


def _node_notifier(node: Any) -> Notifier:
    """A sharded notifier on a connection of its own to the cluster node ``node``, opened with
    the cluster client's own connection settings (password, TLS, timeouts)."""
    import redis.asyncio as aioredis
    from redis.asyncio.client import PubSub

    pool = aioredis.ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
    return Notifier(PubSub(connection_pool=pool), sharded=True, owned=pool)
