"""What every wire format shares: the recorded request, the reply (a whole body or server-sent
events), the per-simulator context, and the table entry a provider's wire module fills in."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._answers import digest_of

__all__ = [
    "PROMPT_CACHE_MIN",
    "BadRequest",
    "Context",
    "Handler",
    "Recorded",
    "Reply",
    "Wire",
    "json_reply",
    "sse_reply",
]

PROMPT_CACHE_MIN = 1024  # tokens: shorter prompts are never reported as cached
#: Request fields that change how an answer is delivered, not what it says.
_DELIVERY = ("stream", "stream_options")


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the simulator received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None


@dataclass(slots=True)
class Reply:
    """A whole JSON body, or (``events`` not None) server-sent events sent one at a time."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    events: list[bytes] | None = None


class BadRequest(Exception):
    """The request misses something the provider requires: answered with a 400."""


def json_reply(status: int, doc: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(doc).encode(), headers=dict(headers or {}))


def sse_reply(events: Iterable[tuple[str | None, Any]]) -> Reply:
    """Server-sent events, one frame per ``(event name or None, data)``; text data is sent as is
    (``[DONE]``), anything else as JSON."""
    frames = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        text = data if isinstance(data, str) else json.dumps(data)
        frames.append(f"{head}data: {text}\n\n".encode())
    return Reply(200, content_type="text/event-stream", events=frames)


class Context:
    """What a handler may use besides the request: the seed and the prompt-cache memory."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._prompts: set[bytes] = set()

    def digest(self, path: str, body: Any) -> bytes:
        """The seed of the answer to ``body``: equal for its streamed and whole forms."""
        doc = body
        if isinstance(body, dict):
            doc = {k: v for k, v in body.items() if k not in _DELIVERY}
        return digest_of(self.seed, path, doc)

    def chunks(self, digest: bytes) -> random.Random:
        """The generator that cuts one answer into stream pieces."""
        return random.Random(digest + b"chunks")

    def cached(self, model: str, prompt: str, count: int) -> int:
        """Prompt tokens served from the provider's prompt cache: a repeated long prompt."""
        mark = digest_of(model, prompt)
        seen = mark in self._prompts
        self._prompts.add(mark)
        if count < PROMPT_CACHE_MIN or not seen:
            return 0
        return count // 128 * 128


Handler = Callable[[Recorded, Context], Reply]


@dataclass(frozen=True, slots=True)
class Wire:
    """One provider's wire format: which paths it serves, and its error shape."""

    name: str  # as in the provider table's ``wire`` field: "anthropic", "openai", "gemini"
    route: Callable[[str], Handler | None]
    error: Callable[[int, str, dict[str, str]], Reply]
