"""The wire formats by name (the provider table's ``wire`` field) and the path each one serves."""

from __future__ import annotations

from . import _anthropic, _gemini, _openai
from ._responses import responses
from ._wire import Handler, Wire

__all__ = ["WIRES", "find"]

_OPENAI_PATHS: tuple[tuple[str, Handler], ...] = (
    ("/chat/completions", _openai.chat_completions),  # also Azure's /openai/deployments/<name>/...
    ("/responses", responses),
    ("/embeddings", _openai.embeddings),
)


def _openai_route(path: str) -> Handler | None:
    return next((handler for suffix, handler in _OPENAI_PATHS if path.endswith(suffix)), None)


WIRES: dict[str, Wire] = {
    "anthropic": Wire("anthropic", _anthropic.route, _anthropic.error),
    "openai": Wire("openai", _openai_route, _openai.error),
    "gemini": Wire("gemini", _gemini.route, _gemini.error),
}


def find(path: str) -> tuple[Wire, Handler | None]:
    """The wire format that serves ``path`` and its handler; for an unknown path, OpenAI's (whose
    error shape answers it) and None."""
    for wire in WIRES.values():
        handler = wire.route(path)
        if handler is not None:
            return wire, handler
    return WIRES["openai"], None
