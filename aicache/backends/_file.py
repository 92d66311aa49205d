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

The tier touches only what it can prove is its own. The directory carries a ``CACHEDIR.TAG``
marker naming aicache, and a directory that holds anything else without it is refused
(:class:`ConfigError`). Inside, a file is an entry only when it is a regular file (never a
symlink, FIFO or device) named by 64 hex digits in the shard of its first two, and starts with
the magic; upkeep deletes it only when its key also hashes to its name, or when the magic is
there and the rest is truncated. Shards are opened without following symlinks, and every entry
is opened that way and without blocking, so nothing outside the directory is ever read, written
or deleted and no special file can hang a call or a sweep. Reads are bounded by the entry size
limit.

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
import errno
import hashlib
import math
import os
import random
import re
import stat
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from .. import _clock
from .._errors import ConfigError, EntryError, WriteRefused
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
_ADOPT_SAMPLE = 64  # entry files looked at before adopting an unmarked directory

#: The marker (https://bford.info/cachedir/): backup tools skip the directory, aicache knows it.
MARKER = "CACHEDIR.TAG"
_MARKER_TEXT = (
    b"Signature: 8a477f597d28d172789f06886806bc55\n"
    b"# This directory is an aicache file tier; aicache deletes entry files in it.\n"
)
_MARKER_ID = b"aicache file tier"

_SHARD_RE = re.compile(r"[0-9a-f]{2}")
_ENTRY_RE = re.compile(r"[0-9a-f]{64}")
_TEMP_RE = re.compile(r"\.([0-9a-f]{64})\.\d+\.[0-9a-f]{8}\.tmp")

_O_BINARY: int = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
#: Opening never follows a symlink, and a FIFO opens at once instead of waiting for a writer.
_READ_FLAGS = os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _O_BINARY | _O_CLOEXEC
_SHARD_FLAGS = os.O_RDONLY | _O_NOFOLLOW | _O_DIRECTORY | _O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY | _O_CLOEXEC
#: Not a file of ours where one was expected: a symlink, or a shard that is not a directory.
_NOT_OURS = (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENXIO)
#: The disk will not take more, though it still reads.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def _encode_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _name(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


class FileBackend(Backend):
    """Entries as files under ``directory`` (created 0700; entries 0600), at most ``max_bytes``
    in all and ``max_entry_bytes`` of value each.

    Raises :class:`ConfigError` for a directory that holds files that are not aicache's and no
    aicache marker (say a home directory, or a git repository's ``.git/objects``).
    """

    name = "file"
    local = True

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1 << 30,
        max_entry_bytes: int = 16 * 1024 * 1024,
        name: str = "file",
    ) -> None:
        for option, value in (("max_bytes", max_bytes), ("max_entry_bytes", max_entry_bytes)):
            if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"FileBackend {option} must be an integer >= 1, not {value!r}")
        self.directory = Path(directory).expanduser()
        # Every read names a shard: ``self._shard_prefix + name[:2]`` (os.path.join costs more).
        self._shard_prefix = os.path.join(self.directory, "")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.name = name
        self._measure_every = max(1, max_bytes // 20)
        self._writes = 0  # since the last sweep
        self._written = max_bytes  # bytes since the size was last measured: measure soon
        self._cursor = random.randrange(256)  # processes sharing a directory sweep apart
        self._maintainer: threading.Thread | None = None
        self._maintain_lock = threading.Lock()
        _claim(self.directory)

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

    def _get(self, key: str, inline: int | None) -> bytes | Nowait | None:
        """The entry's value; :data:`WOULD_BLOCK` when its file is over ``inline`` bytes."""
        raw = _encode_key(key)
        name = _name(raw)
        try:
            shard = os.open(self._shard_prefix + name[:2], _SHARD_FLAGS)
        except OSError as exc:
            _absent(exc)
            return None
        try:
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=shard)
            except OSError as exc:
                _absent(exc)
                return None
            try:
                st = os.fstat(fd)
                limit = _HEADER.size + len(raw) + self.max_entry_bytes
                if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                    return None  # not an entry of ours: left alone, replaced by the next store
                if inline is not None and st.st_size > inline:
                    return WOULD_BLOCK
                # One more byte than fstat saw reveals a file that grew; the whole of it in one
                # call is its end (a second call would only confirm it).
                data = os.read(fd, st.st_size + 1)
                if len(data) < st.st_size:  # a short read
                    data += _read(fd, st.st_size + 1 - len(data))
            finally:
                os.close(fd)
            found = _parse(data, raw)
            if found is None:
                if data[:4] == MAGIC:  # ours, damaged (a torn write): the magic proves it
                    warn_once(
                        f"file:bad:{self.directory}",
                        "aicache: damaged entry file %s; treating it as a miss and removing it",
                        os.path.join(self.directory, name[:2], name),
                    )
                    _unlink_at(shard, name)
                return None
            expires, value = found
            if value is None:
                return None  # another key with the same hash, or another format version
            now = _clock.now()
            if expires <= now:
                _unlink_at(shard, name)
                return None
            if now - st.st_mtime > _TOUCH_AFTER:
                _touch(fd_dir=shard, name=name, now=now)
            return value
        finally:
            os.close(shard)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            await self.delete(key)
            return
        raw = _encode_key(key)
        size = _HEADER.size + len(raw) + len(value)
        if size > self.max_bytes or len(value) > self.max_entry_bytes:
            await self.delete(key)  # not storable here: at least stop serving the older value
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
        name = _name(_encode_key(key))
        try:
            shard = os.open(self._shard_prefix + name[:2], _SHARD_FLAGS)
        except OSError as exc:
            _absent(exc)
            return False
        try:
            return _unlink_at(shard, name)
        finally:
            os.close(shard)

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
        """Remove every expired or damaged entry, then trim to the size cap; return how many
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

    def _shards(self, start: int = 0) -> Iterator[tuple[str, int]]:
        """``(name, open descriptor)`` of each shard directory, from ``start`` round; a shard
        that is a symlink or not a directory is skipped."""
        for i in range(256):
            name = f"{(start + i) % 256:02x}"
            try:
                fd = os.open(os.path.join(self.directory, name), _SHARD_FLAGS)
            except OSError:
                continue
            try:
                yield name, fd
            finally:
                os.close(fd)

    def _sweep(self, limit: int | None) -> int:
        """Remove expired and damaged entries and abandoned temporary files, examining at most
        ``limit`` files, starting where the last sweep stopped."""
        now = _clock.now()
        removed = examined = 0
        for shard, fd in self._shards(self._cursor):
            self._cursor = (int(shard, 16) + 1) % 256
            names = _listdir(fd)
            if limit is not None:
                if examined >= limit:
                    break
                if len(names) > limit - examined:
                    names = random.sample(names, limit - examined)
            for name in names:
                examined += 1
                if _is_temp(shard, name):
                    doomed = _older_than(fd, name, now - _STALE_TEMP)
                elif _is_entry(shard, name):
                    head = _read_head(fd, name)
                    doomed = head is not None and (head.damaged or head.expires <= now)
                else:
                    continue
                if doomed and _unlink_at(fd, name):
                    removed += 1
        return removed

    def _trim(self) -> int:
        """Measure the directory; if it is over the cap, remove least recently used entries."""
        files: list[tuple[float, int, str]] = []
        total = 0
        for shard, fd in self._shards():
            for name in _listdir(fd):
                entry, temp = _is_entry(shard, name), _is_temp(shard, name)
                if not (entry or temp):
                    continue
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                total += st.st_size
                if entry:
                    files.append((st.st_mtime, st.st_size, f"{shard}/{name}"))
        if total <= self.max_bytes:
            return 0
        files.sort()
        removed = 0
        goal = self.max_bytes * _EVICT_TO
        for _mtime, size, where in files:
            if total <= goal:
                break
            shard, _, name = where.partition("/")
            try:
                fd = os.open(os.path.join(self.directory, shard), _SHARD_FLAGS)
            except OSError:
                continue
            try:
                head = _read_head(fd, name)
                if head is not None and (head.damaged or head.key is not None):
                    total -= size
                    removed += _unlink_at(fd, name)
            finally:
                os.close(fd)
        return removed

    def _matching(self, prefix: bytes, *, live: bool) -> Iterator[tuple[int, str, str]]:
        """``(shard descriptor, name, key)`` of every entry (``live``: unexpired entry) whose key
        starts with ``prefix``."""
        now = _clock.now() if live else -math.inf
        for shard, fd in self._shards():
            for name in _listdir(fd):
                if not _is_entry(shard, name):
                    continue
                head = _read_head(fd, name)
                if head is None or head.key is None or head.expires <= now:
                    continue
                if head.key.startswith(prefix):
                    yield fd, name, head.key.decode("utf-8", "surrogatepass")

    def _clear(self, prefix: bytes) -> int:
        return sum(_unlink_at(fd, name) for fd, name, _key in self._matching(prefix, live=False))

    def _keys(self, prefix: bytes) -> list[str]:
        return [key for _fd, _name, key in self._matching(prefix, live=True)]

    def __repr__(self) -> str:
        return f"<FileBackend {self.name} {self.directory}>"


def _claim(directory: Path) -> None:
    """Refuse a directory that holds what aicache did not put there, unless it bears the marker.

    An unmarked directory of shards whose files are entries (written before the marker existed)
    is adopted: it gets the marker.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return  # created, with the marker, by the first store
    except NotADirectoryError:
        raise ConfigError(
            f"the file tier's directory {directory} (AI_CACHE_DIR, or FileBackend's directory) "
            "is not a directory"
        ) from None
    except OSError:
        return  # unreadable now: every call is a miss, counted, until it is fixed
    if not names or (MARKER in names and _is_marker(directory / MARKER)):
        return
    if not _only_entries(directory, names):
        raise ConfigError(
            f"the file tier's directory {directory} (AI_CACHE_DIR, or FileBackend's directory) "
            f"holds files that are not aicache entries and has no aicache {MARKER} marker; "
            "aicache would delete files in it. Point AI_CACHE_DIR at a new or empty directory"
        )
    _mark(directory)


def _is_marker(path: Path) -> bool:
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and _MARKER_ID in _read(fd, 4096)
    finally:
        os.close(fd)


def _mark(directory: Path) -> None:
    try:
        fd = os.open(directory / MARKER, _WRITE_FLAGS, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        log.debug("aicache: could not mark %s as a cache directory: %r", directory, exc)
        return
    try:
        os.write(fd, _MARKER_TEXT + b"# " + _MARKER_ID + b" v1\n")
    finally:
        os.close(fd)


def _only_entries(directory: Path, names: list[str]) -> bool:
    """Whether ``names`` are shard directories holding entry files (a sample of them)."""
    looked = 0
    for shard in names:
        if not _SHARD_RE.fullmatch(shard):
            return False
        try:
            fd = os.open(directory / shard, _SHARD_FLAGS)
        except OSError:
            return False
        try:
            for name in _listdir(fd):
                if _is_temp(shard, name):
                    continue
                if not _is_entry(shard, name):
                    return False
                if looked < _ADOPT_SAMPLE:
                    looked += 1
                    head = _read_head(fd, name)
                    if head is None or head.key is None:
                        return False
        finally:
            os.close(fd)
    return True


class _Head:
    __slots__ = ("damaged", "expires", "key")

    def __init__(self, expires: float, key: bytes | None, damaged: bool) -> None:
        self.expires = expires
        self.key = key  # None unless the file is whole and its key hashes to its name
        self.damaged = damaged  # ours (the magic says so) but truncated or torn


def _read(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``fd``."""
    chunks = []
    while limit > 0:
        chunk = os.read(fd, min(limit, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
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


def _read_head(shard: int, name: str) -> _Head | None:
    """What the entry file ``name`` in ``shard`` says of itself; ``None`` when it is gone, not a
    regular file, not in aicache's format, or of another format version (left to its writer)."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=shard)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        head = os.read(fd, _HEADER.size)
        if len(head) < _HEADER.size:
            return _Head(-math.inf, None, True) if head[:4] == MAGIC else None
        magic, version, expires, key_len, value_len = _HEADER.unpack(head)
        if magic != MAGIC or version != VERSION:
            return None
        if _HEADER.size + key_len + value_len != st.st_size or expires != expires:
            return _Head(-math.inf, None, True)
        key = _read(fd, key_len)
        if _name(key) != name:
            return _Head(expires, None, False)  # an entry, but not under its own name
        return _Head(expires, key, False)
    finally:
        os.close(fd)


def _write(directory: Path, name: str, data: bytes, now: float, *, make_dirs: bool) -> bool:
    """Write an entry file atomically; ``False`` if its shard directory is missing and
    ``make_dirs`` is off."""
    shard_path = os.path.join(directory, name[:2])
    try:
        shard = os.open(shard_path, _SHARD_FLAGS)
    except FileNotFoundError:
        if not make_dirs:
            return False
        _make_dirs(directory, shard_path)
        shard = _open_shard_for_write(shard_path)
    except OSError as exc:
        raise _write_error(exc) from exc
    try:
        temp = f".{name}.{os.getpid()}.{random.getrandbits(32):08x}.tmp"
        try:
            fd = os.open(temp, _WRITE_FLAGS, 0o600, dir_fd=shard)
        except OSError as exc:
            raise _write_error(exc) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.utime(fd, (now, now))
            finally:
                os.close(fd)
            os.replace(temp, name, src_dir_fd=shard, dst_dir_fd=shard)
        except BaseException as exc:
            _unlink_at(shard, temp)
            if isinstance(exc, OSError):
                raise _write_error(exc) from exc
            raise
    finally:
        os.close(shard)
    return True


def _open_shard_for_write(path: str) -> int:
    try:
        return os.open(path, _SHARD_FLAGS)
    except OSError as exc:
        raise _write_error(exc) from exc


def _write_error(exc: OSError) -> Exception:
    """What a failed write means for the chain: one entry, a full disk, or the tier."""
    if exc.errno in _NOT_OURS:
        return EntryError(f"the entry's path holds something that is not an entry: {exc}")
    if exc.errno in _FULL:
        return WriteRefused(str(exc))
    return exc


def _make_dirs(directory: Path, shard: str) -> None:
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _mark(directory)
    try:
        os.mkdir(shard, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _write_error(exc) from exc


def _touch(*, fd_dir: int, name: str, now: float) -> None:
    with contextlib.suppress(OSError, NotImplementedError):  # recency is only a hint
        os.utime(name, (now, now), dir_fd=fd_dir, follow_symlinks=False)


def _absent(exc: OSError) -> None:
    """Raise ``exc`` unless it says there is no entry: nothing there, or not an entry."""
    if not (isinstance(exc, FileNotFoundError) or exc.errno in _NOT_OURS):
        raise exc


def _unlink_at(shard: int, name: str) -> bool:
    """Remove the file ``name`` (never a directory, never what a symlink points to)."""
    try:
        os.unlink(name, dir_fd=shard)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno in (*_NOT_OURS, errno.EPERM):
            return False
        raise
    return True


def _listdir(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        return []


def _is_entry(shard: str, name: str) -> bool:
    return name.startswith(shard) and _ENTRY_RE.fullmatch(name) is not None


def _is_temp(shard: str, name: str) -> bool:
    found = _TEMP_RE.fullmatch(name)
    return found is not None and found[1].startswith(shard)


def _older_than(shard: int, name: str, moment: float) -> bool:
    try:
        st = os.stat(name, dir_fd=shard, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_mtime < moment
