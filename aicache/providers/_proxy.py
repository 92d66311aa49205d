"""The cached client: a proxy over a real SDK client.

Attribute access walks the real client. The methods an adapter names go through
:meth:`aicache.AICache.call` (lookup, single-flight, store); everything else is the real
attribute. Keys, policies and retries are decided here once per client, per model and per
settings generation, not per call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .. import _runner, _stats, _sync
from .._cache import AICache
from .._config import generation, get_config
from .._controls import CALL_CONTROLS, KEEP, Overrides, applied, overrides, switches, take_controls
from .._keys import ArgumentBinder, check_name, make_key
from .._log import warn_once
from .._policy import Cost, Policy
from .._pricing import cost_of
from .._shared import shared_cache
from ..backends import BackendSpec
from ._base import Adapter, one_shot
from ._batches import answer_batch
from ._mark import mark
from ._retry import Retry, TenacityRetry
from ._streams import Opened, Streams, Tap

__all__ = ["Binding", "CachedClient", "CachedMethod", "Options", "SyncCachedMethod"]

#: ``ttl=`` left at its default: the configured ttl.
TTL_DEFAULT: Any = object()
_END: Any = object()


@dataclass(frozen=True, slots=True)
class Options:
    """What the caller chose in ``cached_client(...)``, already validated."""

    ttl: Any  # seconds, None (no expiry) or TTL_DEFAULT
    backend: BackendSpec
    namespace: str | None
    should_cache: Callable[[Any], bool] | None
    retry: Retry | TenacityRetry | None
    lock: bool | None
    stale_ttl: float | None


class Binding:
    """Everything the nodes of one cached client share."""

    def __init__(self, adapter: Adapter, options: Options) -> None:
        self.adapter = adapter
        self.options = options
        self.prefixes = frozenset(
            ".".join(path.split(".")[:i])
            for path in adapter.cached | adapter.managers | adapter.refused.keys()
            for i in range(1, path.count(".") + 1)
        )
        self._methods: dict[
            str, tuple[Callable[..., Awaitable[Any]], ArgumentBinder, frozenset[str]]
        ] = {}
        self._generation = -1
        self._cache: AICache | None = None
        self._namespace = ""
        self._ttl: float | None = None
        self._lock = False
        self._policies: dict[_stats.Label, Policy] = {}
        self._labels: dict[tuple[str, str], _stats.Label] = {}
        self.streams = Streams()
        self._package = type(adapter.client).__module__.split(".")[0] + "."
        if hasattr(adapter, "transport"):  # an SDK that sends through httpx2, so it is installed
            from ._wire import SyncWireTransport, WireTransport

            if adapter.sync(""):
                adapter.transport = functools.partial(SyncWireTransport, open=self._open_sync)
            else:
                adapter.transport = functools.partial(WireTransport, open=self._open_recorded)

    def _resolve(self) -> AICache | None:
        """The cache to use now (``None`` when caching is switched off in the settings)."""
        gen = generation()
        if gen != self._generation:
            config = get_config()
            opts = self.options
            self._namespace = check_name("namespace", opts.namespace or config.namespace)
            self._ttl = config.ttl if opts.ttl is TTL_DEFAULT else opts.ttl
            self._lock = config.lock if opts.lock is None else opts.lock
            self._cache = shared_cache(opts.backend) if config.enabled else None
            self._policies = {}
            self._generation = gen
        return self._cache

    def _method(
        self, path: str
    ) -> tuple[Callable[..., Awaitable[Any]], ArgumentBinder, frozenset[str]]:
        """The real method, its argument binder, and the per-call controls it accepts (those
        that are not arguments of its own)."""
        found = self._methods.get(path)
        if found is None:
            fn = self.adapter.target(path, sdk_retries=self.options.retry is None)
            signature = inspect.signature(fn)
            controls = CALL_CONTROLS - signature.parameters.keys()
            found = self._methods[path] = (fn, ArgumentBinder(signature), controls)
        return found

    def _policy(self, label: _stats.Label) -> Policy:
        """The policy of ``label``, with the ttl chosen by ``cache_control`` or the call."""
        over = overrides()
        policy = self._policy_of(label)
        if over is None or over.ttl is KEEP or over.ttl == policy.ttl:
            return policy
        return dataclasses.replace(policy, ttl=over.ttl)

    def _policy_of(self, label: _stats.Label) -> Policy:
        policy = self._policies.get(label)
        if policy is None:
            opts = self.options
            policy = self._policies[label] = Policy(
                label,
                self._ttl,
                opts.stale_ttl,
                opts.should_cache or self.adapter.complete,
                functools.partial(self._cost, label[2]),
                self._lock,
            )
        return policy

    def _cost(self, asked: str, response: Any) -> Cost:
        found = self.adapter.usage(response)
        if found is None:
            return None, None
        answered, tokens = found
        provider = self.adapter.provider
        usd = cost_of(provider, answered, tokens) if answered else None
        if usd is None and asked != answered:
            usd = cost_of(provider, asked, tokens)
        return usd, {"provider": provider, "model": answered or asked, "tokens": tokens}

    def _key(self, path: str, call: dict[str, Any], label: _stats.Label) -> str | None:
        found = self._keyed(path, call, label)
        return None if found is None else found[0]

    def _keyed(
        self, path: str, call: dict[str, Any], label: _stats.Label, item: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        """``(key, the document it hashes)`` under the namespace in force, or ``None``: the call
        is not cached. ``item``: the key of one input of a per-item call."""
        try:
            request = self.adapter.request(path, call)
            if request is None:
                return None
            document: dict[str, Any] = {"client": self.adapter.scope, "request": request}
            if item:
                document["item"] = True
            over = overrides()
            namespace = (
                self._namespace if over is None or over.namespace is None else over.namespace
            )
            return make_key(namespace, label[0], document), document
        except Exception as exc:  # an argument we cannot key: the SDK has the last word on it
            kind = type(exc).__name__
            warn_once(
                f"uncacheable:{label[0]}:{kind}",
                "aicache: %s: calling through without the cache (%s: %s)",
                *(label[0], kind, exc),
            )
            return None

    async def _invoke(
        self, fn: Callable[..., Awaitable[Any]], call: dict[str, Any], label: _stats.Label
    ) -> Any:
        retry = self.options.retry
        if retry is None:
            return await fn(**call)

        async def attempt() -> Any:
            return await fn(**call)

        return await retry.run(attempt, label, self.adapter.transient, self.adapter.retry_after)

    def _invoke_sync(
        self, fn: Callable[..., Any], call: dict[str, Any], label: _stats.Label
    ) -> Any:
        retry = self.options.retry
        if retry is None:
            return fn(**call)
        attempt = functools.partial(fn, **call)
        return retry.run_sync(attempt, label, self.adapter.transient, self.adapter.retry_after)

    def owns(self, value: Any) -> bool:
        """``value`` is a part of the SDK client (a resource), not data or a model."""
        kind = type(value)
        return (
            kind.__module__.startswith(self._package)
            and not hasattr(kind, "model_fields")
            and not isinstance(value, BaseException)
        )

    def uncached(self, path: str, model: str) -> None:
        """Count (and log once) a call that goes to the provider without the cache."""
        provider = self.adapter.provider
        _stats.count((f"{provider}.{path}", provider, model), "uncached")
        warn_once(
            f"uncached:{provider}.{path}",
            "aicache: %s.%s is not cached; every call goes to the provider",
            provider,
            path,
        )

    def _bound(
        self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Callable[..., Any], dict[str, Any], _stats.Label, bool, Overrides | None]:
        """The real method, the call's arguments by name, its stats label, its bypass, and the
        namespace and ttl in force for it."""
        fn, binder, controls = self._method(path)
        if kwargs and not controls.isdisjoint(kwargs):
            bypass, over = take_controls(kwargs, controls)
        else:
            bypass, over = False, overrides()
        call = binder.bind(args, kwargs)
        for name in call if args else kwargs:  # the rest are the SDK's defaults
            value = call[name]
            if one_shot(value):  # keying would use up a one-shot iterator
                call[name] = list(value)
        return fn, call, self._label(path, self.adapter.model(call)), bypass, over

    def _recorded(
        self,
        path: str,
        fn: Callable[..., Any],
        call: dict[str, Any],
        label: _stats.Label,
        bypass: bool,
    ) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The method and arguments that make a recorded call: through the recording transport,
        marked with its key; or the real method when the call is not cached."""
        if self._resolve() is None:
            return fn, call
        key = self._key(path, call, label)
        if key is None:
            _stats.count(label, "uncached")
            return fn, call
        marked = self.adapter.marked(call, mark(key, path, label[2], bypass))
        return self.adapter.recorded(path, self.options.retry is None), marked

    async def _open_recorded(
        self, key: str, path: str, model: str, bypass: bool, start: Callable[[], Any]
    ) -> Tap:
        """Answer a marked request (called by the recording transport)."""
        label = self._label(path, model)
        cache = self._resolve()
        policy = self._policy(label)
        return await self.streams.open(
            cache, key, policy, self.adapter.shape(path), start, bypass=bypass
        )

    def _label(self, path: str, model: str) -> _stats.Label:
        label = self._labels.get((path, model))
        if label is None:
            provider = self.adapter.provider
            label = (f"{provider}.{self.adapter.twin(path)}", provider, model)
            if len(self._labels) < 1024:  # models named per call: keep the table small
                self._labels[path, model] = label
        return label

    def _open_sync(
        self, key: str, path: str, model: str, bypass: bool, start: Callable[[], Any]
    ) -> Tap:
        """:meth:`_open_recorded` for a sync client: a stored answer in a tier that answers at
        once is replayed on this thread; anything else is opened on aicache's loop."""
        cache = self._resolve()
        if cache is not None and not bypass and switches()[0]:
            label = self._label(path, model)
            peeked = cache.peek(key, label)
            tap = self.streams.replay(peeked[0]) if peeked else None
            if tap is not None:
                return tap
        return _runner.run(self._open_recorded(key, path, model, bypass, start))

    async def _chunks(
        self,
        path: str,
        fn: Callable[..., Any],
        call: dict[str, Any],
        label: _stats.Label,
        bypass: bool,
    ) -> Any:
        """A stream recorded as the SDK's chunk objects (google-genai): replayed as an async
        iterator of equal chunks."""
        cache = self._resolve()
        key = None if cache is None else self._key(path, call, label)
        if key is None:
            if cache is not None:
                _stats.count(label, "uncached")
            return await self._invoke(fn, call, label)
        adapter: Any = self.adapter

        async def start() -> Opened:
            stream = await self._invoke(fn, call, label)

            async def items() -> AsyncIterator[Any]:
                async for chunk in stream:
                    yield adapter.dump_chunk(chunk)

            return Opened({}, items(), stream.aclose)

        policy = self._policy(label)
        tap = await self.streams.open(cache, key, policy, adapter.shape(path), start, bypass=bypass)
        return adapter.replay(tap)

    def _chunks_sync(
        self,
        path: str,
        fn: Callable[..., Any],
        call: dict[str, Any],
        label: _stats.Label,
        bypass: bool,
    ) -> Any:
        """:meth:`_chunks` for a sync method: the provider's blocking iterator is read in
        worker threads by aicache's loop, and replayed as a sync iterator of equal chunks."""
        cache = self._resolve()
        key = None if cache is None else self._key(path, call, label)
        if key is None:
            if cache is not None:
                _stats.count(label, "uncached")
            return self._invoke_sync(fn, call, label)
        adapter: Any = self.adapter

        async def start() -> Opened:
            stream = await asyncio.to_thread(self._invoke_sync, fn, call, label)

            async def items() -> AsyncIterator[Any]:
                while (chunk := await asyncio.to_thread(next, stream, _END)) is not _END:
                    yield adapter.dump_chunk(chunk)

            return Opened({}, items(), lambda: asyncio.to_thread(stream.close))

        tap = self._open_sync(key, path, label[2], bypass, start)
        return adapter.replay_sync(tap)

    def manager(self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A stream helper's manager (``messages.stream(...)``), recorded when it is entered."""
        fn, call, label, bypass, over = self._bound(path, args, kwargs)
        with applied(over):
            fn, call = self._recorded(path, fn, call, label, bypass)
        return fn(**call)

    async def call(self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fn, call, label, bypass, over = self._bound(path, args, kwargs)
        if over is overrides():
            return await self._call(path, fn, call, label, bypass)
        with applied(over):  # this call's own namespace= / ttl=
            return await self._call(path, fn, call, label, bypass)

    async def _call(
        self,
        path: str,
        fn: Callable[..., Any],
        call: dict[str, Any],
        label: _stats.Label,
        bypass: bool,
    ) -> Any:
        adapter = self.adapter
        if adapter.records(path, call):
            if hasattr(adapter, "replay"):
                return await self._chunks(path, fn, call, label, bypass)
            fn, call = self._recorded(path, fn, call, label, bypass)
            return await self._invoke(fn, call, label)
        run = functools.partial(self._invoke, fn, call, label)
        cache = self._resolve()
        if cache is None:
            return await run()
        items = adapter.items(path, call)
        if items is not None:
            return await answer_batch(
                cache,
                adapter,
                path,
                call,
                items,
                key_of=functools.partial(self._keyed, path, label=label, item=True),
                invoke=functools.partial(self._invoke, fn, label=label),
                cost=functools.partial(self._cost, label[2]),
                policy=self._policy(label),
                bypass=bypass,
            )
        keyed = self._keyed(path, call, label)
        if keyed is None:
            _stats.count(label, "uncached")
            return await run()
        key, document = keyed
        peeked = cache.peek(key, label) if not bypass and switches()[0] else None
        if peeked:  # a hit from a tier that answers at once: nothing awaited
            return self._finish(peeked[0], call, label)
        request = document if cache.wants_request else None
        value = await cache.call(
            key, run, self._policy(label), bypass=bypass, request=request, peeked=peeked
        )
        return self._finish(value, call, label)

    def call_sync(self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """:meth:`call` for a sync method: the same keys, tiers and stats, on this thread."""
        fn, call, label, bypass, over = self._bound(path, args, kwargs)
        if over is overrides():
            return self._call_sync(path, fn, call, label, bypass)
        with applied(over):  # this call's own namespace= / ttl=
            return self._call_sync(path, fn, call, label, bypass)

    def _call_sync(
        self,
        path: str,
        fn: Callable[..., Any],
        call: dict[str, Any],
        label: _stats.Label,
        bypass: bool,
    ) -> Any:
        adapter = self.adapter
        if adapter.records(path, call):
            if hasattr(adapter, "replay_sync"):
                return self._chunks_sync(path, fn, call, label, bypass)
            fn, call = self._recorded(path, fn, call, label, bypass)
            return self._invoke_sync(fn, call, label)
        run = functools.partial(self._invoke_sync, fn, call, label)
        cache = self._resolve()
        if cache is None:
            return run()
        keyed = self._keyed(path, call, label)
        if keyed is None:
            _stats.count(label, "uncached")
            return run()
        key, document = keyed
        request = document if cache.wants_request else None
        value = _sync.call(cache, key, run, self._policy(label), bypass=bypass, request=request)
        return self._finish(value, call, label)

    def _finish(self, value: Any, call: dict[str, Any], label: _stats.Label) -> Any:
        try:
            return self.adapter.finish(value, call)
        except Exception as exc:  # a rebuilt detail is not worth failing the call for
            warn_once(f"finish:{label[0]}", "aicache: %s: %r", label[0], exc)
            return value


class CachedMethod:
    """A cached method: call it as the SDK's own, plus ``bypass_cache=True``, ``namespace=``
    and ``ttl=`` (where the SDK method has no argument of that name)."""

    __slots__ = ("__wrapped__", "_binding", "_path")

    def __init__(self, binding: Binding, path: str, real: Any) -> None:
        self._binding = binding
        self._path = path
        self.__wrapped__ = real  # inspect.signature and help() show the SDK's own

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._binding.call(self._path, args, kwargs)

    def __repr__(self) -> str:
        return f"<aicache cached {self._binding.adapter.provider}.{self._path}>"


class SyncCachedMethod(CachedMethod):
    """A cached method of a sync client (or google-genai's ``client.models``)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._binding.call_sync(self._path, args, kwargs)


#: Client methods that are not provider calls: never counted as uncached.
_LIFECYCLE = frozenset({"close", "aclose", "copy", "with_options"})


class _Uncached:
    """A provider method that is not cached: called as is, counted under ``uncached`` and
    logged once, so that nothing passes through the cache unseen."""

    __slots__ = ("__wrapped__", "_binding", "_path")

    def __init__(self, binding: Binding, path: str, real: Any) -> None:
        self._binding = binding
        self._path = path
        self.__wrapped__ = real

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._binding.uncached(self._path, str(kwargs.get("model") or ""))
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"<aicache uncached {self._binding.adapter.provider}.{self._path}>"


class _Manager(CachedMethod):
    """A stream helper (``messages.stream``): returns the SDK's manager at once, as the SDK does."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._binding.manager(self._path, args, kwargs)


class _Node:
    """A part of the real client on the way to a cached method (``client.chat``, ...)."""

    __slots__ = ("__wrapped__", "_binding", "_path")

    def __init__(self, real: Any, path: str, binding: Binding) -> None:
        self.__wrapped__ = real
        self._path = path
        self._binding = binding

    def __getattr__(self, name: str) -> Any:
        binding = self._binding
        path = f"{self._path}.{name}" if self._path else name
        instead = binding.adapter.refused.get(path)
        if instead is not None:
            raise TypeError(
                f"{path} of a cached client is synchronous and not cached: call {instead} "
                "instead (or the unwrapped client, cached_client(...).__wrapped__)"
            )
        real = getattr(self.__wrapped__, name)
        if path in binding.adapter.cached:
            if binding.adapter.sync(path):
                return SyncCachedMethod(binding, path, real)
            return CachedMethod(binding, path, real)
        if path in binding.adapter.managers:
            return _Manager(binding, path, real)
        if path in binding.prefixes:
            return _Node(real, path, binding)
        if name.startswith("_") or name in _LIFECYCLE:
            return real
        if callable(real) and not isinstance(real, type):
            return _Uncached(binding, path, real)
        if binding.owns(real):  # a resource of the SDK (client.models, .with_raw_response)
            return _Node(real, path, binding)
        return real

    def __dir__(self) -> list[str]:
        return dir(self.__wrapped__)

    def __repr__(self) -> str:
        name = self._path or type(self.__wrapped__).__name__
        return f"<aicache cached {name}: {self.__wrapped__!r}>"

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        return self.__wrapped__.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)


class CachedClient(_Node):
    """The proxy ``cached_client`` returns. ``__wrapped__`` is the real client."""

    __slots__ = ()

    def __init__(self, real: Any, binding: Binding) -> None:
        super().__init__(real, "", binding)

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:
        """The SDK client's class, so ``isinstance(client, AsyncOpenAI)`` holds: frameworks that
        take a client (instructor) check it. ``type(client)`` is still ``CachedClient``."""
        return type(self.__wrapped__)

    def __getattr__(self, name: str) -> Any:
        if name in ("with_options", "copy"):
            real = getattr(self.__wrapped__, name)
            binding = self._binding

            @functools.wraps(real)
            def rewrap(*args: Any, **kwargs: Any) -> CachedClient:
                client = real(*args, **kwargs)
                return CachedClient(client, Binding(type(binding.adapter)(client), binding.options))

            return rewrap
        return super().__getattr__(name)
