"""An API key never reaches a key or a stored value: every Redis value and every file written is
scanned after real calls through every provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import redis
from google import genai

import aicache
from aicache.simulator import ProviderSimulator

from .conftest import (
    ANTHROPIC_KEY,
    AZURE_KEY,
    GEMINI_KEY,
    HELLO,
    OPENAI_KEY,
    wrap,
)

SECRETS = [k.encode() for k in (ANTHROPIC_KEY, OPENAI_KEY, AZURE_KEY, GEMINI_KEY)]


async def _call_everything(clients: dict[str, Any], azure: openai.AsyncAzureOpenAI) -> None:
    claude, gpt, gemini = (wrap(clients[n]) for n in ("raw_anthropic", "raw_openai", "raw_genai"))
    for _ in range(2):  # a miss, then a hit
        await claude.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=HELLO)
        await claude.beta.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=HELLO,
            betas=["context-1m-2025-08-07"],
        )
        await gpt.chat.completions.create(model="gpt-4o", messages=HELLO)
        await gpt.responses.create(model="gpt-5", input="hi")
        await gpt.embeddings.create(model="text-embedding-3-small", input="hi")
        await wrap(azure).chat.completions.create(model="gpt-4o", messages=HELLO)
        await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        await gemini.aio.models.embed_content(model="gemini-embedding-001", contents="hi")


def _assert_clean(blobs: list[bytes]) -> None:
    for blob in blobs:
        for secret in SECRETS:
            assert secret not in blob


async def test_no_api_key_in_any_redis_key_or_value_or_file(
    redis_server: Any,  # tests/conftest.py: a redis-server of this test's own
    clients: dict[str, Any],
    raw_azure: openai.AsyncAzureOpenAI,
    sim: ProviderSimulator,
) -> None:
    aicache.configure(redis_url=redis_server.url, backend="auto")
    await _call_everything(clients, raw_azure)
    assert sim.count() == 8  # the second round were all hits
    stats = aicache.stats.snapshot()
    assert stats["hits"] == 8 and stats["hits_by_tier"] == {"redis": 8}

    await aicache.close()
    r = redis.Redis.from_url(redis_server.url)
    try:
        keys = list(r.scan_iter("*"))
        values = [r.dump(k) or b"" for k in keys]  # every kind of value, serialised
        entries = [k for k in keys if k.startswith(b"aicache:default:") and r.type(k) == b"string"]
    finally:
        r.close()
    assert len(entries) == 8
    _assert_clean(keys + values)

    cache_dir = Path(aicache.get_config().cache_dir)
    files = [p for p in cache_dir.rglob("*") if p.is_file()]  # noqa: ASYNC240 - after the calls
    assert len(files) >= 8
    _assert_clean([p.read_bytes() for p in files] + [str(p).encode() for p in files])
    # The simulator did receive them: the scan would have found a leak.
    sent = [str(req.headers).encode() for req in sim.requests]
    assert all(any(s in blob for blob in sent) for s in SECRETS)


def test_the_key_document_names_no_credentials(raw_genai: genai.Client) -> None:
    from aicache.providers._genai import GenaiAdapter

    scope = repr(GenaiAdapter(raw_genai).scope).encode()
    _assert_clean([scope])
