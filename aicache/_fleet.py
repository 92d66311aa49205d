"""Fleet-wide stats: every process adds its counters to one shared store, in batches.

``aicache.stats`` counts inside one process. So that ``aicache stats`` in a shell can show what a
whole service did, each process periodically adds what its global scope counted *since its last
flush* to a store all processes share: a Redis hash (``HINCRBY``/``HINCRBYFLOAT`` in one
``MULTI``) when the configured chain has a Redis tier, else a JSON file in the cache directory
updated under an ``fcntl`` lock. Counting itself stays in memory: nothing here runs on the hit
path. A daemon thread flushes every :data:`INTERVAL` seconds when something changed, and
``aicache.close()`` and interpreter exit flush what is left. A failed Redis flush goes to the file
instead; a failed file flush keeps the counts for the next attempt. Readers merge both stores.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from . import _stats
from ._config import CacheConfig, get_config
from ._errors import reason
from ._log import log, warn_once
from .backends import parse_redis_target, redis_sync_client

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the file store is then not lock-safe
    fcntl = None  # type: ignore[assignment]

__all__ = ["INTERVAL", "REDIS_KEY", "FleetStats", "file_path", "flush", "read", "reset", "start"]

#: Seconds between background flushes (only when something was counted meanwhile).
INTERVAL = 5.0
#: The Redis hash holding the fleet's counters. Outside every ``aicache:<namespace>:`` prefix,
#: so clearing a namespace never removes it.
REDIS_KEY = "aicache-fleet:stats:v1"
_FILE_NAME = "fleet-stats.json"
_FILE_VERSION = 1

#: One counter of one label: ``[function, provider, model, counter]``; dict counters (hits per
#: tier, tokens) are written ``"hits_by_tier/file"``.
Field = str
_DICTS = frozenset(k for k, v in dataclasses.asdict(_stats.Counters()).items() if type(v) is dict)


def file_path(config: CacheConfig) -> Path:
    return config.cache_dir / _FILE_NAME


def _redis_url(config: CacheConfig) -> str | None:
    return config.redis_url if config.backend in ("auto", "redis") else None


def _flat(counters: _stats.Counters) -> dict[str, float]:
    out: dict[str, float] = {}
    for f in dataclasses.fields(counters):
        value = getattr(counters, f.name)
        if isinstance(value, dict):
            for k, n in dict(value).items():  # dict() copies atomically under the GIL
                out[f"{f.name}/{k}"] = n
        elif value:
            out[f.name] = value
    return out


def _field(label: _stats.Label, counter: str) -> Field:
    return orjson.dumps([*label, counter]).decode()


class _Flusher:
    """The deltas of the global scope since the last successful flush, and where they go."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # label -> (the Counters object, its values when last flushed). A different object
        # under a label means stats.reset() ran: that label's baseline is zero again.
        self.seen: dict[_stats.Label, tuple[_stats.Counters, dict[str, float]]] = {}
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.registered = False

    def pending(self) -> tuple[dict[Field, float], dict[_stats.Label, Any]]:
        deltas: dict[Field, float] = {}
        marks: dict[_stats.Label, Any] = {}
        for label, counters in _stats.root.labels():
            now = _flat(counters)
            prev = self.seen.get(label)
            base = prev[1] if prev is not None and prev[0] is counters else {}
            for name, value in now.items():
                delta = value - base.get(name, 0)
                if delta:
                    deltas[_field(label, name)] = delta
            marks[label] = (counters, now)
        return deltas, marks

    def flush(self) -> bool:
        """Write the pending deltas; return whether everything pending is now stored."""
        with self.lock:
            deltas, marks = self.pending()
            if not deltas:
                self.seen = marks
                return True
            config = get_config()
            if not config.enabled or config.backend == "memory":
                self.seen = marks  # nothing shared is configured: the counts stay local
                return True
            url = _redis_url(config)
            if url is not None:
                try:
                    _redis_add(url, config, deltas)
                except Exception as exc:
                    warn_once(
                        "fleet:redis",
                        "aicache: could not add stats to Redis (%r); writing them to %s",
                        exc,
                        file_path(config),
                    )
                else:
                    self.seen = marks
                    return True
            try:
                _file_add(file_path(config), deltas)
            except OSError as exc:
                warn_once("fleet:file", "aicache: could not write fleet stats: %r", exc)
                return False
            self.seen = marks
            return True

    def start(self) -> None:
        if self.thread is not None:
            return
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=self._run, name="aicache-fleet", daemon=True)
            self.thread.start()
            if not self.registered:
                atexit.register(self.at_exit)
                self.registered = True

    def _run(self) -> None:
        while not self.wake.wait(INTERVAL):
            try:
                self.flush()
            except Exception:  # the thread must outlive any surprise
                log.exception("aicache: fleet stats flush failed")

    def at_exit(self) -> None:
        self.wake.set()
        try:
            self.flush()
        except Exception as exc:
            log.debug("aicache: final fleet stats flush failed: %r", exc)

    def after_fork(self) -> None:
        # The child inherits the parent's counters, which the parent flushes: start from them.
        # Its own flusher thread is needed too: a forked worker may never build a cache, and
        # one that ends with os._exit() runs no atexit handler.
        running = self.thread is not None
        self.lock = threading.Lock()
        self.thread = None
        self.wake = threading.Event()
        self.seen = self.pending()[1]
        if running:
            self.start()


_flusher = _Flusher()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_flusher.after_fork)


def start() -> None:
    """Start the background flusher (idempotent; called when a cache is built)."""
    _flusher.start()


def flush() -> bool:
    """Add what this process counted since the last flush to the shared store now."""
    return _flusher.flush()


# -- the file store -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _file_counts(path: Path) -> dict[Field, float]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if (
        type(doc) is not dict
        or doc.get("v") != _FILE_VERSION
        or type(doc.get("counts")) is not dict
    ):
        warn_once("fleet:bad-file", "aicache: %s is not a fleet stats file; starting over", path)
        return {}
    return {k: v for k, v in doc["counts"].items() if type(v) in (int, float)}


def _file_write(path: Path, counts: dict[Field, float]) -> None:
    body = orjson.dumps({"v": _FILE_VERSION, "counts": counts})
    fd, tmp = tempfile.mkstemp(prefix=".fleet-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_add(path: Path, deltas: dict[Field, float]) -> None:
    with _locked(path):
        counts = _file_counts(path)
        for name, delta in deltas.items():
            counts[name] = counts.get(name, 0) + delta
        _file_write(path, counts)


# -- the Redis store ------------------------------------------------------------------------------


def _redis_client(url: str, config: CacheConfig) -> Any:
    """A blocking client for the configured Redis: one server, a cluster or a Sentinel primary."""
    # A background flush can afford more than a hit's socket timeout.
    return redis_sync_client(
        parse_redis_target(url, config.redis_mode),
        socket_timeout=max(config.redis_timeout, 1.0),
        socket_connect_timeout=max(config.redis_connect_timeout, 1.0),
    )


def _redis_add(url: str, config: CacheConfig, deltas: dict[Field, float]) -> None:
    client = _redis_client(url, config)
    try:
        # One key, so one node even on a cluster; the expiry, refreshed by every flush, lets
        # volatile-* eviction and time remove the counters of a fleet that stopped long ago.
        pipe = client.pipeline(transaction=True)
        for name, delta in deltas.items():
            if type(delta) is int:
                pipe.hincrby(REDIS_KEY, name, delta)
            else:
                pipe.hincrbyfloat(REDIS_KEY, name, delta)
        pipe.pexpire(REDIS_KEY, max(1, int(config.redis_max_ttl * 1000)))
        pipe.execute()
    finally:
        client.close()


def _redis_counts(url: str, config: CacheConfig) -> dict[Field, float]:
    client = _redis_client(url, config)
    try:
        raw: dict[bytes, bytes] = client.hgetall(REDIS_KEY)
    finally:
        client.close()
    out: dict[Field, float] = {}
    for k, v in raw.items():
        text = v.decode()
        out[k.decode()] = float(text) if any(c in text for c in ".eE") else int(text)
    return out


# -- reading --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FleetStats:
    """What every process flushed: ``snapshot`` has the shape of ``aicache.stats.snapshot()``."""

    snapshot: dict[str, Any]
    sources: list[str]
    #: Stores that could not be read (``partial=True``), with why.
    unreachable: dict[str, str] = dataclasses.field(default_factory=dict)


def _counters(counts: dict[Field, float]) -> dict[_stats.Label, _stats.Counters]:
    by_label: dict[_stats.Label, _stats.Counters] = {}
    for name, value in counts.items():
        try:
            function, provider, model, counter = orjson.loads(name)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            continue
        c = by_label.setdefault((function, provider, model), _stats.Counters())
        counter, _, sub = counter.partition("/")
        if counter in _DICTS:
            bucket: dict[str, int] = getattr(c, counter)
            bucket[sub] = bucket.get(sub, 0) + int(value)
        elif hasattr(c, counter):
            current = getattr(c, counter)
            setattr(c, counter, current + (type(current)(value)))
    return by_label


def read(config: CacheConfig | None = None, *, partial: bool = False) -> FleetStats:
    """The fleet's totals from the file store and, when configured, the Redis hash.

    A Redis that cannot be reached raises, or with ``partial=True`` is left out and named in
    ``unreachable``; a missing file is empty.
    """
    config = config or get_config()
    counts = _file_counts(file_path(config))
    sources = [str(file_path(config))]
    unreachable: dict[str, str] = {}
    url = _redis_url(config)
    if url is not None:
        source = f"redis hash {REDIS_KEY}"
        try:
            found = _redis_counts(url, config)
        except Exception as exc:
            if not partial:
                raise
            unreachable[source] = reason(exc)
            found = {}
        else:
            sources.insert(0, source)
        for name, value in found.items():
            counts[name] = counts.get(name, 0) + value
    summary = _stats.summarise("fleet", _counters(counts).items())
    return FleetStats(summary, sources, unreachable)


def reset(config: CacheConfig | None = None) -> None:
    """Delete the fleet's stored counters (both stores)."""
    config = config or get_config()
    path = file_path(config)
    with _locked(path), contextlib.suppress(FileNotFoundError):
        path.unlink()
    url = _redis_url(config)
    if url is not None:
        client = _redis_client(url, config)
        try:
            client.delete(REDIS_KEY)
        finally:
            client.close()
