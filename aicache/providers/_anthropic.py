"""Anthropic (``anthropic.AsyncAnthropic``): ``messages.create`` and ``beta.messages.create``."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import anthropic
from anthropic.types import Message
from anthropic.types.beta import BetaMessage

from ._base import Tokens, tokens
from ._stainless import Events, StainlessAdapter, register

__all__ = ["AnthropicAdapter"]

register(Message, BetaMessage)

#: Stop reasons of an answer that was cut off, not finished.
_CUT = frozenset({"max_tokens", "model_context_window_exceeded", "pause_turn"})


def _apply(block: dict[str, Any], delta: dict[str, Any]) -> None:
    for field in ("text", "thinking", "partial_json"):
        if field in delta:
            key = "input_json" if field == "partial_json" else field
            block[key] = block.get(key, "") + delta[field]


class AnthropicAdapter(StainlessAdapter):
    provider: ClassVar[str] = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    client_class: ClassVar[str] = "AsyncAnthropic"
    cached: ClassVar[frozenset[str]] = frozenset(
        {"messages.create", "beta.messages.create", "messages.parse"}
    )
    managers: ClassVar[frozenset[str]] = frozenset({"messages.stream"})
    helpers: ClassVar[dict[str, type[Any]]] = {
        "messages.parse": Message,
        "messages.stream": Message,
    }
    bodies: ClassVar[dict[str, type[Any]]] = {
        "messages.create": Message,
        "beta.messages.create": BetaMessage,
    }

    def ended(self, path: str, events: Events) -> bool:
        return any(name == "message_stop" for name, _ in events)

    def accumulate(self, path: str, events: Events) -> Any:
        """The message the events build (text and JSON deltas joined; usage as last reported)."""
        message: dict[str, Any] = {}
        blocks: list[dict[str, Any]] = []
        for name, data in events:
            if not isinstance(data, dict):
                continue
            if name == "message_start":
                message = dict(data["message"])
            elif name == "content_block_start":
                blocks.append(dict(data["content_block"]))
            elif name == "content_block_delta" and blocks:
                _apply(blocks[data.get("index", len(blocks) - 1)], data.get("delta", {}))
            elif name == "message_delta":
                message.update({k: v for k, v in data.get("delta", {}).items() if v is not None})
                usage = {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
                message["usage"] = {**(message.get("usage") or {}), **usage}
        message["content"] = blocks
        cls = BetaMessage if path.startswith("beta.") else Message
        return cls.model_validate(message)

    def request(self, path: str, call: dict[str, Any]) -> dict[str, Any] | None:
        """The wire request less prompt-caching markers: ``cache_control`` changes what
        Anthropic charges, never what it answers, so a prompt with and without them shares one
        entry."""
        doc = super().request(path, call)
        if doc is None:
            return None
        doc.pop("cache_control", None)  # the request-wide (automatic) marker
        for name in ("system", "tools"):
            if isinstance(doc.get(name), list):
                _unmark(doc[name])
        messages = doc.get("messages")
        if isinstance(messages, list):
            for m in messages:
                if isinstance(m, dict) and isinstance(m.get("content"), list):
                    _unmark(m["content"])
        return doc

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


def _unmark(blocks: list[Any]) -> None:
    """Drop the ``cache_control`` of content blocks (or tools), and of a tool result's own
    content, in place: they are the key document's own copies (:func:`wire` copies every dict
    and list). Nothing inside a block's data (a tool's input, a document) is touched."""
    for block in blocks:
        if isinstance(block, dict):
            block.pop("cache_control", None)
            if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                _unmark(block["content"])
