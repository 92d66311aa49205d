"""``@ai_cached``: cache a function's results (async or sync) under canonical keys of its
arguments."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from . import _runner, _sync
from ._cache import AICache
from ._codecs import codec_for
from ._config import generation, get_config
from ._controls import (
    BYPASS,
    CALL_CONTROLS,
    KEEP,
    Overrides,
    controls,
    overrides,
    take_controls,
)
from ._errors import ConfigError
from ._keys import KeyBuilder
from ._policy import Cost, Policy, seconds
from ._shared import shared_cache
from .backends import BackendSpec

__all__ = [
    "CacheHandle",
    "CachedFunction",
    "SyncCacheHandle",
    "SyncCachedFunction",
    "ai_cached",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
S = TypeVar("S")

_DEFAULT: Any = object()
_UNBOUND: Any = object()


class _Setup:
    """Everything decided once per decorated function; the cache itself is resolved lazily."""

    def __init__(
        self,
        fn: Callable[..., Any],
        builder: KeyBuilder,
        namespace: str | None,
        ttl: Any,
        stale_ttl: float | None,
        backend: BackendSpec,
        should_cache: Callable[[Any], bool] | None,
        cost: Callable[[Any], Cost] | None,
        lock: bool | None,
    ) -> None:
        self.fn = fn
        self.builder = builder
        self.namespace = namespace  # None: the configured namespace, looked up when resolving
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.backend = backend
        self.should_cache = should_cache
        self.cost = cost
        self.lock = lock  # None: the configured default
        self.generation = -1
        self.cache: AICache | None = None
        self.policy: Policy | None = None
        # A parameter of the function's own named namespace or ttl keeps its meaning: such a
        # function takes those per call only from cache_control(...).
        self.controls = CALL_CONTROLS - builder.signature.parameters.keys()
        self.builders: dict[str, KeyBuilder] = {}

    def resolve(self) -> AICache | None:
        """The cache to use now (``None`` when caching is switched off in the settings)."""
        gen = generation()
        if gen != self.generation:
            config = get_config()
            if self.namespace is None and self.builder.namespace != config.namespace:
                self.builder = self.builder.renamed(config.namespace)
            ttl = config.ttl if self.ttl is _DEFAULT else self.ttl
            self.policy = Policy(
                (self.builder.function, "", ""),
                ttl,
                self.stale_ttl,
                self.should_cache,
                self.cost,
                config.lock if self.lock is None else self.lock,
            )
            self.cache = shared_cache(self.backend) if config.enabled else None
            self.builders = {self.builder.namespace: self.builder}
            self.generation = gen
        return self.cache

    def builder_for(self, over: Overrides | None) -> KeyBuilder:
        """The key builder under the namespace chosen for this call (``cache_control`` or
        ``namespace=``), else the function's own."""
        if over is None or over.namespace is None:
            return self.builder
        found = self.builders.get(over.namespace)
        if found is None:
            found = self.builders[over.namespace] = self.builder.renamed(over.namespace)
        return found

    def policy_for(self, over: Overrides) -> Policy:
        """The function's policy with the ttl chosen for this call."""
        policy = self.policy
        assert policy is not None
        if over.ttl is KEEP or over.ttl == policy.ttl:
            return policy
        return dataclasses.replace(policy, ttl=over.ttl)


class _Handle(Generic[P, R]):
    """What ``f.cache`` offers for sync and async functions alike."""

    def __init__(self, setup: _Setup, instance: Any = _UNBOUND) -> None:
        self._setup = setup
        self._instance = instance

    def _args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args if self._instance is _UNBOUND else (self._instance, *args)

    def _cache(self) -> AICache:
        # Managing entries works even while caching is switched off.
        return self._setup.resolve() or shared_cache(self._setup.backend)

    def _builder(self) -> KeyBuilder:
        """The builder of the namespace in force (the function's, or ``cache_control``'s)."""
        return self._setup.builder_for(overrides())

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key these arguments are stored under (in the namespace in force)."""
        self._setup.resolve()
        return self._builder().key(self._args(args), kwargs)

    def explain(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """The canonical document behind :meth:`key`: compare two to see why they differ."""
        self._setup.resolve()
        return self._builder().explain(self._args(args), kwargs)


class CacheHandle(_Handle[P, R]):
    """``f.cache`` of an ``async def`` function: look at and manage its entries."""

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry of these arguments from every tier; return whether one existed."""
        cache = self._cache()
        return await cache.chain.delete(self._builder().key(self._args(args), kwargs))

    async def clear(self) -> int:
        """Remove every entry of this function from every tier, in the namespace in force
        (the function's, or ``cache_control(namespace=...)``'s): other namespaces keep theirs."""
        cache = self._cache()
        return await cache.chain.clear(self._builder().prefix)

    async def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call through and store the fresh result: ``bypass_cache=True`` with full typing."""
        call: CachedFunction[..., R] = CachedFunction(self._setup, self._instance)
        return await call(*args, **kwargs, **{BYPASS: True})


class SyncCacheHandle(_Handle[P, R]):
    """``f.cache`` of a plain ``def`` function: the same, as plain calls."""

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Remove the entry of these arguments from every tier; return whether one existed."""
        cache = self._cache()
        return _runner.run(cache.chain.delete(self._builder().key(self._args(args), kwargs)))

    def clear(self) -> int:
        """Remove every entry of this function from every tier."""
        cache = self._cache()
        return _runner.run(cache.chain.clear(self._builder().prefix))

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call through and store the fresh result: ``bypass_cache=True`` with full typing."""
        call: SyncCachedFunction[..., R] = SyncCachedFunction(self._setup, self._instance)
        return call(*args, **kwargs, **{BYPASS: True})


class _Cached(Generic[P, R]):
    def __init__(self, setup: _Setup, instance: Any = _UNBOUND) -> None:
        self._setup = setup
        self._instance = instance
        functools.update_wrapper(self, setup.fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<ai_cached {self._setup.builder.function}>"


class CachedFunction(_Cached[P, R]):
    """An ``@ai_cached`` ``async def`` function. Call it as the original; ``f.cache`` manages
    its entries.

    Any call also accepts ``bypass_cache=True`` (skip the lookup, call through, store the
    result), ``namespace="tenant-a"`` (key this call under that namespace) and ``ttl=seconds``
    (the lifetime of the entry it stores), unless the function has a parameter of that name.
    These keywords are not in the function's typed signature (a ``ParamSpec`` cannot add
    keywords): type checkers flag them, so use ``f.cache.refresh(...)`` or
    ``aicache.cache_control(namespace=..., ttl=...)`` in typed code.
    """

    @property
    def cache(self) -> CacheHandle[P, R]:
        return CacheHandle(self._setup, self._instance)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # _invoke inlined: this is the hit path. A hit from a tier that answers at once is
        # served by peek(), awaiting nothing.
        setup = self._setup
        now = controls()
        if kwargs and not setup.controls.isdisjoint(kwargs):
            bypass, over = take_controls(kwargs, setup.controls)
        else:
            bypass, over = False, now.over
        if self._instance is not _UNBOUND:
            args = (self._instance, *args)  # type: ignore[assignment]
        cache = setup.cache if setup.generation == generation() else setup.resolve()
        if cache is None:
            return await setup.fn(*args, **kwargs)  # type: ignore[no-any-return]
        if over is None:
            builder, policy = setup.builder, setup.policy
        else:
            builder, policy = setup.builder_for(over), setup.policy_for(over)
        key = builder.key(args, kwargs)
        peeked = None  # unused by call() when it skips the lookup
        if not bypass and now.read:
            peeked = cache.peek(key, policy.label)  # type: ignore[union-attr]
            if peeked:
                return peeked[0]  # type: ignore[no-any-return]
        result: R = await cache.call(
            key,
            lambda: setup.fn(*args, **kwargs),
            policy,  # type: ignore[arg-type]
            bypass=bypass,
            request=builder.explain(args, kwargs) if cache.wants_request else None,
            peeked=peeked,
        )
        return result

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> CachedFunction[P, R]: ...

    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R], instance: S, owner: type[Any]
    ) -> CachedFunction[P2, R]: ...

    def __get__(self, instance: Any, owner: type[Any]) -> Any:
        if instance is None:
            return self
        return CachedFunction(self._setup, instance)


class SyncCachedFunction(_Cached[P, R]):
    """An ``@ai_cached`` plain ``def`` function: the same keys, tiers, stats and options as an
    ``async def`` one. A hit from memory or a small file is served on the calling thread; a
    miss runs the function on the calling thread too, once for every thread that asks at the
    same time (see ``docs/guide.md``, "Sync functions")."""

    @property
    def cache(self) -> SyncCacheHandle[P, R]:
        return SyncCacheHandle(self._setup, self._instance)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        setup = self._setup
        now = controls()
        if kwargs and not setup.controls.isdisjoint(kwargs):
            bypass, over = take_controls(kwargs, setup.controls)
        else:
            bypass, over = False, now.over
        if self._instance is not _UNBOUND:
            args = (self._instance, *args)  # type: ignore[assignment]
        cache = setup.cache if setup.generation == generation() else setup.resolve()
        if cache is None:
            return setup.fn(*args, **kwargs)  # type: ignore[no-any-return]
        if over is None:
            builder, policy = setup.builder, setup.policy
        else:
            builder, policy = setup.builder_for(over), setup.policy_for(over)
        key = builder.key(args, kwargs)
        if not bypass and now.read:  # served here: no closure, no call below
            peeked = cache.peek(key, policy.label)  # type: ignore[union-attr]
            if peeked:
                return peeked[0]  # type: ignore[no-any-return]
        result: R = _sync.call(
            cache,
            key,
            lambda: setup.fn(*args, **kwargs),
            policy,  # type: ignore[arg-type]
            bypass=bypass,
            request=builder.explain(args, kwargs) if cache.wants_request else None,
            peeked=True,
        )
        return result

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> SyncCachedFunction[P, R]: ...

    @overload
    def __get__(
        self: SyncCachedFunction[Concatenate[S, P2], R], instance: S, owner: type[Any]
    ) -> SyncCachedFunction[P2, R]: ...

    def __get__(self, instance: Any, owner: type[Any]) -> Any:
        if instance is None:
            return self
        return SyncCachedFunction(self._setup, instance)


def _cost_option(
    cost: float | Callable[[Any], float | None] | None,
) -> Callable[[Any], Cost] | None:
    if cost is None:
        return None
    if callable(cost):
        price = cost
        return lambda result: (price(result), None)
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        raise ConfigError(f"cost= must be USD per call (a number >= 0) or a callable, not {cost!r}")
    fixed: Cost = (float(cost), None)
    return lambda result: fixed


def _register_return_type(fn: Callable[..., Any]) -> None:
    """Allow the annotated return type, so a new process can rebuild entries written earlier."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:
        return
    if isinstance(hint, type):
        codec_for(hint)


class _Decorate(Protocol):
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> CachedFunction[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> SyncCachedFunction[P, R]: ...


@overload
def ai_cached(  # type: ignore[overload-overlap]
    fn: Callable[P, Coroutine[Any, Any, R]], /
) -> CachedFunction[P, R]: ...


@overload
def ai_cached(fn: Callable[P, R], /) -> SyncCachedFunction[P, R]: ...


@overload
def ai_cached(
    fn: None = None,
    /,
    *,
    ttl: float | timedelta | None = ...,
    backend: BackendSpec = ...,
    namespace: str | None = ...,
    ignore: Iterable[str] = ...,
    key: Callable[..., Any] | None = ...,
    round_floats: int | None = ...,
    should_cache: Callable[[Any], bool] | None = ...,
    cost: float | Callable[[Any], float | None] | None = ...,
    stale_ttl: float | timedelta | None = ...,
    lock: bool | None = ...,
    name: str | None = ...,
) -> _Decorate: ...


def ai_cached(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    ttl: float | timedelta | None = _DEFAULT,
    backend: BackendSpec = None,
    namespace: str | None = None,
    ignore: Iterable[str] = (),
    key: Callable[..., Any] | None = None,
    round_floats: int | None = None,
    should_cache: Callable[[Any], bool] | None = None,
    cost: float | Callable[[Any], float | None] | None = None,
    stale_ttl: float | timedelta | None = None,
    lock: bool | None = None,
    name: str | None = None,
) -> Any:
    """Cache a function's results: an ``async def``, or a plain ``def`` (called on the caller's
    thread; a hit from memory or a small file touches no event loop).

    - ``ttl``: seconds or a ``timedelta`` an entry stays fresh (default: the configured ttl;
      ``None``: until evicted). ``stale_ttl``: how long after that it may still be served while
      one background call refreshes it.
    - ``backend``: a tier name, a ``Backend``, or a list of them (default: the configured chain).
    - ``namespace``: the key namespace (default: the configured one).
    - ``ignore``: parameter names left out of the key (``self``/``cls`` always are).
    - ``key``: a callable taking the call's arguments and returning the document to hash instead.
    - ``round_floats``: round floats to this many digits before keying (near-equal inputs share).
    - ``should_cache``: ``result -> bool``; a result it refuses is returned but not stored.
    - ``cost``: USD per call, or ``result -> USD``: counted as spent on a miss, saved on a hit.
    - ``lock``: share one call across processes through a Redis lease (default: the setting).
    - ``name``: the function's name in keys and stats (default: ``module.qualname``).
    """

    def decorate(func: Callable[..., Any]) -> Any:
        if (
            not callable(func)
            or inspect.isgeneratorfunction(func)
            or inspect.isasyncgenfunction(func)
        ):
            raise TypeError(
                "@ai_cached caches a function's return value: "
                f"{getattr(func, '__qualname__', func)!r} is not a function or returns a "
                "generator (cache a function that returns a list)"
            )
        if BYPASS in inspect.signature(func).parameters:
            raise ConfigError(
                f"{func.__qualname__} has a parameter named {BYPASS!r}, which @ai_cached reserves "
                "for skipping the cache on one call; rename the parameter"
            )
        builder = KeyBuilder(
            func,
            namespace=namespace or "default",
            ignore=ignore,
            key=key,
            round_floats=round_floats,
            name=name,
        )
        setup = _Setup(
            func,
            builder,
            namespace,
            _DEFAULT if ttl is _DEFAULT else seconds("ttl", ttl),
            seconds("stale_ttl", stale_ttl),
            backend,
            should_cache,
            _cost_option(cost),
            lock,
        )
        _register_return_type(func)
        if inspect.iscoroutinefunction(func):
            return CachedFunction(setup)
        return SyncCachedFunction(setup)

    if fn is not None:
        return decorate(fn)
    return decorate
