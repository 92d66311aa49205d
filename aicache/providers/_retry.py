"""Retrying the real call of a cached client: transient failures only, backoff with jitter,
``Retry-After`` honoured, each retry counted in stats.

The SDKs retry by themselves too (Anthropic and OpenAI: ``max_retries=2``). While this retry is
on, a cached client calls the SDK through a copy made with ``max_retries=0``, so one policy
decides, every retry is counted, and attempts do not multiply (3 SDK tries x 4 of ours). With
``retry=None`` the SDK's own retries apply unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from .. import _stats
from .._errors import ConfigError

__all__ = ["DEFAULT", "Retry", "RetryOption", "TenacityRetry", "resolve"]


@dataclass(frozen=True, slots=True)
class Retry:
    """How a cached client retries a failed call.

    ``attempts`` counts the first call. Waits grow from ``initial`` seconds, doubling, up to
    ``maximum``, plus up to ``jitter`` seconds at random; a provider's ``Retry-After`` is waited
    out in full, but an answer asking for more than ``maximum`` seconds is not retried (a spent
    daily quota is not worth blocking on). ``retry_on`` replaces the provider's test of which
    errors are transient.
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.5
    retry_on: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigError(f"Retry(attempts=) must be an int >= 1, not {self.attempts!r}")
        if self.attempts < 1:
            raise ConfigError(f"Retry(attempts=) must be >= 1, not {self.attempts}")
        for name in ("initial", "maximum", "jitter"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"Retry({name}=) must be >= 0 seconds")

    def _settings(
        self,
        label: _stats.Label,
        transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
    ) -> dict[str, Any]:
        """The tenacity settings of this policy, for ``AsyncRetrying`` and ``Retrying`` alike."""
        test = self.retry_on or transient
        backoff = tenacity.wait_exponential_jitter(self.initial, self.maximum, 2, self.jitter)

        def should(exc: BaseException) -> bool:
            asked = retry_after(exc)
            return test(exc) and (asked is None or asked <= self.maximum)

        def wait(state: tenacity.RetryCallState) -> float:
            waited = backoff(state)
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after(exc) if exc is not None else None
            return waited if asked is None else max(asked, waited)

        return {
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": wait,
            "retry": tenacity.retry_if_exception(should),
            "before_sleep": lambda state: _stats.count(label, "retries"),
            "reraise": True,
        }

    async def run(
        self,
        fn: Callable[[], Awaitable[Any]],
        label: _stats.Label,
        transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
    ) -> Any:
        """``await fn()``, retried as configured; retries are counted under ``label``."""
        retrying = tenacity.AsyncRetrying(**self._settings(label, transient, retry_after))
        return await retrying(fn)

    def run_sync(
        self,
        fn: Callable[[], Any],
        label: _stats.Label,
        transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
    ) -> Any:
        """``fn()`` of a sync client, retried as :meth:`run` retries (waiting in this thread)."""
        return tenacity.Retrying(**self._settings(label, transient, retry_after))(fn)


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: ``retry=`` left at its default: :class:`Retry()`.
DEFAULT: Any = _Default()

#: What ``retry=`` accepts: the default, ``None``/``False`` (off), a number of attempts, a
#: :class:`Retry`, or a ``tenacity.AsyncRetrying`` for full control.
RetryOption = Any


class TenacityRetry:
    """A user's own ``tenacity.AsyncRetrying``, with retries still counted."""

    def __init__(self, retrying: tenacity.AsyncRetrying) -> None:
        self.retrying = retrying

    async def run(
        self,
        fn: Callable[[], Awaitable[Any]],
        label: _stats.Label,
        transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
    ) -> Any:
        theirs = self.retrying.before_sleep

        async def before_sleep(state: tenacity.RetryCallState) -> None:
            _stats.count(label, "retries")
            if theirs is not None:
                done = theirs(state)
                if inspect.isawaitable(done):
                    await done

        return await self.retrying.copy(before_sleep=before_sleep)(fn)

    def run_sync(
        self,
        fn: Callable[[], Any],
        label: _stats.Label,
        transient: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None],
    ) -> Any:
        """``fn()`` of a sync client under the same stop, wait and retry tests, in this thread
        (an ``AsyncRetrying`` cannot sleep without a loop; its async hooks are not called)."""
        theirs = self.retrying

        def before_sleep(state: tenacity.RetryCallState) -> None:
            _stats.count(label, "retries")

        return tenacity.Retrying(
            stop=theirs.stop,
            wait=theirs.wait,
            retry=theirs.retry,
            reraise=theirs.reraise,
            before_sleep=before_sleep,
        )(fn)


def resolve(option: RetryOption) -> Retry | TenacityRetry | None:
    """The retry policy a ``retry=`` option names; a wrong value raises :class:`ConfigError`."""
    if option is DEFAULT:
        return Retry()
    if option is None or option is False:
        return None
    if isinstance(option, Retry):
        return option
    if isinstance(option, tenacity.AsyncRetrying):
        return TenacityRetry(option)
    if isinstance(option, int) and not isinstance(option, bool):
        return Retry(attempts=option)
    raise ConfigError(
        f"retry= must be None (no retries), a number of attempts, aicache.Retry(...) or a "
        f"tenacity.AsyncRetrying, not {option!r}"
    )
