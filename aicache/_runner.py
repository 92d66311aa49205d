"""aicache's own event loop, on one long-lived daemon thread, for sync callers.

A sync call that misses, or whose entry sits in a tier that must be awaited (Redis, a large
file), runs its cache work here: the tiers, single-flight and leases are async, and one loop
shared by every thread makes identical calls from many threads coalesce into one (they meet in
one ``Flights`` table), and keeps Redis connection pools per loop to one. Starting a loop per
call would cost about a millisecond and a new connection each time. A sync hit from a tier that
answers at once (memory, small files) never comes here.

The thread starts on first use and stops at interpreter exit (``atexit``) or on
``aicache.close()``; stopping cancels what is left, finalises async generators (which closes
the loop's Redis pools) and closes the loop. The next sync call starts a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ._log import log

__all__ = ["loop", "run", "stop", "submit"]

T = TypeVar("T")

_STOP_WAIT = 5.0  # seconds stop() waits for the thread; exit must never hang on the cache

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_registered = False


def _main(started: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(started)
    try:
        started.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(started)
            for task in pending:
                task.cancel()
            if pending:
                started.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            started.run_until_complete(started.shutdown_asyncgens())
        except Exception as exc:  # shutting down must not fail the program
            log.debug("aicache: stopping the sync loop: %r", exc)
        finally:
            started.close()


def loop() -> asyncio.AbstractEventLoop:
    """The running loop of aicache's thread, started on first use."""
    global _loop, _thread, _registered
    current = _loop
    if current is not None:
        return current
    with _lock:
        if _loop is None:
            started = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_main, args=(started,), name="aicache-loop", daemon=True
            )
            thread.start()
            _loop, _thread = started, thread
            if not _registered:
                atexit.register(stop)
                _registered = True
        return _loop


def on_loop_thread() -> bool:
    return threading.current_thread() is _thread


def submit(
    coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
) -> concurrent.futures.Future[T]:
    """Run ``coro`` on aicache's loop as a task in ``context`` (default: a copy of the caller's,
    so ``cache_control`` reaches it); its future, to wait on from any other thread."""
    if on_loop_thread():
        coro.close()
        raise RuntimeError(
            "a sync aicache call was made on aicache's own loop thread; make it from your own "
            "thread (or await the async API)"
        )
    ctx = contextvars.copy_context() if context is None else context
    running = loop()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def copy(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            done.cancel()
        elif (exc := task.exception()) is not None:
            done.set_exception(exc)
        else:
            done.set_result(task.result())

    def start() -> None:
        if done.set_running_or_notify_cancel():
            ctx.run(running.create_task, coro).add_done_callback(copy)  # the task copies ctx
        else:
            coro.close()

    running.call_soon_threadsafe(start)
    return done


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``coro``'s result, run on aicache's loop; blocks the calling thread until it is done."""
    return submit(coro).result()


def stop() -> None:
    """Stop aicache's loop thread (at exit, or from ``aicache.close()``). Safe to call twice."""
    global _loop, _thread
    with _lock:
        current, thread = _loop, _thread
        _loop = _thread = None
    if current is None or thread is None:
        return
    if threading.current_thread() is thread:
        current.stop()
        return
    current.call_soon_threadsafe(current.stop)
    thread.join(_STOP_WAIT)
    if thread.is_alive():
        log.warning("aicache: the sync loop thread did not stop within %.0f s", _STOP_WAIT)
