"""Single-flight within one process: one real call per key, however many callers want it.

The first caller of a key starts a flight; later callers join it and each receives a copy of the
result. A caller that gives up (cancelled) leaves the call running for the others, and the last
one to give up stops it. A flight may also run for nobody (a background refresh).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ._codecs import dump_value, load_value
from ._envelope import Entry

__all__ = ["Flight", "Flights", "Outcome"]

_UNCOPYABLE = ("", b"")


@dataclass(slots=True)
class Outcome:
    """What one real call (or another process's stored entry) produced."""

    value: Any
    entry: Entry | None  # None when the value was not stored
    frozen: tuple[str | None, bytes] | None = None  # the serialised value, made on first copy
    size: int = -1  # bytes stored, when known

    def copy(self) -> Any:
        """A fresh copy of the value for a caller that shared the call (the value itself when it
        cannot be copied). The value is serialised once, however many callers share it."""
        if self.frozen is None:
            try:
                entry = self.entry
                tag, payload = (entry.tag, entry.payload) if entry else dump_value(self.value)
                self.frozen = (tag, orjson.dumps(payload))
            except Exception:
                self.frozen = _UNCOPYABLE
        if self.frozen is _UNCOPYABLE:
            return self.value
        tag, data = self.frozen
        return load_value(tag, orjson.loads(data))


class Flight:
    """One real call in progress, shared by every caller of the same key."""

    __slots__ = ("background", "task", "waiters")

    def __init__(self, task: asyncio.Future[Outcome]) -> None:
        self.task = task
        self.waiters = 0
        self.background = False  # a stale-while-revalidate refresh: callers get the stale entry


class Flights:
    """The calls in flight, by key."""

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[str, Flight] = {}

    def get(self, key: str) -> Flight | None:
        """The call in flight for ``key`` on this event loop (a cache may serve several loops)."""
        flight = self._by_key.get(key)
        if flight is None or flight.task.get_loop() is not asyncio.get_running_loop():
            return None
        return flight

    def start(
        self,
        key: str,
        call: Awaitable[Outcome],
        orphaned: Callable[[BaseException], None],
        *,
        background: bool = False,
    ) -> Flight:
        """Run ``call`` as the flight of ``key`` (replacing any listed one). ``orphaned`` hears of
        its exception if it raised while nobody waited for it (a background refresh)."""
        flight = Flight(asyncio.ensure_future(call))
        flight.background = background
        self._by_key[key] = flight
        flight.task.add_done_callback(lambda task: self._landed(key, flight, task, orphaned))
        return flight

    async def wait(self, key: str, flight: Flight) -> Outcome:
        """The flight's outcome. Cancelling the last waiter of a flight cancels its call."""
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                # The last caller gave up: stop the call rather than let it run for nobody.
                if self._by_key.get(key) is flight:
                    del self._by_key[key]
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1

    def cancel_all(self) -> None:
        for flight in list(self._by_key.values()):
            flight.task.cancel()

    def _landed(
        self,
        key: str,
        flight: Flight,
        task: asyncio.Future[Outcome],
        orphaned: Callable[[BaseException], None],
    ) -> None:
        if self._by_key.get(key) is flight:
            del self._by_key[key]
        if task.cancelled():
            return
        exc = task.exception()  # also marks it retrieved when nobody waited (a refresh)
        if exc is not None and flight.waiters == 0:
            orphaned(exc)
