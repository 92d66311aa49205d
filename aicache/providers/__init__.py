"""``cached_client``: the provider SDKs' own clients, with their costly calls cached.

    from anthropic import AsyncAnthropic
    import aicache

    client = aicache.cached_client(AsyncAnthropic())
    message = await client.messages.create(model=..., max_tokens=..., messages=[...])

Each SDK has one adapter module, imported only when a client of that SDK is wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from .._codecs import codecs_in
from .._errors import ConfigError
from .._keys import check_name
from .._policy import seconds
from .._pricing import add_model_prefixes
from ..backends import BackendSpec
from ._base import Adapter, tokens
from ._proxy import TTL_DEFAULT, Binding, CachedClient, CachedMethod, Options
from ._registry import Provider, Registry, close_client
from ._retry import DEFAULT, Retry, RetryOption, resolve

__all__ = [
    "PROVIDERS",
    "CachedClient",
    "CachedMethod",
    "Provider",
    "Registry",
    "Retry",
    "RetryOption",
    "cached_client",
    "cached_methods",
    "close_client",
    "tokens",
]

T = TypeVar("T")

#: The provider table: one line per SDK. Adding a provider is an adapter module and a line here.
PROVIDERS = Registry(
    Provider(
        "anthropic", "anthropic", ("AsyncAnthropic", "Anthropic"), "_anthropic:AnthropicAdapter",
        wire="anthropic", price_prefixes=("anthropic",), keys=("ANTHROPIC_API_KEY",),
    ),
    Provider(
        "openai", "openai", ("AsyncOpenAI", "AsyncAzureOpenAI", "OpenAI", "AzureOpenAI"),
        "_openai:OpenAIAdapter", wire="openai", price_prefixes=("openai",),
        keys=("OPENAI_API_KEY",),
    ),
    Provider(
        "gemini", "google.genai", ("Client",), "_genai:GenaiAdapter",
        wire="gemini", price_prefixes=("google",), keys=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        instead={"AsyncClient": "the google.genai.Client itself, not client.aio"},
    ),
    Provider(
        "gemini", "google.generativeai", ("GenerativeModel",),
        "_genai_legacy:LegacyGeminiAdapter", wire="gemini", clients=False,
    ),
)  # fmt: skip
for _entry in PROVIDERS:
    codecs_in(_entry.sdk, f"{__name__}.{_entry.adapter.partition(':')[0]}")
    add_model_prefixes(*_entry.price_prefixes)


def _adapter_class(client: Any) -> type[Adapter]:
    if isinstance(client, CachedClient):
        raise ConfigError("this client is already a cached client; wrap the SDK's client once")
    found = PROVIDERS.of_client(client)
    if found is not None:
        entry, wrapped = found
        if wrapped:
            return entry.adapter_class()
        name = next(c.__name__ for c in type(client).__mro__ if c.__name__ in entry.instead)
        raise TypeError(
            f"cached_client does not wrap {entry.sdk}.{name}: wrap {entry.instead[name]}"
        )
    kind = type(client)
    if kind.__module__.split(".")[0] == "litellm":
        raise TypeError(
            f"cached_client does not wrap litellm.{kind.__qualname__}: LiteLLM caches through its "
            "own seam; set litellm.cache = litellm.Cache(_backend=AICacheLiteLLM()) with "
            "AICacheLiteLLM from aicache.integrations.litellm (pip install 'aicache[litellm]') "
            "and call with caching=True"
        )
    served = ", ".join(f"{p.sdk}.{c}" for p in PROVIDERS for c in p.classes)
    raise TypeError(
        f"cached_client does not know {kind.__module__}.{kind.__qualname__}; it wraps "
        f"{served} (use @ai_cached for anything else)"
    )


def cached_methods(provider: str) -> frozenset[str]:
    """The attribute paths (``"chat.completions.create"``) a cached client of ``provider``
    caches. Imports the provider's SDK."""
    return PROVIDERS.get(provider).adapter_class().cached


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
    ``generate_content`` and ``embed_content`` (``client.aio.models`` and ``client.models``);
    legacy google-generativeai ``generate_content_async``. Sync clients (``OpenAI``,
    ``AzureOpenAI``, ``Anthropic``) are wrapped like their async twins and share their entries.
    A hit returns the SDK's own response class. Every cached call also accepts
    ``bypass_cache=True``. Streams (``stream=True``, the ``.stream(...)`` helpers,
    ``generate_content_stream``) and the ``.parse(...)`` helpers are recorded whole and replayed
    as the SDK's own stream and parsed types; any other method is called through, counted as
    ``uncached``.

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
