"""LangChain: an LLM cache (``langchain_core.caches.BaseCache``) on aicache's tiers.

    from langchain_core.globals import set_llm_cache
    from aicache.integrations.langchain import AICacheLangChain

    set_llm_cache(AICacheLangChain(ttl=3600))

Every chat model and LLM that honours LangChain's cache then looks up aicache first (sync
``invoke`` and async ``ainvoke`` alike). Entries are keyed by LangChain's prompt and model
configuration, stored signed in the configured tiers (memory, files, Redis), and counted in
``aicache.stats`` per model, with dollars when the generations carry token usage. Needs
``pip install 'aicache[langchain]'``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from .._cache import AICache
from .._log import warn_once
from .._policy import Cost
from .._pricing import cost_of
from .._runner import run as run_sync
from ..backends import BackendSpec
from ..providers import tokens
from ._seam import TTL_DEFAULT, Seam

__all__ = ["AICacheLangChain"]

_FUNCTION = "langchain"
_VERSION = 1  # of the stored document below
# The model configuration LangChain serialises: '"model_name": "gpt-4o"' or "('model', 'x')".
_MODEL = re.compile(r"""["']model(?:_name|_id)?["']\s*[:,]\s*["']([^"']+)["']""")
_PROVIDER = re.compile(r"""["'](?:chat_models|llms)["']\s*,\s*["']([A-Za-z0-9_]+)["']""")


def _label(llm_string: str) -> tuple[str, str, str]:
    """``("langchain", provider, model)`` as far as LangChain's model configuration says."""
    model = _MODEL.search(llm_string)
    provider = _PROVIDER.search(llm_string)
    return _FUNCTION, provider[1] if provider else "", model[1] if model else ""


def _dump(generations: Sequence[Generation]) -> dict[str, Any]:
    items = []
    for g in generations:
        item: dict[str, Any] = {"generation_info": g.generation_info}
        if isinstance(g, ChatGeneration):  # its text is the message's
            item["message"] = {"type": g.message.type, "data": g.message.model_dump(mode="json")}
        else:
            item["text"] = str(g.text)
        items.append(item)
    return {"v": _VERSION, "generations": items}


def _load(document: Any) -> list[Generation] | None:
    """The generations of a stored document; ``None`` for one this version does not read."""
    if not isinstance(document, dict) or document.get("v") != _VERSION:
        return None
    out: list[Generation] = []
    for item in document["generations"]:
        info = item.get("generation_info")
        if "message" in item:  # messages_from_dict maps a fixed set of message types
            message = messages_from_dict([item["message"]])[0]
            out.append(ChatGeneration(message=message, generation_info=info))
        else:
            out.append(Generation(text=item["text"], generation_info=info))
    return out


def _cost(generations: Sequence[Generation], label: tuple[str, str, str]) -> Cost:
    """What the call behind ``generations`` cost, from the first message that reports usage."""
    for g in generations:
        message = getattr(g, "message", None)
        usage = getattr(message, "usage_metadata", None)
        if not usage:
            continue
        meta = getattr(message, "response_metadata", None) or {}
        provider = str(meta.get("model_provider") or label[1])
        model = str(meta.get("model_name") or meta.get("model") or label[2])
        read = dict(usage.get("input_token_details") or {})
        out = dict(usage.get("output_token_details") or {})
        cached, written = int(read.get("cache_read") or 0), int(read.get("cache_creation") or 0)
        used = tokens(
            input=int(usage.get("input_tokens") or 0) - cached - written,
            output=int(usage.get("output_tokens") or 0),
            cached_input=cached,
            cache_write=written,
            reasoning=int(out.get("reasoning") or 0),
        )
        usd = cost_of(provider, model, used) if provider and model else None
        return usd, {"provider": provider, "model": model, "tokens": used}
    return None, None


class AICacheLangChain(BaseCache):
    """A LangChain LLM cache on aicache: ``set_llm_cache(AICacheLangChain())``.

    - ``ttl``: seconds (or a ``timedelta``) an entry lives; ``None`` until evicted; default
      the configured ``ttl``.
    - ``backend``, ``namespace``: as for ``@ai_cached``; or pass ``cache=`` an
      :class:`aicache.AICache` of your own.

    Both the sync and the async methods work from any thread; the sync ones run on a small
    event loop of aicache's (see :mod:`aicache._runner`).
    """

    def __init__(
        self,
        *,
        ttl: float | timedelta | None = TTL_DEFAULT,
        backend: BackendSpec = None,
        namespace: str | None = None,
        cache: AICache | None = None,
    ) -> None:
        self._seam = Seam(_FUNCTION, ttl=ttl, backend=backend, namespace=namespace, cache=cache)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        found = await self._seam.get([prompt, llm_string], _label(llm_string))
        if found is None:
            return None
        try:
            return _load(found)
        except Exception as exc:  # an entry LangChain cannot rebuild is a miss, not an error
            warn_once(f"langchain-load:{type(exc)}", "aicache: unreadable LangChain entry: %r", exc)
            return None

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        label = _label(llm_string)
        try:
            document = _dump(return_val)
        except Exception as exc:  # not storable: the caller has its answer all the same
            warn_once(f"langchain-dump:{type(exc)}", "aicache: not caching generations: %r", exc)
            return
        await self._seam.put(
            [prompt, llm_string], document, label, functools.partial(_cost, return_val, label)
        )

    async def aclear(self, **kwargs: Any) -> None:
        """Remove every LangChain entry of this cache's namespace."""
        await self._seam.clear()

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        return run_sync(self.alookup(prompt, llm_string))

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        run_sync(self.aupdate(prompt, llm_string, return_val))

    def clear(self, **kwargs: Any) -> None:
        run_sync(self.aclear(**kwargs))
