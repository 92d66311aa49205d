"""Single-flight within one process: one real call per key, however many callers want it.

The first caller of a key starts a flight; later callers join it and each receives a copy of the
result. A caller that gives up (cancelled) leaves the call running for the others, and the last
one to give up stops it. A flight may also run for nobody (a background refresh).

On Python 3.12+ the call starts at once, inside :meth:`Flights.start` (an eager task), rather than
after every task already queued on the loop has had its turn: in a burst of 1,000 identical calls
the leader's call no longer waits for the 999 others to build their keys and join. Before 3.12
there is no safe way to do that: running the coroutine's first step by hand would run it as the
caller's task, so ``asyncio.timeout`` or an anyio/httpx cancel scope inside the call would bind
to the wrong task. There the task starts on the loop's next turn, as any task does.

Callers wait on a plain future each, settled together by the flight's task as the call returns,
rather than on an ``asyncio.shield`` each (which costs a future and two callbacks per caller, and
two loop turns more).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson

from ._codecs import dump_value, load_value
from ._envelope import Entry

__all__ = ["Flight", "Flights", "Outcome"]

_UNCOPYABLE = ("", b"")
_EAGER = sys.version_info >= (3, 12)
_EAGER_START: dict[str, Any] = {"eager_start": True}  # a keyword 3.10 and 3.11 do not know


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


def _run(call: Coroutine[Any, Any, Outcome]) -> asyncio.Task[Outcome]:
    """A task running ``call``; on 3.12+ its first step runs now (see the module's docstring)."""
    if _EAGER:
        return asyncio.Task(call, loop=asyncio.get_running_loop(), **_EAGER_START)
    return asyncio.ensure_future(call)


class Flight:
    """One real call in progress, shared by every caller of the same key."""

    __slots__ = ("background", "task", "waiters", "waiting")

    task: asyncio.Task[Outcome]

    def __init__(self, background: bool) -> None:
        self.waiters = 0  # callers waiting now
        self.waiting: list[asyncio.Future[Outcome]] = []  # their futures (some may be cancelled)
        self.background = (
            background  # a stale-while-revalidate refresh: callers get the stale entry
        )


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
        call: Coroutine[Any, Any, Outcome],
        orphaned: Callable[[BaseException], None],
        *,
        background: bool = False,
    ) -> Flight:
        """Run ``call`` as the flight of ``key`` (replacing any listed one). ``orphaned`` hears of
        its exception if a background refresh raised while nobody waited for it."""
        flight = Flight(background)
        flight.task = _run(self._fly(key, flight, call))
        if flight.task.done():  # it ran to the end without suspending: nobody can join it now
            self._landed(key, flight, orphaned, flight.task, call)
            return flight
        self._by_key[key] = flight
        flight.task.add_done_callback(lambda task: self._landed(key, flight, orphaned, task, call))
        return flight

    async def _fly(self, key: str, flight: Flight, call: Awaitable[Outcome]) -> Outcome:
        """``call``, whose outcome reaches its callers as it returns (a loop turn before the
        task's done callbacks run, which see to failures)."""
        outcome = await call
        self._unlist(key, flight)
        self._settle(flight, outcome)
        return outcome

    async def wait(self, key: str, flight: Flight) -> Outcome:
        """The flight's outcome. Cancelling the last waiter of a flight cancels its call."""
        task = flight.task
        if task.done():
            return task.result()
        waiter: asyncio.Future[Outcome] = task.get_loop().create_future()
        flight.waiting.append(waiter)
        flight.waiters += 1
        try:
            return await waiter
        except asyncio.CancelledError:
            if flight.waiters == 1 and not task.done():
                # The last caller gave up: stop the call rather than let it run for nobody.
                if self._by_key.get(key) is flight:
                    del self._by_key[key]
                task.cancel()
            raise
        finally:
            flight.waiters -= 1

    def cancel_all(self) -> None:
        for flight in list(self._by_key.values()):
            flight.task.cancel()

    def _unlist(self, key: str, flight: Flight) -> None:
        if self._by_key.get(key) is flight:
            del self._by_key[key]

    @staticmethod
    def _settle(flight: Flight, outcome: Outcome | BaseException | None) -> None:
        """Hand ``outcome`` (an exception: raise it; ``None``: cancelled) to every waiter."""
        waiting, flight.waiting = flight.waiting, []
        for waiter in waiting:
            if waiter.done():  # its caller gave up
                continue
            if outcome is None:
                waiter.cancel()
            elif isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)

    def _landed(
        self,
        key: str,
        flight: Flight,
        orphaned: Callable[[BaseException], None],
        task: asyncio.Task[Outcome],
        call: Coroutine[Any, Any, Outcome],
    ) -> None:
        self._unlist(key, flight)
        if task.cancelled():
            call.close()  # cancelled before its first step: it never ran (no "never awaited")
            self._settle(flight, None)
            return
        exc = task.exception()  # also marks it retrieved when nobody waited (a refresh)
        if exc is not None:
            if flight.background and flight.waiters == 0:
                orphaned(exc)
            self._settle(flight, exc)
