"""The stored format of one entry: a versioned, optionally signed orjson document.

Layout: ``b"aic1:" + body`` unsigned, or ``b"aic1s" + HMAC-SHA256(secret, key + NUL + body) +
body`` signed. The body holds the payload and its metadata. The algorithm is fixed here, never read
from the entry, and decoding never executes anything: a bad entry is a :class:`BadEntry`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["BadEntry", "Entry", "TamperedEntry", "decode", "encode"]

VERSION = 1
_PLAIN = b"aic1:"
_SIGNED = b"aic1s"
_HEAD = len(_PLAIN)
_MAC = hashlib.sha256().digest_size


class BadEntry(Exception):
    """Stored bytes that are not a valid entry of this version (corrupt, truncated, foreign)."""


class TamperedEntry(BadEntry):
    """A signed cache whose entry is unsigned or fails its signature check."""


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


def _mac(secret: bytes, key: str, body: bytes) -> bytes:
    return hmac.digest(secret, key.encode() + b"\x00" + body, "sha256")


def encode(key: str, entry: Entry, secret: bytes | None = None) -> bytes:
    # A JSON array, not an object: unpacking it is the cheapest decode there is.
    body = orjson.dumps(
        [
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
    )
    if secret is None:
        return _PLAIN + body
    return _SIGNED + _mac(secret, key, body) + body


def _signed_by(mac: bytes, key: str, body: bytes, secret: bytes, previous: Sequence[bytes]) -> bool:
    if hmac.compare_digest(mac, _mac(secret, key, body)):
        return True
    return any(hmac.compare_digest(mac, _mac(old, key, body)) for old in previous)


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))


def decode(
    key: str, data: bytes, secret: bytes | None = None, previous: Sequence[bytes] = ()
) -> Entry:
    """Parse and check stored bytes; raise :class:`BadEntry` or :class:`TamperedEntry`.

    An entry signed with ``secret`` or with one of the ``previous`` secrets (a rotation in
    progress) passes."""
    head = data[:_HEAD]
    if head == _PLAIN:
        if secret is not None:
            raise TamperedEntry("entry is not signed")
        body = data[_HEAD:]
    elif head == _SIGNED:
        body = data[_HEAD + _MAC :]
        if secret is not None and not _signed_by(
            data[_HEAD : _HEAD + _MAC], key, body, secret, previous
        ):
            raise TamperedEntry("signature does not match")
    else:
        raise BadEntry("not an aicache entry of this version")
    try:
        version, tag, created, expires, stale_until, duration, cost, usage, payload = orjson.loads(
            body
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
    return Entry(payload, tag, created, expires, stale_until, duration, cost, usage)
