"""Shared fixtures: a real ``redis-server`` per test, a clock moved by the test, and a clean
aicache state for every test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
        self.binary_args: list[str] = []  # arguments before the options (a config file)

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
                    self.binary,
                    *self.binary_args,
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
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
    server = _started(_redis_binary(), tmp_path_factory.mktemp("redis"), [])
    try:
        yield server
    finally:
        server.kill()


def _redis_binary() -> str:
    """The ``redis-server`` path; skips the test (fails it under ``CI=true``) when absent."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = (
            "redis-server is not on PATH; install it (apt-get install redis-server, "
            "brew install redis) to run the Redis tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return binary


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) exists and is free too."""
    while True:
        port = _free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _started(
    binary: str, workdir: Path, extra: list[str], pick: Callable[[], int] = _free_port
) -> RedisServer:
    """A started :class:`RedisServer` with ``extra`` options, on a port from ``pick``."""
    server = RedisServer(binary, workdir)
    server.port = pick()
    server.extra_args = extra
    for attempt in range(3):  # the free port may be taken between probe and bind
        try:
            server.start()
            return server
        except RuntimeError:
            if attempt == 2:
                raise
            server.port = pick()
    raise AssertionError("unreachable")


def _cli(port: int, *args: str, timeout: float = 30.0) -> str:
    """``redis-cli -p port args...``; its output (raises on a non-zero exit)."""
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return done.stdout


def _wait(what: str, ready: Callable[[], bool], timeout: float = 30.0) -> float:
    """Poll ``ready`` until it holds; return the seconds it took (raise after ``timeout``)."""
    start = time.monotonic()
    while True:
        try:
            if ready():
                return time.monotonic() - start
        except (subprocess.SubprocessError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class RedisClusterNodes:
    """Six ``redis-server --cluster-enabled yes`` processes joined as 3 primaries + 3 replicas
    (``redis-cli --cluster create ... --cluster-replicas 1``). Node timeout 1 s, so a killed
    primary's replica takes over within a few seconds."""

    NODE_TIMEOUT_MS = 1000

    def __init__(self, binary: str, workdir: Path) -> None:
        self.nodes: list[RedisServer] = []
        for i in range(6):
            node_dir = workdir / f"node{i}"
            node_dir.mkdir()
            extra = [
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", str(self.NODE_TIMEOUT_MS)),
                # A cluster missing a shard still serves the others' slots.
                *("--cluster-require-full-coverage", "no"),
                *("--repl-diskless-sync-delay", "0"),
            ]
            self.nodes.append(_started(binary, node_dir, extra, _cluster_port))
        try:
            _cli(
                self.nodes[0].port,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            )
            self.wait_ok()
        except BaseException:
            self.kill()
            raise

    @property
    def url(self) -> str:
        """A ``redis://`` URL naming one node (any node is a way in)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def running(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None]

    def slots_of(self, node: RedisServer) -> list[str]:
        """``CLUSTER NODES`` lines, as seen from ``node``."""
        return _cli(node.port, "cluster", "nodes").strip().splitlines()

    def primaries(self) -> list[RedisServer]:
        """The running nodes that are primaries owning slots, by a running node's view."""
        lines = self.slots_of(self.running()[0])
        ports = {
            int(line.split()[1].split("@")[0].rsplit(":", 1)[1])
            for line in lines
            if "master" in line.split()[2]
            and "fail" not in line.split()[2]
            and len(line.split()) > 8
        }
        return [n for n in self.running() if n.port in ports]

    def node_id(self, node: RedisServer) -> str:
        return _cli(node.port, "cluster", "myid").strip()

    def wait_ok(self, timeout: float = 30.0) -> float:
        """Wait until every running node reports ``cluster_state:ok`` and 3 slot owners."""

        def ok() -> bool:
            for n in self.running():
                if "cluster_state:ok" not in _cli(n.port, "cluster", "info"):
                    return False
            return len(self.primaries()) == 3

        return _wait("the cluster to be ok", ok, timeout)

    def flush(self) -> None:
        """Empty every primary (this cluster is the test run's own)."""
        for n in self.primaries():
            _cli(n.port, "flushall")

    def kill(self) -> None:
        for n in self.nodes:
            n.kill()

    def __repr__(self) -> str:
        return f"<RedisClusterNodes {[n.port for n in self.nodes]}>"


@pytest.fixture(scope="session")
def redis_cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """One 6-node cluster for the whole test run (tests that break it use their own)."""
    cluster = RedisClusterNodes(_redis_binary(), tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.kill()


@pytest.fixture
def redis_cluster(redis_cluster_nodes: RedisClusterNodes) -> RedisClusterNodes:
    """The run's cluster, emptied for this test."""
    redis_cluster_nodes.wait_ok()
    redis_cluster_nodes.flush()
    return redis_cluster_nodes


@pytest.fixture
def own_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A 6-node cluster for this test alone (for tests that kill nodes)."""
    cluster = RedisClusterNodes(_redis_binary(), tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster
    finally:
        cluster.kill()


class SentinelGroup:
    """A primary, its replica and three ``redis-server --sentinel`` processes watching them as
    service ``mymaster`` (down after 1 s, quorum 2)."""

    SERVICE = "mymaster"

    def __init__(self, binary: str, workdir: Path) -> None:
        self.servers: list[RedisServer] = []
        self.sentinels: list[RedisServer] = []
        try:
            for sub in ("p", "r", "s0", "s1", "s2"):
                (workdir / sub).mkdir()
            # No 5 s wait before the first full sync of a replica.
            fast_sync = ["--repl-diskless-sync-delay", "0"]
            primary = _started(binary, workdir / "p", fast_sync)
            self.servers.append(primary)
            replica_dir = workdir / "r"
            self.servers.append(
                _started(
                    binary,
                    replica_dir,
                    [*fast_sync, "--replicaof", "127.0.0.1", str(primary.port)],
                )
            )
            _wait(
                "the replica to sync",
                lambda: (
                    "master_link_status:up" in _cli(self.servers[1].port, "info", "replication")
                ),
            )
            # Each Sentinel is told its peers and the replica up front: discovering them
            # through hello messages and INFO takes seconds.
            ids = [f"{i + 1:040x}" for i in range(3)]
            ports = [_free_port() for _ in range(3)]
            for i in range(3):
                sdir = workdir / f"s{i}"
                conf = sdir / "sentinel.conf"
                lines = [
                    f"sentinel myid {ids[i]}",
                    f"sentinel monitor {self.SERVICE} 127.0.0.1 {primary.port} 2",
                    f"sentinel down-after-milliseconds {self.SERVICE} 1000",
                    f"sentinel failover-timeout {self.SERVICE} 5000",
                    f"sentinel parallel-syncs {self.SERVICE} 1",
                    f"sentinel known-replica {self.SERVICE} 127.0.0.1 {self.servers[1].port}",
                ]
                lines += [
                    f"sentinel known-sentinel {self.SERVICE} 127.0.0.1 {ports[j]} {ids[j]}"
                    for j in range(3)
                    if j != i
                ]
                conf.write_text("\n".join(lines) + "\n")
                sentinel = SentinelProcess(binary, sdir, conf)
                sentinel.port = ports[i]
                for attempt in range(3):
                    try:
                        sentinel.start()
                        break
                    except RuntimeError:
                        if attempt == 2:
                            raise
                        sentinel.port = _free_port()
                self.sentinels.append(sentinel)
            _wait("the sentinels to see each other and the replica", self._settled)
        except BaseException:
            self.kill()
            raise

    def _settled(self) -> bool:
        for s in self.sentinels:
            out = _cli(s.port, "sentinel", "master", self.SERVICE)
            fields = out.split()
            info = dict(zip(fields[::2], fields[1::2], strict=False))
            if info.get("num-other-sentinels") != "2" or info.get("num-slaves") != "1":
                return False
        return True

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def primary_port(self) -> int:
        out = _cli(
            self.sentinels[0].port, "sentinel", "get-master-addr-by-name", self.SERVICE
        ).split()
        return int(out[1])

    def primary(self) -> RedisServer:
        port = self.primary_port()
        return next(s for s in self.servers if s.port == port)

    def kill(self) -> None:
        for s in [*self.sentinels, *self.servers]:
            s.kill()


class SentinelProcess(RedisServer):
    """``redis-server <conf> --sentinel``: the same binary in its Sentinel role."""

    def __init__(self, binary: str, workdir: Path, conf: Path) -> None:
        super().__init__(binary, workdir)
        self.conf = conf

    def start(self) -> None:
        self.binary_args = [str(self.conf), "--sentinel"]
        self.extra_args = []
        super().start()


@pytest.fixture
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """A Sentinel-managed primary and replica of this test's own; always torn down."""
    group = SentinelGroup(_redis_binary(), tmp_path_factory.mktemp("sentinel"))
    try:
        yield group
    finally:
        group.kill()


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
