"""Run aicache's coroutines from synchronous code: the sync half of a framework's cache seam.

A framework may call a cache's sync methods from any thread, including one whose event loop is
running (a sync LangChain ``invoke`` inside async code). ``asyncio.run`` would fail there, and a
new loop per call would open a new Redis pool each time; so every sync call goes to one event
loop kept on a daemon thread for the life of the process.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _portal() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(
                target=_loop.run_forever, name="aicache-sync-portal", daemon=True
            )
            _thread.start()
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro``, run to completion on the portal's event loop."""
    loop = _portal()
    if threading.current_thread() is _thread:  # it would wait for itself forever
        coro.close()
        raise RuntimeError("aicache: a sync cache method was called from inside an async one")
    # The caller's context goes along: cache_control switches and stats scopes are contextvars.
    return asyncio.run_coroutine_threadsafe(
        _within(contextvars.copy_context(), coro), loop
    ).result()


async def _within(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` as a task of its own in ``context``."""
    return await context.run(asyncio.ensure_future, coro)
