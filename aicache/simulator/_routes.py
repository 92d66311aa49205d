"""The wire formats by name (the provider table's ``wire`` field) and the path each one serves."""

from __future__ import annotations

from ..providers import PROVIDERS
from . import _anthropic, _gemini, _openai
from ._responses import responses
from ._wire import Handler, Wire

__all__ = ["SERVED", "WIRES", "find"]

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


#: The wire formats served: those the provider table names (a provider's ``wire`` field), in
#: the table's order. A new provider speaking a known format is served with no change here.
SERVED: tuple[Wire, ...] = tuple(WIRES[name] for name in dict.fromkeys(p.wire for p in PROVIDERS))


def find(path: str) -> tuple[Wire, Handler | None]:
    """The wire format that serves ``path`` and its handler; for an unknown path, OpenAI's (whose
    error shape answers it) and None."""
    for wire in SERVED:
        handler = wire.route(path)
        if handler is not None:
            return wire, handler
    return WIRES["openai"], None
