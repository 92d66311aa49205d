"""Auto-pipelining for the Redis tier: the commands concurrent callers issue in one turn of the
event loop reach Redis as one round trip.

A caller that finds none of this pool's commands on the way sends its own at once: a lone caller
pays no added loop turn, task or future. A caller that finds some on the way (there is load) opens
a batch and yields once; every caller that runs in that turn joins it. A batch of several goes out
as one ``MGET`` (reads only, one server) or one non-transactional pipeline (writes, or a cluster,
where redis-py's cluster pipeline groups the commands per node). Every caller gets its own reply
or its own error, so the chain's breaker and the operation timeout still judge each operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._redis_wire import Args, Commands

__all__ = ["Batcher", "Op"]

#: One command: ``("get", key, None, 0)``, ``("set", key, value, px)``, ``("unlink", key, ...)``.
Op = tuple[str, str, bytes | None, int]
#: Runs an operation on the commands once a connection is free; ``None`` if none freed up in time.
Runner = Callable[[Callable[[Commands], Awaitable[Any]], float], Awaitable[Any]]

_Waiter = tuple[Op, "asyncio.Future[Any] | None"]  # None: the caller that opened the batch


class Batcher:
    """Collects one event-loop turn's commands for one pool (one loop, one server)."""

    __slots__ = ("_busy", "_open", "_run", "_tasks", "batches", "cluster", "commands")

    def __init__(self, run: Runner, *, cluster: bool) -> None:
        self._run = run
        self.cluster = cluster
        self._open: list[_Waiter] | None = None
        self._busy = 0  # round trips on the way
        self._tasks: set[asyncio.Task[Any]] = set()
        self.batches = 0  # round trips that carried more than one command
        self.commands = 0  # commands those carried

    async def submit(self, op: Op, wait: float) -> Any:
        """``op``'s reply, sent alone or with the other commands of this turn."""
        batch = self._open
        if batch is not None:
            joined: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            batch.append((op, joined))
            return await joined
        if not self._busy:
            self._busy += 1
            try:
                return await self._run(lambda commands: _one(commands, op), wait)
            finally:
                self._busy -= 1
        batch = self._open = [(op, None)]
        try:
            await asyncio.sleep(0)  # this turn's other callers join
        except asyncio.CancelledError:
            self._close(batch)
            if len(batch) > 1:  # the others still want their replies
                self._spawn(self._send(batch[1:], wait))
            raise
        self._close(batch)
        if len(batch) == 1:
            self._busy += 1
            try:
                return await self._run(lambda commands: _one(commands, op), wait)
            finally:
                self._busy -= 1
        # In a task of its own, so that this caller giving up does not stop the others' replies.
        return await asyncio.shield(self._spawn(self._send(batch, wait)))

    def _close(self, batch: list[_Waiter]) -> None:
        if self._open is batch:
            self._open = None

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(_settled(self._tasks))
        return task

    async def _send(self, batch: Sequence[_Waiter], wait: float) -> Any:
        """Send ``batch``; hand each joined caller its reply; return the opener's (if in it)."""
        ops = [op for op, _ in batch]
        self.batches += 1
        self.commands += len(ops)
        self._busy += 1
        try:
            replies = await self._run(lambda commands: _many(commands, ops, self.cluster), wait)
        except BaseException as exc:
            for _, waiter in batch:
                if waiter is not None and not waiter.done():
                    if isinstance(exc, asyncio.CancelledError):
                        waiter.cancel()
                    else:
                        waiter.set_exception(exc)
            raise
        finally:
            self._busy -= 1
        if replies is None:  # no connection freed up in time: every command is a miss
            replies = [None] * len(batch)
        mine: Any = None
        for (_, waiter), reply in zip(batch, replies, strict=True):
            if waiter is None:
                mine = reply
            elif not waiter.done():
                if isinstance(reply, Exception):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        if isinstance(mine, Exception):
            raise mine
        return mine


def _settled(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # the opener may have left; its callers heard of it already

    return done


def _args(op: Op) -> Args:
    command, key, value, px = op
    if command == "get":
        return ("GET", key)
    if command == "set":
        return ("SET", key, value, "PX", px)
    return ("UNLINK", key)


def _one(commands: Commands, op: Op) -> Awaitable[Any]:
    return commands.one(_args(op))


async def _many(commands: Commands, ops: Sequence[Op], cluster: bool) -> list[Any]:
    if not cluster and all(op[0] == "get" for op in ops):
        return list(await commands.one(("MGET", *(op[1] for op in ops))))
    return await commands.many([_args(op) for op in ops])
