"""The header that carries a cached call from the cached method to the recording transport.

Kept apart from :mod:`aicache.providers._wire` so that building it needs no HTTP library: the
proxy marks calls on every client, and ``import aicache`` must work without any SDK installed.
"""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

__all__ = ["MARK", "mark", "unmark"]

#: The header that carries a cached call to the transport; never sent to a provider.
MARK = "x-aicache-call"


def mark(key: str, path: str, model: str, bypass: bool) -> str:
    """The :data:`MARK` header value of a cached call."""
    return quote(json.dumps([key, path, model, bypass], separators=(",", ":")), safe="")


def unmark(value: str) -> tuple[str, str, str, bool]:
    """``(key, path, model, bypass)`` of a :data:`MARK` header value."""
    key, path, model, bypass = json.loads(unquote(value))
    return str(key), str(path), str(model), bool(bypass)
