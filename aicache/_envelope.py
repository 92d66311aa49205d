"""The stored format of one entry: a versioned, optionally signed orjson document.

Layout: ``b"aic1:" + body`` unsigned, or ``b"aic1s" + HMAC-SHA256(secret, key + NUL + body) +
body`` signed. The body holds the payload and its metadata. A body over :data:`COMPRESS_OVER`
bytes is stored as one zstd frame (level 3, its size in the frame header): ``b"aic1z"``, or
``b"aic1Z"`` signed (the MAC covers the compressed bytes, so it is checked before anything is
inflated). zstd, not zlib: on a 1 MB JSON result it stores 46 KB instead of 79 KB and inflates
in a quarter of the time (``python -m benchmarks compression``). A frame whose size is over
``limit`` is a :class:`BadEntry` before any output is allocated: a small entry that would expand
to gigabytes is a miss, never an allocation. The algorithms are fixed here, never read from the
entry, and decoding never executes anything: a bad entry is a :class:`BadEntry`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import zstandard

__all__ = [
    "COMPRESS_OVER",
    "BadEntry",
    "Entry",
    "EntryTooLarge",
    "TamperedEntry",
    "decode",
    "encode",
    "payload_at",
    "reload",
]

VERSION = 1
#: Bodies up to this many bytes are stored as they are: a small entry's hit pays no inflate.
COMPRESS_OVER = 16 * 1024
#: What a body may inflate to when the caller names no limit (``max_entry_bytes``'s default).
DEFAULT_LIMIT = 16 * 1024 * 1024
_LEVEL = 3  # zstd's default: on JSON as small as level 1's output within 0.2 ms per MB
_local = threading.local()  # zstd contexts are not thread-safe; one pair per thread
_PLAIN = b"aic1:"
_SIGNED = b"aic1s"
_PLAIN_Z = b"aic1z"
_SIGNED_Z = b"aic1Z"
_HEAD = len(_PLAIN)
_MAC = hashlib.sha256().digest_size


class BadEntry(Exception):
    """Stored bytes that are not a valid entry of this version (corrupt, truncated, foreign)."""


class TamperedEntry(BadEntry):
    """A signed cache whose entry is unsigned or fails its signature check."""


class EntryTooLarge(ValueError):
    """An entry whose body is over the size limit given to :func:`encode`."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"an entry of {size} bytes is over the limit of {limit}")
        self.size = size
        self.limit = limit


@dataclass(slots=True)
class Entry:
    """One cached result with what is known about the call that produced it."""

    payload: Any
    tag: str | None = None
    created: float = 0.0
    expires: float | None = None  # end of freshness
    stale_until: float | None = None  # end of the stale-while-revalidate window
    duration: float = 0.0  # seconds the original call took
    cost: float | None = None  # USD the original call cost, None if unknown
    usage: dict[str, Any] | None = field(default=None)  # provider, model, token counts
    #: What the call asked (kept in record mode, for export and review); ``None`` otherwise.
    request: Any = None


def _mac(secret: bytes, key: str, body: bytes) -> bytes:
    return hmac.digest(secret, key.encode() + b"\x00" + body, "sha256")


def encode(
    key: str,
    entry: Entry,
    secret: bytes | None = None,
    *,
    limit: int | None = None,
    compress_over: int = COMPRESS_OVER,
) -> bytes:
    """The stored bytes of ``entry``; :class:`EntryTooLarge` when, uncompressed, they would be
    over ``limit`` bytes (what :func:`decode` will inflate is bounded by the same limit)."""
    # A JSON array, not an object: unpacking it is the cheapest decode there is. The request,
    # when kept, is a tenth item: entries without one are byte for byte as before.
    fields = [
        VERSION,
        entry.tag,
        entry.created,
        entry.expires,
        entry.stale_until,
        entry.duration,
        entry.cost,
        entry.usage,
        entry.payload,
    ]
    if entry.request is not None:
        fields.append(entry.request)
    body = orjson.dumps(fields)
    head = _HEAD if secret is None else _HEAD + _MAC
    if limit is not None and head + len(body) > limit:
        raise EntryTooLarge(head + len(body), limit)
    plain, signed = _PLAIN, _SIGNED
    if len(body) > compress_over:  # JSON text always shrinks
        body, plain, signed = _compressor().compress(body), _PLAIN_Z, _SIGNED_Z
    if secret is None:
        return plain + body
    return signed + _mac(secret, key, body) + body


def _signed_by(mac: bytes, key: str, body: bytes, secret: bytes, previous: Sequence[bytes]) -> bool:
    if hmac.compare_digest(mac, _mac(secret, key, body)):
        return True
    return any(hmac.compare_digest(mac, _mac(old, key, body)) for old in previous)


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))


def _compressor() -> zstandard.ZstdCompressor:
    c: zstandard.ZstdCompressor | None = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=_LEVEL, write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def _inflate(packed: bytes, limit: int) -> bytes:
    """``packed`` decompressed; its declared size is checked against ``limit`` first."""
    try:
        size = zstandard.frame_content_size(packed)
        if size < 0:
            raise BadEntry("compressed body does not declare its size")
        if size > limit:
            raise BadEntry(f"entry expands to {size} bytes, over the limit of {limit}")
        out = _decompressor().decompress(packed, max_output_size=limit)
    except zstandard.ZstdError:
        raise BadEntry("compressed body is corrupt or truncated") from None
    if len(out) != size:
        raise BadEntry("compressed body does not match its declared size")
    return out


def decode(
    key: str,
    data: bytes,
    secret: bytes | None = None,
    *,
    previous: Sequence[bytes] = (),
    limit: int = DEFAULT_LIMIT,
) -> Entry:
    """Parse and check stored bytes; raise :class:`BadEntry` or :class:`TamperedEntry`.

    An entry signed with ``secret`` or with one of the ``previous`` secrets (a rotation in
    progress) passes. ``limit`` bounds the size a compressed body may inflate to
    (``max_entry_bytes``)."""
    head = data[:_HEAD]
    if head in (_PLAIN, _PLAIN_Z):
        if secret is not None:
            raise TamperedEntry("entry is not signed")
        body = data[_HEAD:]
    elif head in (_SIGNED, _SIGNED_Z):
        body = data[_HEAD + _MAC :]
        if secret is not None and not _signed_by(
            data[_HEAD : _HEAD + _MAC], key, body, secret, previous
        ):
            raise TamperedEntry("signature does not match")
    else:
        raise BadEntry("not an aicache entry of this version")
    if head in (_PLAIN_Z, _SIGNED_Z):
        body = _inflate(body, limit)
    try:
        fields = orjson.loads(body)
        request = fields[9] if type(fields) is list and len(fields) == 10 else None
        version, tag, created, expires, stale_until, duration, cost, usage, payload = (
            fields[:9] if request is not None else fields
        )
    except (orjson.JSONDecodeError, ValueError, TypeError):
        raise BadEntry("body is not an entry") from None
    if (
        version != VERSION
        or type(created) not in _NUMBER
        or type(duration) not in _NUMBER
        or type(expires) not in _OPTIONAL_NUMBER
        or type(stale_until) not in _OPTIONAL_NUMBER
        or type(cost) not in _OPTIONAL_NUMBER
        or not (tag is None or type(tag) is str)
        or not (usage is None or type(usage) is dict)
    ):
        raise BadEntry("body does not have the fields of an entry")
    return Entry(payload, tag, created, expires, stale_until, duration, cost, usage, request)


def payload_at(data: bytes) -> int | None:
    """Where the body starts in stored bytes that are not compressed, for :func:`reload`;
    ``None`` for a compressed entry (whose hit is dominated by inflating it anyway)."""
    head = data[:_HEAD]
    if head == _PLAIN:
        return _HEAD
    if head == _SIGNED:
        return _HEAD + _MAC
    return None


def reload(data: bytes, at: int) -> Any:
    """A fresh copy of the payload of ``data``, which :func:`decode` accepted (for this key and
    secret) and whose body starts at ``at`` (:func:`payload_at`): parsed again, nothing else."""
    return orjson.loads(data[at:])[8]
