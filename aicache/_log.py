"""aicache's logger, and a warning that is written once per reason rather than once per call."""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["log", "warn_once"]

log = logging.getLogger("aicache")
_seen: set[str] = set()
_lock = threading.Lock()
_LIMIT = 10_000


def warn_once(reason: str, msg: str, *args: Any) -> None:
    """Log ``msg`` at WARNING the first time ``reason`` comes up in this process."""
    with _lock:
        if reason in _seen:
            return
        if len(_seen) >= _LIMIT:
            _seen.clear()
        _seen.add(reason)
    log.warning(msg, *args)
