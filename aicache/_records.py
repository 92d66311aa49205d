"""Entries as portable JSON lines: what ``aicache export`` writes, ``aicache import`` reads, and
the pytest plugin commits beside a test.

One line per entry, keys sorted, lines sorted by key, so that a re-recorded file changes only
where an answer changed and reviews well in a diff. Each line holds the entry's key, the request
that made it (when the entry was stored in record mode), the result as the cache stores it (the
allowlisted type's tag and its JSON data: importing never executes anything), and its metadata.
With a secret set, each line carries ``sig``: HMAC-SHA256 of the line without it, checked on
import, so a file edited by hand (or signed with another secret) is refused line by line.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import _clock
from ._envelope import BadEntry, Entry, EntryTooLarge, TamperedEntry, decode, encode
from ._keys import KEY_PREFIX
from ._policy import backfill_ttl
from .backends import Backend

__all__ = ["BadRecord", "Exported", "Imported", "export_entries", "import_entries", "read_lines"]

_SORTED = orjson.OPT_SORT_KEYS
_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))


class BadRecord(ValueError):
    """A line of a records file that is not an entry, or fails its signature check."""


@dataclass
class Exported:
    """What :func:`export_entries` found: the lines, and the entries it left out, by why."""

    lines: list[bytes] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class Imported:
    """What :func:`import_entries` wrote, and the lines it left out, by why."""

    stored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _sign(secret: bytes, body: bytes) -> str:
    return hmac.digest(secret, body, hashlib.sha256).hex()


def _line(key: str, entry: Entry, secret: bytes | None) -> bytes:
    record: dict[str, Any] = {
        "key": key,
        "request": entry.request,
        "type": entry.tag,
        "value": entry.payload,
        "created": entry.created,
        "expires": entry.expires,
        "stale_until": entry.stale_until,
        "duration": entry.duration,
        "cost": entry.cost,
        "usage": entry.usage,
    }
    body = orjson.dumps(record, option=_SORTED)
    if secret is None:
        return body
    record["sig"] = _sign(secret, body)
    return orjson.dumps(record, option=_SORTED)


def _entry(line: bytes, secret: bytes | None) -> tuple[str, Entry]:
    """The key and entry of one line; :class:`BadRecord` says what is wrong with it."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise BadRecord("not JSON") from None
    if type(record) is not dict:
        raise BadRecord("not a JSON object")
    sig = record.pop("sig", None)
    if secret is not None:
        if not isinstance(sig, str):
            raise BadRecord("not signed, and AI_CACHE_SECRET is set")
        if not hmac.compare_digest(sig, _sign(secret, orjson.dumps(record, option=_SORTED))):
            raise BadRecord("its signature does not match (edited, or signed with another secret)")
    key, tag = record.get("key"), record.get("type")
    if not (isinstance(key, str) and key.startswith(f"{KEY_PREFIX}:") and key.count(":") >= 3):
        raise BadRecord(f"key must be an aicache key ({KEY_PREFIX}:<namespace>:...)")
    if (
        "value" not in record
        or not (tag is None or type(tag) is str)
        or type(record.get("created")) not in _NUMBER
        or type(record.get("duration", 0.0)) not in _NUMBER
        or type(record.get("expires")) not in _OPTIONAL_NUMBER
        or type(record.get("stale_until")) not in _OPTIONAL_NUMBER
        or type(record.get("cost")) not in _OPTIONAL_NUMBER
        or not (record.get("usage") is None or type(record.get("usage")) is dict)
    ):
        raise BadRecord("does not have the fields of an entry")
    return key, Entry(
        record["value"],
        tag,
        record["created"],
        record.get("expires"),
        record.get("stale_until"),
        record.get("duration", 0.0),
        record.get("cost"),
        record.get("usage"),
        record.get("request"),
    )


def _skip(skipped: dict[str, int], why: str) -> None:
    skipped[why] = skipped.get(why, 0) + 1


async def export_entries(
    tiers: Sequence[Backend],
    prefix: str,
    *,
    secret: bytes | None,
    max_entry_bytes: int,
    previous: Sequence[bytes] = (),
    file_secret: bytes | None = None,
) -> Exported:
    """The live entries under ``prefix`` in ``tiers`` as lines (signed with ``file_secret``,
    default ``secret``), sorted by key. Entries signed with a ``previous`` secret are read too.
    Where tiers hold the same key, the first tier's entry is taken. Expired, corrupt and
    tampered entries are left out and counted."""
    out = Exported()
    sign = secret if file_secret is None else file_secret
    now = _clock.now()
    seen: set[str] = set()
    found: list[tuple[str, bytes]] = []
    for tier in tiers:
        async for key in tier.keys(prefix):
            if key in seen:
                continue
            data = await tier.get(key)
            if data is None:
                continue
            seen.add(key)
            try:
                entry = decode(key, data, secret, previous=previous, limit=max_entry_bytes)
            except BadEntry as exc:
                _skip(out.skipped, "tampered" if isinstance(exc, TamperedEntry) else "corrupt")
                continue
            if not backfill_ttl(entry, now)[0]:
                _skip(out.skipped, "expired")
                continue
            found.append((key, _line(key, entry, sign)))
    out.lines = [line for _, line in sorted(found)]
    return out


def read_lines(text: bytes) -> list[bytes]:
    """The non-blank lines of a records file."""
    return [line for line in text.splitlines() if line.strip()]


async def import_entries(
    tiers: Sequence[Backend],
    lines: Iterable[bytes],
    *,
    secret: bytes | None,
    max_entry_bytes: int,
    ttl: float | None = None,
    strict: bool = True,
    file_secret: bytes | None = None,
) -> Imported:
    """Write the entries of ``lines`` into every tier, each signed for this cache's ``secret``.

    An entry keeps its recorded lifetime (an expired one is left out), or with ``ttl`` is fresh
    for ``ttl`` seconds from now. A bad line raises :class:`BadRecord` naming it (``strict``),
    or is counted and left out. Lines are checked against ``file_secret`` (default ``secret``).
    """
    out = Imported()
    check = secret if file_secret is None else file_secret
    now = _clock.now()
    for number, line in enumerate(lines, 1):
        try:
            key, entry = _entry(line, check)
        except BadRecord as exc:
            if strict:
                raise BadRecord(f"line {number}: {exc}") from None
            _skip(out.skipped, "bad line")
            continue
        if ttl is not None:
            entry.expires, entry.stale_until = now + ttl, None
        keep, left = backfill_ttl(entry, now)
        if not keep:
            _skip(out.skipped, "expired")
            continue
        try:
            data = encode(key, entry, secret, limit=max_entry_bytes)
        except (EntryTooLarge, TypeError, orjson.JSONEncodeError) as exc:
            if strict:
                raise BadRecord(f"line {number}: {exc}") from None
            _skip(out.skipped, "too large" if isinstance(exc, EntryTooLarge) else "bad line")
            continue
        for tier in tiers:
            await tier.set(key, data, left)
        out.stored += 1
    return out
