"""Anthropic (``anthropic.AsyncAnthropic``): ``messages.create`` and ``beta.messages.create``."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import anthropic
from anthropic.types import Message
from anthropic.types.beta import BetaMessage

from ._base import Tokens, tokens
from ._stainless import StainlessAdapter, register

__all__ = ["AnthropicAdapter"]

register(Message, BetaMessage)

#: Stop reasons of an answer that was cut off, not finished.
_CUT = frozenset({"max_tokens", "model_context_window_exceeded", "pause_turn"})


class AnthropicAdapter(StainlessAdapter):
    provider: ClassVar[str] = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    client_class: ClassVar[str] = "AsyncAnthropic"
    cached: ClassVar[frozenset[str]] = frozenset({"messages.create", "beta.messages.create"})

    def usage(self, response: Any) -> tuple[str, Tokens] | None:
        u = getattr(response, "usage", None)
        if u is None:
            return None
        details = getattr(u, "output_tokens_details", None)
        return str(getattr(response, "model", "") or ""), tokens(
            input=u.input_tokens,
            cached_input=u.cache_read_input_tokens or 0,
            cache_write=u.cache_creation_input_tokens or 0,
            output=u.output_tokens,
            reasoning=getattr(details, "thinking_tokens", 0) or 0,
        )

    def complete(self, response: Any) -> bool:
        return bool(getattr(response, "content", None)) and response.stop_reason not in _CUT
