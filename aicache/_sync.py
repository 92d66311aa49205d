"""The cache core for sync callers: a plain ``def`` under ``@ai_cached``, a sync SDK client.

A hit from a tier that answers at once (:meth:`AICache.peek`) is served on the caller's thread
and touches no event loop. Anything else runs :meth:`AICache.call` on aicache's own loop
(:mod:`._runner`), so that sync and async callers share one core: the same tiers, stats,
single-flight and leases. When that call needs the function run, the loop hands it back to the
calling thread, which runs it and hands the result over; the loop never runs the caller's
function. The one exception is a stale entry refreshed in the background (``stale_ttl``): the
caller has already been served, so the refresh runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from typing import Any, TypeVar

from . import _runner
from ._cache import AICache
from ._controls import switches
from ._policy import Policy

__all__ = ["call", "run"]

T = TypeVar("T")


def _settle(asked: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if asked.done():
        return
    if exc is not None:
        asked.set_exception(exc)
    else:
        asked.set_result(value)


def run(fn: Callable[[], Any], work: Callable[[Callable[[], Any]], Any]) -> Any:
    """Run ``work(here)`` on aicache's loop (a coroutine function's call) and return its result,
    where ``here()`` is an awaitable that runs ``fn`` on this thread."""
    asks: queue.SimpleQueue[asyncio.Future[Any] | None] = queue.SimpleQueue()
    loop = _runner.loop()

    async def here() -> Any:
        asked = loop.create_future()
        asks.put(asked)
        return await asked

    done = _runner.submit(work(here))
    done.add_done_callback(lambda _: asks.put(None))
    while (asked := asks.get()) is not None:
        try:
            value = fn()
        except Exception as exc:
            loop.call_soon_threadsafe(_settle, asked, None, exc)
        except BaseException:  # KeyboardInterrupt: give up the call, leave the loop alone
            loop.call_soon_threadsafe(asked.cancel)
            raise
        else:
            loop.call_soon_threadsafe(_settle, asked, value, None)
    return done.result()


def call(
    cache: AICache,
    key: str,
    fn: Callable[[], T],
    policy: Policy,
    *,
    bypass: bool = False,
    request: Any = None,
    peeked: bool = False,
) -> T:
    """:meth:`AICache.call` for a sync ``fn``, called on (and returning to) this thread.
    ``peeked``: the caller has just peeked at ``key`` and was not served. Time passes while the
    call is handed to aicache's loop, so :meth:`AICache.call` peeks there once more."""
    if not peeked and not bypass and switches()[0]:
        found = cache.peek(key, policy.label)
        if found:
            return found[0]  # type: ignore[no-any-return]

    async def refresh() -> Any:
        return await asyncio.to_thread(fn)

    return run(  # type: ignore[no-any-return]
        fn,
        lambda here: cache.call(key, here, policy, bypass=bypass, request=request, refresh=refresh),
    )
