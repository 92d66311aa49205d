"""LiteLLM: a backend for ``litellm.Cache`` on aicache's tiers.

    import litellm
    from aicache.integrations.litellm import AICacheLiteLLM

    litellm.cache = litellm.Cache(_backend=AICacheLiteLLM(ttl=3600))
    response = await litellm.acompletion(model="openai/gpt-4o-mini", messages=[...], caching=True)

LiteLLM decides what a request is (its cache key leaves credentials out) and what it stores (the
response as JSON); aicache keeps it in the configured tiers, signed, and counts hits, misses and
the dollars a hit saved (from the usage LiteLLM reported, at aicache's prices, else LiteLLM's) in
``aicache.stats`` under ``("litellm", provider, model)``. Needs ``pip install 'aicache[litellm]'``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import orjson
from litellm import cost_per_token
from litellm.caching.base_cache import BaseCache

from .._cache import AICache
from .._log import warn_once
from .._policy import Cost
from .._pricing import cost_of
from .._runner import run as run_sync
from ..backends import BackendSpec
from ..providers import tokens
from ._seam import TTL_DEFAULT, Seam

__all__ = ["AICacheLiteLLM"]

_FUNCTION = "litellm"


def _label(kwargs: dict[str, Any]) -> tuple[str, str, str]:
    """``("litellm", provider, model)`` of a request: ``openai/gpt-4o`` -> openai, gpt-4o."""
    model = str(kwargs.get("model") or "")
    provider = str(kwargs.get("custom_llm_provider") or "")
    prefix, slash, rest = model.partition("/")
    if slash and (not provider or prefix == provider):
        provider, model = prefix, rest
    return _FUNCTION, provider, model


def _response(value: Any) -> dict[str, Any] | None:
    """The response document inside what LiteLLM stores (``{"timestamp", "response"}``)."""
    response = value.get("response") if isinstance(value, dict) else None
    if isinstance(response, str | bytes):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError:
            return None
    return response if isinstance(response, dict) else None


def _number(doc: Any, *path: str) -> int:
    for name in path:
        doc = doc.get(name) if isinstance(doc, dict) else None
    return doc if type(doc) is int else 0


def _cost(value: Any, label: tuple[str, str, str]) -> Cost:
    """What the call behind a stored value cost, from the usage LiteLLM reported in it."""
    response = _response(value)
    usage = response.get("usage") if response else None
    if not isinstance(usage, dict) or response is None:
        return None, None
    provider = label[1]
    model = str(response.get("model") or label[2])
    cached = _number(usage, "prompt_tokens_details", "cached_tokens")
    written = _number(usage, "cache_creation_input_tokens")
    prompt = _number(usage, "prompt_tokens")
    if provider == "anthropic":  # LiteLLM adds the cache reads and writes into prompt_tokens
        written = written or _number(usage, "prompt_tokens_details", "cache_creation_tokens")
    used = tokens(
        input=prompt - cached - written,
        output=_number(usage, "completion_tokens"),
        cached_input=cached,
        cache_write=written,
        reasoning=_number(usage, "completion_tokens_details", "reasoning_tokens"),
    )
    usd = cost_of(provider, model, used) if provider else None
    if usd is None:
        usd = _litellm_price(provider, model, usage)
    return usd, {"provider": provider, "model": model, "tokens": used}


def _litellm_price(provider: str, model: str, usage: dict[str, Any]) -> float | None:
    """LiteLLM's own price for a model aicache's table does not know."""
    try:
        prompt_usd, completion_usd = cost_per_token(
            model=model,
            custom_llm_provider=provider or None,
            prompt_tokens=_number(usage, "prompt_tokens"),
            completion_tokens=_number(usage, "completion_tokens"),
        )
    except Exception:  # LiteLLM raises for a model its map does not know
        return None
    total = float(prompt_usd) + float(completion_usd)
    return total if total > 0 else None


class AICacheLiteLLM(BaseCache):
    """A ``litellm.Cache`` backend on aicache: ``litellm.Cache(_backend=AICacheLiteLLM())``.

    - ``ttl``: seconds (or a ``timedelta``) an entry lives when LiteLLM names none (its
      ``Cache(ttl=...)`` or a request's ``cache={"ttl": ...}`` win); default the configured ttl.
    - ``backend``, ``namespace``: as for ``@ai_cached``; or pass ``cache=`` an
      :class:`aicache.AICache` of your own.
    """

    def __init__(
        self,
        *,
        ttl: float | timedelta | None = TTL_DEFAULT,
        backend: BackendSpec = None,
        namespace: str | None = None,
        cache: AICache | None = None,
    ) -> None:
        super().__init__()
        self._seam = Seam(_FUNCTION, ttl=ttl, backend=backend, namespace=namespace, cache=cache)

    @staticmethod
    def _ttl(kwargs: dict[str, Any]) -> Any:
        ttl = kwargs.get("ttl")
        if ttl is None:
            return TTL_DEFAULT
        try:
            return float(ttl) if float(ttl) > 0 else TTL_DEFAULT
        except (TypeError, ValueError):
            warn_once(f"litellm-ttl:{ttl!r}", "aicache: LiteLLM ttl=%r is not a number", ttl)
            return TTL_DEFAULT

    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        return await self._seam.get(key, _label(kwargs))

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        label = _label(kwargs)
        priced = functools.partial(_cost, value, label)
        await self._seam.put(key, value, label, priced, self._ttl(kwargs))

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], **kwargs: Any
    ) -> None:
        for key, value in cache_list:
            await self.async_set_cache(key, value, **kwargs)

    async def batch_cache_write(self, key: str, value: Any, **kwargs: Any) -> None:
        await self.async_set_cache(key, value, **kwargs)

    async def async_delete_cache(self, key: str) -> None:
        await self._seam.delete(key)

    async def flush_cache_async(self) -> None:
        """Remove every LiteLLM entry of this backend's namespace."""
        await self._seam.clear()

    async def disconnect(self) -> None:
        """Nothing to do: the shared tiers close with ``aicache.close()``."""

    async def test_connection(self) -> dict[str, Any]:
        return {"status": "success", "message": "aicache backend"}

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        return run_sync(self.async_get_cache(key, **kwargs))

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        run_sync(self.async_set_cache(key, value, **kwargs))

    def delete_cache(self, key: str) -> None:
        run_sync(self.async_delete_cache(key))

    def flush_cache(self) -> None:
        run_sync(self.flush_cache_async())
