"""Streams through the cache: recorded whole, replayed item by item, shared while in flight.

A stream is a *head* (JSON: for a wire stream the HTTP status and a few headers) and *items*
(JSON: server-sent event blocks, or a provider's chunk documents). On a miss one background
task (the pump) reads the provider's stream into a :class:`Feed`; every identical call made
while it runs taps the same feed: it gets the items that came so far, then the rest live. A
consumer that stops only leaves the feed; when the last one leaves before the provider's end,
the provider stream is closed and nothing is stored. Only a stream that reached its
provider-defined end, and whose accumulated result ``should_cache`` accepts, is stored; every
other stream is counted under ``streams_incomplete``.

Nothing here knows an SDK or how items travel (HTTP or method wrapping): a :class:`Shape` tells
when a stream is whole and what non-streamed response it adds up to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .. import _clock, _runner, _stats
from .._cache import AICache
from .._controls import switches
from .._log import warn_once
from .._policy import Policy

__all__ = ["Feed", "Opened", "Shape", "Streams", "Tap", "follow"]

#: Version of the stored stream document; another version reads as a miss.
_FORMAT = 1


@dataclass(slots=True)
class Opened:
    """A provider stream that has started: its head, its items as they come, how to stop it."""

    head: dict[str, Any]
    items: AsyncIterator[Any]
    close: Callable[[], Awaitable[None]]


class Shape(Protocol):
    """What one kind of stream (a provider method) means."""

    def failed(self, head: dict[str, Any]) -> bool:
        """An error answer (e.g. HTTP 4xx/5xx): passed on, never stored, not "incomplete"."""

    def ended(self, head: dict[str, Any], items: list[Any]) -> bool:
        """The items reached the provider-defined end of the stream."""

    def result(self, head: dict[str, Any], items: list[Any]) -> Any:
        """The non-streamed response the items add up to (for ``should_cache`` and usage)."""


class Feed:
    """The items of one stream so far, and whether more may come."""

    def __init__(self, shape: Shape | None = None) -> None:
        self.shape = shape
        self.head: dict[str, Any] | None = None
        self.items: list[Any] = []
        self.done = False
        self.error: BaseException | None = None
        self.consumers = 0
        #: A consumer read the stream to its provider-defined end.
        self.delivered = False
        self.pump: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @classmethod
    def stored(cls, head: dict[str, Any], items: list[Any]) -> Feed:
        feed = cls()
        feed.head, feed.items, feed.done = head, items, True
        return feed

    def wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def started(self, head: dict[str, Any]) -> None:
        self.head = head
        self.wake()

    def append(self, item: Any) -> None:
        self.items.append(item)
        self.wake()

    def finish(self, error: BaseException | None = None) -> None:
        self.done, self.error = True, error
        self.wake()

    def whole(self, count: int) -> bool:
        """The first ``count`` items reach the provider-defined end of the stream."""
        head, shape = self.head, self.shape
        return head is not None and shape is not None and shape.ended(head, self.items[:count])

    async def ready(self) -> dict[str, Any]:
        """The head, once the provider answered (raises what opening the stream raised)."""
        while self.head is None:
            if self.done:
                raise self.error or RuntimeError("the stream ended before it started")
            await self._changed.wait()
        return self.head

    async def changed(self) -> None:
        """Until something happens: an item, the end, or a consumer leaving."""
        await self._changed.wait()

    async def follow(self) -> AsyncGenerator[Any, None]:
        """Every item from the first, then the new ones as they arrive."""
        i = 0
        while True:
            changed = self._changed
            while i < len(self.items):
                yield self.items[i]
                i += 1
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await changed.wait()


class Tap:
    """One consumer's view of a feed: ``async for item in tap``, then ``await tap.aclose()``."""

    def __init__(self, feed: Feed, leave: Callable[[Feed], None]) -> None:
        self.feed = feed
        self._leave = leave
        self._items = feed.follow()
        self._read = 0
        self._open = True
        feed.consumers += 1

    @property
    def head(self) -> dict[str, Any]:
        assert self.feed.head is not None
        return self.feed.head

    def __aiter__(self) -> Tap:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self._items.__anext__()
        except BaseException:
            await self.aclose()
            raise
        self._read += 1
        return item

    async def aclose(self) -> None:
        if self._open:
            self._leaving()
            await self._items.aclose()

    def _leaving(self) -> None:
        self._open = False
        feed = self.feed
        feed.consumers -= 1
        if not feed.delivered and feed.whole(self._read):
            feed.delivered = True
        self._leave(feed)

    def drain(self) -> Iterator[Any]:
        """The items of a finished feed (a stored stream), read without an event loop."""
        assert self.feed.done
        try:
            feed = self.feed
            while self._read < len(feed.items):
                self._read += 1
                yield feed.items[self._read - 1]
            if feed.error is not None:
                raise feed.error
        finally:
            if self._open:
                self._leaving()  # the async items were never started: nothing to close


def follow(tap: Tap) -> Generator[Any, None, None]:
    """A sync consumer's items of ``tap``: a stored stream is read on this thread; a live one
    item by item from aicache's loop, where its feed is filled."""
    if tap.feed.done:
        yield from tap.drain()
        return
    try:
        while True:
            try:
                yield _runner.run(tap.__anext__())
            except StopAsyncIteration:
                return
    finally:
        _runner.run(tap.aclose())


def _document(value: Any) -> tuple[dict[str, Any], list[Any]] | None:
    """``(head, items)`` of a stored stream document, or ``None`` if it is not one."""
    if (
        type(value) is dict
        and value.get("stream") == _FORMAT
        and type(value.get("head")) is dict
        and type(value.get("items")) is list
    ):
        return value["head"], value["items"]
    return None


class Streams:
    """The streams in flight for one cached client, by key."""

    def __init__(self) -> None:
        self._flights: dict[str, Feed] = {}

    @staticmethod
    def replay(value: Any) -> Tap | None:
        """A tap on a stored stream document found by a lookup (``None`` if it is not one)."""
        stored = _document(value)
        return None if stored is None else Tap(Feed.stored(*stored), _stay)

    async def open(
        self,
        cache: AICache | None,
        key: str,
        policy: Policy,
        shape: Shape,
        start: Callable[[], Awaitable[Opened]],
        *,
        bypass: bool = False,
    ) -> Tap:
        """A tap on the stream for ``key``: stored, in flight, or started now; its head is ready.
        Without a ``cache`` (switched off since the call was marked) nothing is read or stored."""
        label = policy.label
        read, write = switches()
        if cache is None:
            read = write = False
        fresh = bypass or not read
        if not fresh:
            feed = self._flight(key)
            if feed is None and cache is not None:
                found = await cache.lookup(key, label, allow_stale=False)
                replayed = self.replay(found[0]) if found is not None else None
                if replayed is not None:
                    return replayed
                feed = self._flight(key)
            if feed is not None:
                _stats.count(label, "coalesced")
                tap = Tap(feed, self._leave)
                await self._ready(tap)
                return tap
        if cache is not None:
            cache.replay_miss(key, label)
        _stats.miss(label, bypass=fresh)
        feed = Feed(shape)
        if not fresh:
            self._flights[key] = feed
        tap = Tap(feed, self._leave)
        feed.pump = asyncio.ensure_future(self._pump(cache, key, policy, shape, start, feed, write))
        await self._ready(tap)
        return tap

    @staticmethod
    async def _ready(tap: Tap) -> None:
        try:
            await tap.feed.ready()
        except BaseException:
            await tap.aclose()
            raise

    def _flight(self, key: str) -> Feed | None:
        feed = self._flights.get(key)
        if feed is None or feed.pump is None or feed.pump.get_loop() is not _loop():
            return None
        return feed

    def _leave(self, feed: Feed) -> None:
        """A consumer stopped: with nobody left and nobody served to the end, the provider
        stream is stopped and nothing is stored."""
        if feed.pump is None or feed.pump.done():
            return
        if feed.consumers == 0 and not feed.delivered:
            feed.pump.cancel()
        feed.wake()

    async def _pump(
        self,
        cache: AICache | None,
        key: str,
        policy: Policy,
        shape: Shape,
        start: Callable[[], Awaitable[Opened]],
        feed: Feed,
        write: bool,
    ) -> None:
        label = policy.label
        began = _clock.monotonic()
        try:
            whole = await self._read(start, feed, label)
            if whole is None:  # an error answer, passed on as it came
                return
            # Stored only once a consumer has been served the whole stream.
            while whole and not feed.delivered and feed.consumers:
                await feed.changed()
            if not (whole and feed.delivered):
                _stats.count(label, "streams_incomplete")
                return
            assert feed.head is not None
            await self._settle(cache, key, policy, shape, feed.head, feed.items, write, began)
        except asyncio.CancelledError:
            _stats.count(label, "streams_incomplete")
            if not feed.done:
                feed.finish(asyncio.CancelledError())
        finally:
            if self._flights.get(key) is feed:
                del self._flights[key]

    @staticmethod
    async def _read(
        start: Callable[[], Awaitable[Opened]], feed: Feed, label: _stats.Label
    ) -> bool | None:
        """Read the provider's stream into ``feed``: whether it reached its end (``None`` for
        a call that failed or an error answer). Raises only ``CancelledError`` (nobody left)."""
        shape = feed.shape
        assert shape is not None
        try:
            opened = await start()
        except Exception as exc:
            _stats.count(label, "failures")
            feed.finish(exc)
            return None
        feed.started(opened.head)
        try:
            async for item in opened.items:
                feed.append(item)
        except Exception as exc:  # a cut connection, a timeout: the consumers see it
            feed.finish(exc)
            return False
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(opened.close())
        feed.finish()
        if shape.failed(opened.head):
            return None
        return shape.ended(opened.head, feed.items)

    @staticmethod
    async def _settle(
        cache: AICache | None,
        key: str,
        policy: Policy,
        shape: Shape,
        head: dict[str, Any],
        items: list[Any],
        write: bool,
        began: float,
    ) -> None:
        """A whole stream: count what it cost, and store it if its result is worth keeping."""
        label = policy.label
        try:
            result = shape.result(head, items)
            cost = policy.cost(result) if policy.cost else (None, None)
        except Exception as exc:
            warn_once(f"stream-result:{label[0]}", "aicache: %s: %r; not storing", label[0], exc)
            _stats.count(label, "not_stored")
            return
        _stats.spent(label, cost[0], cost[1].get("tokens") if cost[1] else None)
        if not write or cache is None:
            return
        if not cache.accepts(result, policy):
            return
        document = {"stream": _FORMAT, "head": head, "items": items}
        await cache.store(key, document, policy, _clock.monotonic() - began, cost)


def _stay(feed: Feed) -> None:
    """Leaving a stored stream stops nothing."""


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
