"""``cached_client``: the provider SDKs' own clients, with their costly calls cached.

    from anthropic import AsyncAnthropic
    import aicache

    client = aicache.cached_client(AsyncAnthropic())
    message = await client.messages.create(model=..., max_tokens=..., messages=[...])

Each SDK has one adapter module, imported only when a client of that SDK is wrapped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from .._errors import ConfigError
from .._keys import check_name
from .._policy import seconds
from .._types import codecs_in
from ..backends import BackendSpec
from ._base import Adapter
from ._proxy import TTL_DEFAULT, Binding, CachedClient, Options
from ._retry import DEFAULT, Retry, RetryOption, resolve

__all__ = ["CachedClient", "Retry", "cached_client"]

T = TypeVar("T")

# (SDK module prefix, async class names served, adapter "module:class").
_ADAPTERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("anthropic", ("AsyncAnthropic",), "_anthropic:AnthropicAdapter"),
    ("openai", ("AsyncOpenAI", "AsyncAzureOpenAI"), "_openai:OpenAIAdapter"),
    ("google.genai", ("Client",), "_genai:GenaiAdapter"),
    ("google.generativeai", ("GenerativeModel",), "_genai_legacy:LegacyGeminiAdapter"),
)
for _prefix, _names, _target in _ADAPTERS:
    codecs_in(_prefix, f"{__name__}.{_target.partition(':')[0]}")

# Clients that are not wrapped (sync ones), and what to wrap instead.
_INSTEAD = {
    "Anthropic": "anthropic.AsyncAnthropic (cached calls are async)",
    "OpenAI": "openai.AsyncOpenAI (cached calls are async)",
    "AzureOpenAI": "openai.AsyncAzureOpenAI (cached calls are async)",
    "AsyncClient": "the google.genai.Client itself, not client.aio",
}


def _adapter_class(client: Any) -> type[Adapter]:
    if isinstance(client, CachedClient):
        raise ConfigError("this client is already a cached client; wrap the SDK's client once")
    for cls in type(client).__mro__:
        module = cls.__module__
        for prefix, names, target in _ADAPTERS:
            if module != prefix and not module.startswith(prefix + "."):
                continue
            if cls.__name__ in names:
                name, _, attr = target.partition(":")
                loaded = importlib.import_module(f"{__name__}.{name}")
                return cast(type[Adapter], getattr(loaded, attr))
            if cls.__name__ in _INSTEAD:
                raise TypeError(
                    f"cached_client does not wrap {prefix}.{cls.__name__}: wrap "
                    f"{_INSTEAD[cls.__name__]}"
                )
    kind = type(client)
    if kind.__module__.split(".")[0] == "litellm":
        raise TypeError(
            f"cached_client does not wrap litellm.{kind.__qualname__}: LiteLLM caches through its "
            "own seam; set litellm.cache = litellm.Cache(_backend=AICacheLiteLLM()) with "
            "AICacheLiteLLM from aicache.integrations.litellm (pip install 'aicache[litellm]') "
            "and call with caching=True"
        )
    raise TypeError(
        f"cached_client does not know {kind.__module__}.{kind.__qualname__}; it wraps "
        "anthropic.AsyncAnthropic, openai.AsyncOpenAI / AsyncAzureOpenAI, google.genai.Client "
        "and google.generativeai.GenerativeModel (use @ai_cached for anything else)"
    )


def cached_client(
    client: T,
    *,
    ttl: float | timedelta | None = TTL_DEFAULT,
    backend: BackendSpec = None,
    namespace: str | None = None,
    should_cache: Callable[[Any], bool] | None = None,
    retry: RetryOption = DEFAULT,
    lock: bool | None = None,
    stale_ttl: float | timedelta | None = None,
) -> T:
    """Wrap an SDK client so that its costly calls are cached; everything else passes through.

    Cached: Anthropic ``messages.create`` (and ``beta.messages.create``); OpenAI
    ``chat.completions.create``, ``responses.create``, ``embeddings.create``; google-genai
    ``client.aio.models.generate_content`` and ``embed_content``; legacy google-generativeai
    ``generate_content_async``. A hit returns the SDK's own response class. Every cached call
    also accepts ``bypass_cache=True``. ``stream=True`` calls go through uncached.

    - ``ttl``, ``stale_ttl``, ``backend``, ``namespace``, ``lock``: as for ``@ai_cached``.
    - ``should_cache``: ``response -> bool``; by default errors, empty and truncated answers
      (``max_tokens`` / ``length`` / ``MAX_TOKENS``) are not stored.
    - ``retry``: transient failures (rate limits, overload, 5xx, timeouts, lost connections)
      are retried with backoff and jitter, honouring ``Retry-After``; ``None`` turns it off and
      leaves retrying to the SDK. Pass ``aicache.Retry(attempts=..., ...)``, a number of
      attempts, or a ``tenacity.AsyncRetrying``.
    """
    adapter = _adapter_class(client)(client)
    options = Options(
        ttl=ttl if ttl is TTL_DEFAULT else seconds("ttl", ttl),
        backend=backend,
        namespace=None if namespace is None else check_name("namespace", namespace),
        should_cache=should_cache,
        retry=resolve(retry),
        lock=lock,
        stale_ttl=seconds("stale_ttl", stale_ttl),
    )
    if should_cache is not None and not callable(should_cache):
        raise ConfigError(
            f"should_cache= must be a callable taking the response, not {should_cache!r}"
        )
    return cast(T, CachedClient(client, Binding(adapter, options)))
