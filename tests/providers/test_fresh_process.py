"""An SDK object stored by one process is rebuilt as the SDK's class in another, even by a
decorated function without a return annotation and before any client was wrapped there."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from anthropic.types import Message
from google.genai import types

import aicache

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Warm, syncopated."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 4},
}
GENERATED = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Bright."}]}}],
    "sdk_http_response": {"headers": {"x-served-by": "test"}},
}

READER = """
import asyncio
import aicache.providers  # what `import aicache` does once cached_client is exported
from aicache import ai_cached, cache_info

@ai_cached(backend="file", name="fresh.answer")
async def answer(prompt):  # no annotation: nothing registers Message up front
    raise AssertionError("a hit was expected")

@ai_cached(backend="file", name="fresh.generate")
async def generate(prompt):
    raise AssertionError("a hit was expected")

async def main():
    message, generated = await answer("groove?"), await generate("mood?")
    print(type(message).__name__, message.content[0].text, cache_info(message).hit)
    print(type(generated).__name__, generated.text, generated.sdk_http_response)

asyncio.run(main())
"""


async def test_sdk_objects_written_by_one_process_are_rebuilt_in_another(tmp_path: Path) -> None:
    aicache.configure(cache_dir=tmp_path)

    @aicache.ai_cached(backend="file", name="fresh.answer")
    async def answer(prompt: str) -> Any:
        return Message.model_validate(MESSAGE)

    @aicache.ai_cached(backend="file", name="fresh.generate")
    async def generate(prompt: str) -> Any:
        return types.GenerateContentResponse.model_validate(GENERATED)

    await answer("groove?")
    await generate("mood?")
    await aicache.close()
    env = {"AI_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"}
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", READER, env=env, stdout=-1, stderr=-1
    )
    out, err = await asyncio.wait_for(reader.communicate(), 120)
    assert reader.returncode == 0, err.decode()
    assert out.decode().splitlines() == [
        "Message Warm, syncopated. True",
        "GenerateContentResponse Bright. None",  # the HTTP exchange is not stored
    ]
