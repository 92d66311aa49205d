"""The simulator's HTTP/1.1 server: h11 parses and frames, asyncio carries the bytes.

One task per connection, keep-alive, chunked request bodies, and server-sent events written one
frame at a time with gaps between them, so a client meets a stream as it would from a provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from ._routes import find
from ._wire import BadRequest, Context, Recorded, Reply

__all__ = ["DEFAULT_PORT", "ProviderSimulator", "run", "serve"]

#: The port ``serve`` listens on unless told otherwise: fixed, because the API host (with its
#: port) is part of every cache key, so a restarted simulator keeps the keys of the last run.
DEFAULT_PORT = 8765
Seconds = float | tuple[float, float]


@dataclass(slots=True)
class _Failure:
    status: int
    headers: dict[str, str]
    message: str


def _reason(status: int) -> bytes:
    if status == 529:
        return b"Overloaded"
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


class ProviderSimulator:
    """A fake Anthropic/OpenAI/Gemini HTTP server (see the package docstring): ``async with``
    serves on the running loop, plain ``with`` from a thread of its own (for sync clients).

    ``latency``: seconds before each answer (a stream's first event), or ``(lo, hi)`` for a
    seeded uniform draw. ``chunk_gap``: seconds between a stream's events, likewise; 0 sends a
    stream as fast as the socket takes it. ``seed`` changes every generated answer (equal
    requests still get equal answers). ``host`` and ``port`` (0: any free port) say where to
    listen.
    """

    def __init__(
        self,
        latency: Seconds = 0.0,
        seed: int = 0,
        *,
        chunk_gap: Seconds = (0.01, 0.03),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.chunk_gap = chunk_gap
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self._ctx = Context(seed)
        self._rng = random.Random(seed)
        self._failures: list[_Failure] = []
        self._cuts: list[int] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running: use `async with ProviderSimulator()`")
        return f"http://{self.host}:{self.port}"

    # -- control ---------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        headers: dict[str, str] | None = None,
        message: str = "simulated failure",
    ) -> None:
        """Answer the next ``n`` requests (any path) with ``status`` and ``headers``."""
        self._failures += [_Failure(status, dict(headers or {}), message) for _ in range(n)]

    def cut_next(self, after: int, n: int = 1) -> None:
        """Drop the connection of the next ``n`` streamed answers after ``after`` events, as a
        network failure would: the client sees a body that ends without its last chunk."""
        if after < 0 or n < 1:
            raise ValueError(f"cut_next(after={after}, n={n}): give after >= 0 and n >= 1")
        self._cuts += [after] * n

    def count(self, path: str | None = None) -> int:
        """How many requests arrived, in all or for one path (e.g. ``"/v1/messages"``)."""
        if path is None:
            return len(self.requests)
        return sum(1 for r in self.requests if r.path == path)

    def counts(self) -> Counter[str]:
        """Requests per path."""
        return Counter(r.path for r in self.requests)

    def reset(self) -> None:
        """Forget recorded requests, pending failures and pending cuts."""
        self.requests.clear()
        self._failures.clear()
        self._cuts.clear()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> ProviderSimulator:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> ProviderSimulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __enter__(self) -> ProviderSimulator:
        """Serve from a thread of its own, for sync clients (whose calls would block a loop
        shared with the server)."""
        started = threading.Event()
        failed: list[BaseException] = []

        def serve_here() -> None:
            async def main() -> None:
                try:
                    await self.start()
                    stop = self._stop = asyncio.Event()
                except OSError as exc:
                    failed.append(exc)
                    return
                finally:
                    started.set()
                await stop.wait()
                await self.close()

            asyncio.run(main())

        self._thread = threading.Thread(target=serve_here, name="aicache-simulator", daemon=True)
        self._thread.start()
        started.wait()
        if failed:
            raise failed[0]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, stop = self._server, self._stop
        if server is not None and stop is not None:
            server.get_loop().call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- HTTP/1.1 --------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            while (request := await self._receive(conn, reader)) is not None:
                reply = await self._answer(request)
                if not await self._send(conn, writer, reply):
                    break  # cut on purpose
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.CancelledError):
            pass  # the client left, spoke no HTTP, or the simulator is closing: nobody awaits this
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    @staticmethod
    async def _receive(conn: h11.Connection, reader: asyncio.StreamReader) -> Recorded | None:
        """The next whole request on the connection, or None once the client has closed it."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                parts = urlsplit(head.target.decode("latin-1"))
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}
                try:
                    doc = json.loads(body) if body else None
                except ValueError:
                    doc = None
                query = dict(parse_qsl(parts.query))
                return Recorded(head.method.decode(), parts.path, query, headers, doc)
            else:  # ConnectionClosed, or PAUSED after a client that will not reuse the connection
                return None

    def _seconds(self, value: Seconds) -> float:
        return self._rng.uniform(*value) if isinstance(value, tuple) else value

    async def _answer(self, request: Recorded) -> Reply:
        self.requests.append(request)
        delay = self._seconds(self.latency)
        if delay > 0:
            await asyncio.sleep(delay)
        wire, handler = find(request.path)
        if self._failures:
            failure = self._failures.pop(0)
            return wire.error(failure.status, failure.message, failure.headers)
        if request.method != "POST":
            return wire.error(405, f"{request.method} is not simulated", {})
        if handler is None:
            return wire.error(404, f"no simulated endpoint at {request.path}", {})
        try:
            return handler(request, self._ctx)
        except (BadRequest, ValueError, TypeError, KeyError, AttributeError) as exc:
            return wire.error(400, f"malformed request: {exc!r}", {})
        except LookupError:
            return wire.error(404, f"no simulated endpoint at {request.path}", {})

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Write ``reply``; False if a pending cut dropped the connection part-way."""
        headers = [("content-type", reply.content_type), *reply.headers.items()]
        if reply.events is None:
            headers.append(("content-length", str(len(reply.body))))
        head = h11.Response(status_code=reply.status, headers=headers, reason=_reason(reply.status))
        writer.write(conn.send(head) or b"")
        if reply.events is None:
            writer.write(conn.send(h11.Data(data=reply.body)) or b"")
        else:
            cut = self._cuts.pop(0) if self._cuts else None
            for i, frame in enumerate(reply.events):
                if i == cut:
                    writer.transport.abort()
                    return False
                gap = self._seconds(self.chunk_gap) if i else 0.0
                if gap > 0:
                    await asyncio.sleep(gap)
                writer.write(conn.send(h11.Data(data=frame)) or b"")
                await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        return True


async def run(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    ready: Callable[[ProviderSimulator], object] | None = None,
    **options: Any,
) -> None:
    """Serve on ``host:port`` until cancelled; ``ready`` is called once it listens. ``options``
    are :class:`ProviderSimulator`'s (``latency``, ``seed``, ``chunk_gap``)."""
    async with ProviderSimulator(host=host, port=port, **options) as sim:
        if ready is not None:
            ready(sim)
        await asyncio.Event().wait()


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: Any) -> None:
    """Serve on ``host:port`` until SIGINT or SIGTERM, then return (blocking): what
    ``aicache simulate --port N`` runs. Raises ``OSError`` if the port cannot be bound."""

    async def until_signalled() -> None:
        loop = asyncio.get_running_loop()
        serving = asyncio.ensure_future(run(host, port, **options))
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, serving.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    asyncio.run(until_signalled())
