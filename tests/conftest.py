"""Shared fixtures: a real ``redis-server`` per test, a clock moved by the test, and a clean
aicache state for every test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aicache
from aicache import _clock, _log

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` on a loopback port of its own, which a test can stop, kill, restart,
    freeze (SIGSTOP: a hanging server) and thaw. Nothing is persisted."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.extra_args: list[str] = []  # more redis-server options for the next start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server on :attr:`port` and wait until it answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            return
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        with log:
            self.proc = subprocess.Popen(
                [
                    *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _pings(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                tail = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, and wait for the process to exit (connections are then refused)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything gracefully."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing ever answers."""
        if self.proc is not None and self.proc.poll() is None and not self.frozen:
            self.proc.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.proc is not None and self.frozen:
            self.proc.send_signal(signal.SIGCONT)
            self.frozen = False

    def _end(self, sig: signal.Signals) -> None:
        proc = self.proc
        if proc is None:
            return
        self.thaw()  # a stopped process cannot act on SIGTERM
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} pid={self.proc.pid if self.proc else None}>"


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh, running ``redis-server`` for this test only; always torn down."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = (
            "redis-server is not on PATH; install it (apt-get install redis-server, "
            "brew install redis) to run the Redis tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    try:
        for attempt in range(3):  # the free port may be taken between probe and bind
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                server.port = _free_port()
        yield server
    finally:
        server.kill()


class Clock:
    """aicache's wall and monotonic clocks, which move only when the test says so."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def clock() -> Clock:
    """A :class:`Clock` installed as aicache's clock (``_aicache_state`` puts the real one back).

    Test modules import the class for annotations only, under ``TYPE_CHECKING``: at run time the
    module named ``conftest`` may be another directory's conftest.
    """
    c = Clock()
    _clock.set_clock(lambda: c.wall, lambda: c.mono)
    return c


@pytest.fixture(autouse=True)
async def _aicache_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """Every test starts from default settings with its own cache directory (never ~/.cache),
    zeroed stats and the real clock, and its shared caches are closed afterwards."""
    for var in list(os.environ):
        if var.startswith("AI_CACHE_") or var == "REDIS_URL":
            monkeypatch.delenv(var)  # never reach a developer's or the system's Redis
    monkeypatch.setenv("AI_CACHE_DIR", str(tmp_path_factory.mktemp("aicache")))
    aicache.configure(aicache.CacheConfig.from_env())
    aicache.stats.reset()
    _log._seen.clear()
    try:
        yield
    finally:
        await aicache.close()
        _clock.set_clock()
        aicache.configure()
        aicache.stats.reset()
