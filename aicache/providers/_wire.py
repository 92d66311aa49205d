"""Recording and replaying HTTP answers under the SDK's own parser (Anthropic and OpenAI).

A cached client's streams and helpers are sent through a copy of the SDK client whose
``httpx2`` client has :class:`WireTransport`. The cached method marks its request with one header
(:data:`MARK`: the cache key and the stats label), which the transport takes off before anything
is sent. A marked request is answered from :class:`~aicache.providers._streams.Streams`: a stored
answer is replayed, an identical one in flight is shared, else the provider is asked through the
user's own ``httpx2`` client and its answer recorded. The SDK parses what comes back exactly as
it parses the provider, so a hit is its own stream class, helper or parsed type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2

from ._mark import MARK, unmark
from ._streams import Opened, Tap, follow

__all__ = ["SyncWireTransport", "WireTransport", "events", "sse_data"]

#: Response headers worth replaying: what the SDKs read from an answer.
_KEPT = ("content-type", "retry-after", "retry-after-ms", "x-should-retry")

#: ``(key, path, model, bypass) -> start -> tap``: how the transport opens a marked call.
Open = Callable[[str, str, str, bool, Callable[[], Awaitable[Opened]]], Awaitable[Tap]]
#: The same for a sync client: returns the tap on the calling thread.
OpenSync = Callable[[str, str, str, bool, Callable[[], Awaitable[Opened]]], Tap]


async def events(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Server-sent event blocks, each with its blank-line terminator, from decoded text."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk.replace("\r\n", "\n")
        while True:
            end = buffer.find("\n\n")
            if end < 0:
                break
            yield buffer[: end + 2]
            buffer = buffer[end + 2 :]
    if buffer.strip():
        yield buffer  # a last event without its terminator: kept, the shape decides if whole


def sse_data(block: str) -> tuple[str | None, str]:
    """``(event name, data)`` of one event block."""
    name: str | None = None
    data: list[str] = []
    for line in block.split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return name, "\n".join(data)


class _TapStream(httpx2.AsyncByteStream):
    """A response body read from a tap: one event (or the whole body) per chunk."""

    def __init__(self, tap: Tap) -> None:
        self._tap = tap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for item in self._tap:
            yield str(item).encode()

    async def aclose(self) -> None:
        await self._tap.aclose()


class _SyncTapStream(httpx2.SyncByteStream):
    """:class:`_TapStream` for a sync client: a stored answer is read on the calling thread, a
    live one from aicache's loop."""

    def __init__(self, tap: Tap) -> None:
        self._tap = tap
        self._items: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[bytes]:
        self._items = follow(self._tap)
        for item in self._items:
            yield str(item).encode()

    def close(self) -> None:
        if self._items is None:  # never read: leave the tap all the same
            self._items = follow(self._tap)
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


def _head(response: httpx2.Response) -> dict[str, Any]:
    kept = {name: response.headers[name] for name in _KEPT if name in response.headers}
    return {"status": response.status_code, "headers": kept}


class WireTransport(httpx2.AsyncBaseTransport):
    """Answers marked requests through the cache; sends the others through ``inner``."""

    def __init__(self, inner: httpx2.AsyncClient, open: Open) -> None:
        self._inner = inner
        self._open = open

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        marked = request.headers.get(MARK)
        if marked is None:
            return await self._send(request)
        del request.headers[MARK]
        key, path, model, bypass = unmark(marked)

        async def start() -> Opened:
            response = await self._send(request)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                items = events(response.aiter_text())
            else:
                items = _whole(response)
            return Opened(_head(response), items, response.aclose)

        tap = await self._open(key, path, model, bypass, start)
        head = tap.head
        return httpx2.Response(
            head["status"], headers=head["headers"], stream=_TapStream(tap), request=request
        )

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        return await self._inner.send(request, stream=True)

    async def aclose(self) -> None:
        """The user's client is the user's to close."""


class SyncWireTransport(httpx2.BaseTransport):
    """:class:`WireTransport` for a sync SDK client. A recorded answer is replayed on the
    calling thread; a provider's answer is read by aicache's loop, which hands the sync
    ``inner`` client's blocking reads to worker threads, so that identical calls from many
    threads share one provider stream."""

    def __init__(self, inner: httpx2.Client, open: OpenSync) -> None:
        self._inner = inner
        self._open = open

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        marked = request.headers.get(MARK)
        if marked is None:
            return self._inner.send(request, stream=True)
        del request.headers[MARK]
        key, path, model, bypass = unmark(marked)

        async def start() -> Opened:
            response = await asyncio.to_thread(self._inner.send, request, stream=True)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                items = events(_threaded(response.iter_text()))
            else:
                body = await asyncio.to_thread(response.read)
                items = _threaded(iter([body.decode(response.encoding or "utf-8", "replace")]))
            return Opened(_head(response), items, lambda: asyncio.to_thread(response.close))

        tap = self._open(key, path, model, bypass, start)
        head = tap.head
        return httpx2.Response(
            head["status"], headers=head["headers"], stream=_SyncTapStream(tap), request=request
        )

    def close(self) -> None:
        """The user's client is the user's to close."""


_END: Any = object()


async def _threaded(items: Iterator[str]) -> AsyncIterator[str]:
    """A blocking iterator read in worker threads, one item at a time."""
    while (item := await asyncio.to_thread(next, items, _END)) is not _END:
        yield item


async def _whole(response: httpx2.Response) -> AsyncIterator[str]:
    yield (await response.aread()).decode(response.encoding or "utf-8", errors="replace")
