"""The argument set and the result every benchmark uses: a chat request and a ~2 KB answer.

Request: a model name, 4 messages of ~1.5 KB in total, temperature and max_tokens, passed as
keyword arguments (as provider SDK calls are). Result: a ~2 KB dict shaped like a chat completion.
Text is drawn from a fixed word list with a seeded generator, so every run hashes the same bytes.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

__all__ = ["MODEL", "RESULT_BYTES", "chat", "request", "result", "size", "text"]

MODEL = "claude-sonnet-4-5"
_VOCABULARY = (
    "tempo key mode energy valence loudness bridge chorus verse harmonic minor major chord "
    "progression rhythm syncopation swing groove bass drum snare hi-hat vocal timbre reverb "
    "analysis classify describe summarise genre mood instrument arrangement production mix"
)
_WORDS = tuple(_VOCABULARY.split(" "))


def text(n_bytes: int, seed: int) -> str:
    """About ``n_bytes`` of plain words, the same for the same seed."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_bytes:
        word = rng.choice(_WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:n_bytes]


def request(total_bytes: int = 1536, variant: int = 0) -> dict[str, Any]:
    """Keyword arguments of one chat call; ``variant`` changes the last user message."""
    per = max(1, total_bytes // 4)
    messages = [
        {"role": "system", "content": text(per, 1)},
        {"role": "user", "content": text(per, 2)},
        {"role": "assistant", "content": text(per, 3)},
        {"role": "user", "content": f"#{variant} " + text(per, 4 + variant)},
    ]
    return {"model": MODEL, "messages": messages, "temperature": 0.2, "max_tokens": 512}


def result(seed: int = 0) -> dict[str, Any]:
    """A fresh ~2 KB completion-shaped dict (nested: mutating it must not reach a cache)."""
    return {
        "id": f"msg_{seed:024d}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text(1700, 100 + seed)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 412, "output_tokens": 389, "cache_read_input_tokens": 0},
    }


def size(value: Any) -> int:
    return len(orjson.dumps(value))


RESULT_BYTES = orjson.dumps(result())


async def chat(
    model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int
) -> dict[str, Any]:
    """The wrapped call: a fresh parse of a ~2 KB completion, as an SDK would hand back."""
    out: dict[str, Any] = orjson.loads(RESULT_BYTES)
    return out
