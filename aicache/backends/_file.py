"""The file tier: one file per entry, safe to share between processes on one machine.

Layout: ``<directory>/<first 2 hex digits>/<sha256 of the key>``. A name is derived from the
key's hash only, so no key can reach outside the directory. An entry is written to a temporary
file beside its final name and renamed over it (``os.replace``), so a reader sees the old entry
or the new one, never half of either. Each file starts with its own header::

    magic b"AICF" | version (u8) | expires (f64 seconds since the epoch; inf: never)
    | key length (u32) | value length (u64) | key (utf-8) | value

The key in the file stops a hash collision from serving another key's value and lets
``clear(prefix)`` and ``keys(prefix)`` match; the lengths reveal a truncated file. A file that
does not parse is a miss, never an error.

Recency for the size cap is the file's mtime: a write sets it, and a read moves it forward only
when it is more than ``_TOUCH_AFTER`` (ten minutes) old: a hit rarely costs a system call, and
the eviction order is right to within ten minutes. Expired entries are removed when read, and by a
bounded sweep in a background thread every ``_SWEEP_EVERY`` writes; the size cap is enforced by
the same thread after this process has written a twentieth of the cap since it last looked.

Reads and writes run on the event loop unless the entry is large: handing a small file to a
thread costs the loop more CPU than doing it (2-core VM, ext4, 2 KB entry, p50 latency / CPU the
loop thread spent: read inline 6 µs / 6 µs, via ``asyncio.to_thread`` 47 µs / 29 µs; write of a
new entry inline 20 µs / 25 µs, in a thread 70 µs / 35-75 µs; overwrite inline 70 µs / 70 µs,
in a thread 150 µs / 60 µs). Threads win above about 128 KB written and 1 MB read, and for the
first write into a shard directory (creating one can take a millisecond). Sweeps, ``clear`` and
``keys`` always run in a thread. A read up to that size is also served by ``get_nowait``, so a
file hit awaits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import random
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from .. import _clock
from .._errors import ConfigError
from .._log import log, warn_once
from ._base import WOULD_BLOCK, Backend, Nowait

__all__ = ["FileBackend"]

MAGIC = b"AICF"
VERSION = 1
_HEADER = struct.Struct("<4sBdIQ")  # magic, version, expires, key length, value length

_TOUCH_AFTER = 600.0  # seconds: a read refreshes an entry's recency at most this often
_SWEEP_EVERY = 256  # writes between two background sweeps
_SWEEP_FILES = 512  # files a sweep examines at most
_STALE_TEMP = 3600.0  # seconds after which a temporary file is a crashed writer's leftover
_INLINE_WRITE_MAX = 128 * 1024  # bytes: larger entries are written in a thread
_INLINE_READ_MAX = 1024 * 1024  # bytes: larger entries are read in a thread
_EVICT_TO = 0.9  # an over-cap directory is trimmed to this fraction of the cap
_TEMP_SUFFIX = ".tmp"


def _encode_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _name(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


class FileBackend(Backend):
    """Entries as files under ``directory`` (created 0700; entries 0600), at most ``max_bytes``."""

    name = "file"
    local = True

    def __init__(
        self, directory: str | os.PathLike[str], *, max_bytes: int = 1 << 30, name: str = "file"
    ) -> None:
        if isinstance(max_bytes, bool) or not (isinstance(max_bytes, int) and max_bytes >= 1):
            raise ConfigError(f"FileBackend max_bytes must be an integer >= 1, not {max_bytes!r}")
        self.directory = Path(directory).expanduser()
        self.max_bytes = max_bytes
        self.name = name
        self._measure_every = max(1, max_bytes // 20)
        self._writes = 0  # since the last sweep
        self._written = max_bytes  # bytes since the size was last measured: measure soon
        self._cursor = random.randrange(256)  # processes sharing a directory sweep apart
        self._maintainer: threading.Thread | None = None
        self._maintain_lock = threading.Lock()

    def path(self, key: str) -> Path:
        """The file that holds ``key``'s entry."""
        name = _name(_encode_key(key))
        return self.directory / name[:2] / name

    # -- the Backend interface ------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        found = self._get(key, _INLINE_READ_MAX)
        if found is WOULD_BLOCK:  # a large entry: read in a thread
            return await asyncio.to_thread(self._get, key, None)  # type: ignore[arg-type]
        return found

    def get_nowait(self, key: str) -> bytes | Nowait | None:
        return self._get(key, _INLINE_READ_MAX)

    def _get(self, key: str, limit: int | None) -> bytes | Nowait | None:
        """The entry's value; :data:`WOULD_BLOCK` when its file is over ``limit`` bytes."""
        raw = _encode_key(key)
        name = _name(raw)
        path = os.path.join(self.directory, name[:2], name)
        try:
            fd = os.open(path, os.O_RDONLY | _O_BINARY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if limit is not None and st.st_size > limit:
                return WOULD_BLOCK
            data = _read_all(fd, st.st_size)
        finally:
            os.close(fd)
        found = _parse(data, raw)
        if found is None:
            warn_once(
                f"file:bad:{self.directory}",
                "aicache: damaged entry file %s; treating it as a miss and removing it",
                path,
            )
            _unlink(path)
            return None
        expires, value = found
        if value is None:
            return None  # another key with the same hash, or another format version
        now = _clock.now()
        if expires <= now:
            _unlink(path)
            return None
        if now - st.st_mtime > _TOUCH_AFTER:
            _touch(path, now)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            await self.delete(key)
            return
        raw = _encode_key(key)
        size = _HEADER.size + len(raw) + len(value)
        if size > self.max_bytes:
            return
        now = _clock.now()
        expires = math.inf if ttl is None else now + ttl
        data = _HEADER.pack(MAGIC, VERSION, expires, len(raw), len(value)) + raw + value
        name = _name(raw)
        if size > _INLINE_WRITE_MAX or not _write(self.directory, name, data, now, make_dirs=False):
            # large, or a new shard directory (slow to create on a journaling file system)
            await asyncio.to_thread(_write, self.directory, name, data, now, make_dirs=True)
        self._writes += 1
        self._written += size
        if self._writes >= _SWEEP_EVERY or self._written >= self._measure_every:
            self._maintain_soon()

    async def delete(self, key: str) -> bool:
        return _unlink(self.path(key))

    async def clear(self, prefix: str) -> int:
        return await asyncio.to_thread(self._clear, _encode_key(prefix))

    async def keys(self, prefix: str) -> AsyncIterator[str]:
        found = await asyncio.to_thread(self._keys, _encode_key(prefix))
        for key in found:
            yield key

    async def close(self) -> None:
        maintainer = self._maintainer
        if maintainer is not None:
            await asyncio.to_thread(maintainer.join)

    # -- upkeep ---------------------------------------------------------------------------------

    async def prune(self) -> int:
        """Remove every expired or unreadable entry, then trim to the size cap; return how many
        files went. (Writes do this a little at a time; this does all of it now.)"""
        return await asyncio.to_thread(self._prune)

    def _maintain_soon(self) -> None:
        with self._maintain_lock:
            if self._maintainer is not None and self._maintainer.is_alive():
                return
            measure = self._written >= self._measure_every
            self._writes = 0
            if measure:
                self._written = 0
            self._maintainer = threading.Thread(
                target=self._maintain, args=(measure,), name="aicache-file-sweep", daemon=True
            )
            self._maintainer.start()

    def _maintain(self, measure: bool) -> None:
        try:
            self._sweep(_SWEEP_FILES)
            if measure:
                self._trim()
        except Exception as exc:  # upkeep must never take the tier down
            log.warning("aicache: sweeping the file cache %s failed: %r", self.directory, exc)

    def _prune(self) -> int:
        return self._sweep(None) + self._trim()

    def _shards(self, start: int = 0) -> Iterator[str]:
        for i in range(256):
            shard = os.path.join(self.directory, f"{(start + i) % 256:02x}")
            if os.path.isdir(shard):
                yield shard

    def _sweep(self, limit: int | None) -> int:
        """Remove expired, unreadable and abandoned temporary files, examining at most ``limit``
        files, starting where the last sweep stopped."""
        now = _clock.now()
        removed = examined = 0
        for shard in self._shards(self._cursor):
            self._cursor = (int(os.path.basename(shard), 16) + 1) % 256
            names = _listdir(shard)
            if limit is not None:
                if examined >= limit:
                    break
                if len(names) > limit - examined:
                    names = random.sample(names, limit - examined)
            for name in names:
                examined += 1
                path = os.path.join(shard, name)
                if _is_temp(name):
                    doomed = _older_than(path, now - _STALE_TEMP)
                else:
                    head = _read_head(path)
                    doomed = head is not None and (head[0] <= now or head[1] is None)
                if doomed and _unlink(path):
                    removed += 1
        return removed

    def _trim(self) -> int:
        """Measure the directory; if it is over the cap, remove least recently used entries."""
        files: list[tuple[float, int, str]] = []
        total = 0
        for shard in self._shards():
            for entry in _scandir(shard):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_size
                if not _is_temp(entry.name):
                    files.append((st.st_mtime, st.st_size, entry.path))
        if total <= self.max_bytes:
            return 0
        files.sort()
        removed = 0
        goal = self.max_bytes * _EVICT_TO
        for _mtime, size, path in files:
            if total <= goal:
                break
            total -= size
            removed += _unlink(path)
        return removed

    def _matching(self, prefix: bytes, *, live: bool) -> Iterator[tuple[str, str]]:
        """``(path, key)`` of every entry (``live``: unexpired entry) whose key starts with
        ``prefix``."""
        now = _clock.now() if live else -math.inf
        for shard in self._shards():
            for name in _listdir(shard):
                if _is_temp(name):
                    continue
                path = os.path.join(shard, name)
                head = _read_head(path)
                if head is None or head[1] is None or head[0] <= now:
                    continue
                if head[1].startswith(prefix):
                    yield path, head[1].decode("utf-8", "surrogatepass")

    def _clear(self, prefix: bytes) -> int:
        return sum(_unlink(path) for path, _key in list(self._matching(prefix, live=False)))

    def _keys(self, prefix: bytes) -> list[str]:
        return [key for _path, key in self._matching(prefix, live=True)]

    def __repr__(self) -> str:
        return f"<FileBackend {self.name} {self.directory}>"


_O_BINARY: int = getattr(os, "O_BINARY", 0)


def _read_all(fd: int, size: int) -> bytes:
    data = os.read(fd, size + 1)  # one more byte than expected reveals a file that grew
    if len(data) <= size:
        return data
    chunks = [data]
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(data: bytes, key: bytes) -> tuple[float, bytes | None] | None:
    """``(expires, value)``; value ``None`` when the file holds another key or another
    version's format. ``None`` when the file is damaged."""
    if len(data) < _HEADER.size:
        return None
    magic, version, expires, key_len, value_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        return None
    if version != VERSION:
        return math.inf, None
    start = _HEADER.size + key_len
    if start + value_len != len(data) or expires != expires:
        return None
    if data[_HEADER.size : start] != key:
        return expires, None
    return expires, data[start:]


def _read_head(path: str) -> tuple[float, bytes | None] | None:
    """``(expires, key)`` of an entry file; key ``None`` when the file is damaged; ``None`` when
    it is gone or of another format version (left to its writer)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            size = os.fstat(f.fileno()).st_size
            if len(head) < _HEADER.size:
                return -math.inf, None
            magic, version, expires, key_len, value_len = _HEADER.unpack(head)
            if magic != MAGIC:
                return -math.inf, None
            if version != VERSION:
                return None
            if _HEADER.size + key_len + value_len != size or expires != expires:
                return -math.inf, None
            return expires, f.read(key_len)
    except FileNotFoundError:
        return None


def _write(directory: Path, name: str, data: bytes, now: float, *, make_dirs: bool) -> bool:
    """Write an entry file atomically; ``False`` if its shard directory is missing and
    ``make_dirs`` is off."""
    shard = os.path.join(directory, name[:2])
    temp = os.path.join(shard, f".{name}.{os.getpid()}.{random.getrandbits(32):08x}{_TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
    try:
        fd = os.open(temp, flags, 0o600)
    except FileNotFoundError:
        if not make_dirs:
            return False
        _make_dirs(directory, shard)
        fd = os.open(temp, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if os.utime in os.supports_fd:
                os.utime(fd, (now, now))
        finally:
            os.close(fd)
        if os.utime not in os.supports_fd:
            os.utime(temp, (now, now))
        os.replace(temp, os.path.join(shard, name))
    except BaseException:
        _unlink(temp)
        raise
    return True


def _make_dirs(directory: Path, shard: str) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.makedirs(shard, mode=0o700, exist_ok=True)


def _touch(path: str, now: float) -> None:
    with contextlib.suppress(OSError):  # gone, or not ours: recency is only a hint
        os.utime(path, (now, now))


def _unlink(path: str | os.PathLike[str]) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _is_temp(name: str) -> bool:
    return name.startswith(".")


def _older_than(path: str, moment: float) -> bool:
    try:
        return os.stat(path).st_mtime < moment
    except FileNotFoundError:
        return False
