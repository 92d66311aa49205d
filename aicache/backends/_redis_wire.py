"""How the Redis tier's commands reach the server: on one server, over connections of its own.

On one server the tier keeps redis-py ``Connection`` objects on a stack behind its gate (which
never lets more than ``max_connections`` commands in) and writes each command and reads its reply
itself. redis-py's client and pool wrap every command in pool locks, observability hooks, a retry
object and a readiness check; measured, that is about 19 µs of the 43 µs of CPU a lone ``GET``
costs through ``redis.asyncio.Redis``. None of it is needed here: a connection goes back on the
stack only after every reply it was sent for was read, and one that failed or was cancelled has
been disconnected by redis-py (it reconnects when next used). Timeouts stay redis-py's
``socket_timeout``, on each read and on each write that has to wait (see :func:`_send`). A
cluster or a Sentinel primary is reached through redis-py's own client (:class:`ClientCommands`),
which routes and fails over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis.exceptions import ResponseError

__all__ = ["Args", "ClientCommands", "Commands", "Wire", "pack"]

#: One command as Redis reads it: ``("GET", key)``, ``("SET", key, value, "PX", 1000)``...
Args = tuple[Any, ...]


class Commands(Protocol):
    """Where the tier's commands go."""

    async def one(self, args: Args) -> Any:
        """The reply to one command; an error reply is raised."""

    async def many(self, commands: Sequence[Args]) -> list[Any]:
        """The replies to ``commands`` sent as one round trip, in order; an error reply is
        returned in its place, as the exception."""


class Wire:
    """The tier's own connections to one server, on a stack."""

    __slots__ = ("_idle", "_made", "_make")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make  # a new, unconnected redis-py Connection
        self._idle: list[Any] = []
        self._made: list[Any] = []

    def _take(self) -> Any:
        if self._idle:
            return self._idle.pop()
        conn = self._make()
        self._made.append(conn)
        return conn

    async def one(self, args: Args) -> Any:
        conn = self._take()
        try:
            await _send(conn, pack(conn, args))
            return await conn.read_response()
        finally:
            self._idle.append(conn)

    async def many(self, commands: Sequence[Args]) -> list[Any]:
        conn = self._take()
        try:
            await _send(conn, [b"".join(pack(conn, args)[0] for args in commands)])
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # read in full: the next reply follows
                    replies.append(exc)
            return replies
        finally:
            self._idle.append(conn)

    async def drop_idle(self) -> None:
        """Disconnect the connections not in use (each reconnects when next used)."""
        for conn in list(self._idle):  # others may take or return one meanwhile
            await conn.disconnect()

    async def close(self) -> None:
        for conn in list(self._made):
            await conn.disconnect()
        self._idle.clear()
        self._made.clear()


def pack(conn: Any, args: Args) -> list[bytes]:
    """``conn.pack_command(*args)`` for the tier's commands: one word, then str, bytes or int
    arguments, encoded as ``conn`` encodes them. redis-py's own packing checks and splits each
    argument in Python (measured: an awaited hit 34.3 -> 31.9 µs of CPU without it)."""
    encoder = conn.encoder
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if type(arg) is bytes:
            data = arg
        elif type(arg) is str:
            data = arg.encode(encoder.encoding, encoder.encoding_errors)
        else:
            data = encoder.encode(arg)
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return [b"".join(out)]


async def _send(conn: Any, packed: list[bytes]) -> None:
    """Write a packed command on ``conn``.

    redis-py runs every write in ``asyncio.wait_for`` for its ``socket_timeout``: a task, a timer
    and a loop turn per command (measured: an awaited hit 42.5 -> 32.9 µs of CPU without it),
    though a command the socket takes at once cannot time out. So an open connection is written
    to here, and only a write the socket did not take in full (or an unopened or closing
    connection) goes through redis-py, which waits for it under the timeout (or connects, or
    fails) as always.
    """
    # redis-py's StreamWriter, None until connected; a redis-py without it takes its own path.
    writer = getattr(conn, "_writer", None)
    if writer is not None and not writer.transport.is_closing():
        writer.writelines(packed)
        if not writer.transport.get_write_buffer_size():
            return
        packed = []  # written: redis-py only waits for the rest to drain
    await conn.send_packed_command(packed, check_health=False)


class ClientCommands:
    """The tier's commands through a redis-py client (a cluster, a Sentinel primary)."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    async def one(self, args: Args) -> Any:
        return await self.client.execute_command(*args)

    async def many(self, commands: Sequence[Args]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        return list(await pipe.execute(raise_on_error=False))
