"""Every cached method: a hit makes no request and returns the SDK's own class, equal to the
original; ``bypass_cache=True`` calls through; the response object is never touched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import pytest
from anthropic.types import Message
from anthropic.types.beta import BetaMessage
from google.genai import types
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

import aicache
from aicache.simulator import ProviderSimulator

from .conftest import HELLO, counters, wrap

Call = Callable[[Any], Awaitable[Any]]

METHODS = [
    pytest.param(
        "raw_anthropic",
        "anthropic.messages.create",
        Message,
        lambda c, **kw: c.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=HELLO, **kw
        ),
        id="anthropic-messages",
    ),
    pytest.param(
        "raw_anthropic",
        "anthropic.beta.messages.create",
        BetaMessage,
        lambda c, **kw: c.beta.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=HELLO,
            betas=["context-1m-2025-08-07"],
            **kw,
        ),
        id="anthropic-beta-messages",
    ),
    pytest.param(
        "raw_openai",
        "openai.chat.completions.create",
        ChatCompletion,
        lambda c, **kw: c.chat.completions.create(model="gpt-4o", messages=HELLO, **kw),
        id="openai-chat",
    ),
    pytest.param(
        "raw_openai",
        "openai.responses.create",
        Response,
        lambda c, **kw: c.responses.create(model="gpt-5", input="Name the key.", **kw),
        id="openai-responses",
    ),
    pytest.param(
        "raw_openai",
        "openai.embeddings.create",
        CreateEmbeddingResponse,
        # One string: a list of inputs is cached per input (test_embedding_items.py).
        lambda c, **kw: c.embeddings.create(
            model="text-embedding-3-small", input="bright and warm", **kw
        ),
        id="openai-embeddings",
    ),
    pytest.param(
        "raw_genai",
        "gemini.aio.models.generate_content",
        types.GenerateContentResponse,
        lambda c, **kw: c.aio.models.generate_content(
            model="gemini-2.5-flash", contents="Describe the groove.", **kw
        ),
        id="genai-generate",
    ),
    pytest.param(
        "raw_genai",
        "gemini.aio.models.embed_content",
        types.EmbedContentResponse,
        lambda c, **kw: c.aio.models.embed_content(
            model="gemini-embedding-001", contents="bright and warm", **kw
        ),
        id="genai-embed",
    ),
]


def comparable(value: Any) -> Any:
    """A google-genai hit has no ``sdk_http_response`` (no HTTP exchange happened)."""
    if isinstance(value, types.GenerateContentResponse | types.EmbedContentResponse):
        return value.model_dump(exclude={"sdk_http_response"})
    return value


@pytest.mark.parametrize(("fixture", "function", "cls", "call"), METHODS)
async def test_a_hit_is_the_sdk_class_equal_to_the_original_and_makes_no_request(
    clients: dict[str, Any],
    sim: ProviderSimulator,
    fixture: str,
    function: str,
    cls: type[Any],
    call: Call,
) -> None:
    client = wrap(clients[fixture])
    original = await call(client)
    assert sim.count() == 1
    hit = await call(client)
    assert sim.count() == 1  # served without a request
    assert type(hit) is cls and type(original) is cls
    assert hit is not original
    assert comparable(hit) == comparable(original)
    info = aicache.cache_info(hit)
    assert info is not None and info.hit and info.tier is not None
    assert info.key.startswith(f"aicache:default:{function}:")
    miss_info = aicache.cache_info(original)
    assert miss_info is not None and not miss_info.hit and miss_info.key == info.key
    stats = counters(function)
    assert (stats["hits"], stats["misses"], stats["stores"]) == (1, 1, 1)


@pytest.mark.parametrize(("fixture", "function", "cls", "call"), METHODS)
async def test_bypass_cache_calls_through_and_refreshes_the_entry(
    clients: dict[str, Any],
    sim: ProviderSimulator,
    fixture: str,
    function: str,
    cls: type[Any],
    call: Call,
) -> None:
    client = wrap(clients[fixture])
    await call(client)
    fresh = await call(client, bypass_cache=True)  # never sent to the SDK, which would reject it
    assert sim.count() == 2 and type(fresh) is cls
    assert "bypass_cache" not in sim.requests[-1].body
    await call(client)
    assert sim.count() == 2
    stats = counters(function)
    assert (stats["bypasses"], stats["hits"], stats["stores"]) == (1, 1, 2)


@pytest.mark.parametrize(("fixture", "function", "cls", "call"), METHODS)
async def test_the_response_object_is_never_modified(
    clients: dict[str, Any],
    fixture: str,
    function: str,
    cls: type[Any],
    call: Call,
) -> None:
    raw = clients[fixture]
    untouched = await call(raw)  # the same request without aicache: the simulator is deterministic
    cached = await call(wrap(raw))
    assert cached.__dict__.keys() == untouched.__dict__.keys()  # nothing attached to a miss
    for value in (cached, await call(wrap(raw))):  # a miss, then a hit
        assert comparable(value) == comparable(untouched)
        # A hit lacks only what the SDK takes from HTTP headers (e.g. ``_request_id``).
        assert value.__dict__.keys() <= untouched.__dict__.keys()
        assert value.__pydantic_extra__ == untouched.__pydantic_extra__


async def test_a_decorated_function_returning_sdk_objects_round_trips(
    raw_anthropic: Any, raw_genai: Any, sim: ProviderSimulator
) -> None:
    @aicache.ai_cached(backend="file")
    async def ask(prompt: str) -> Message:
        return await raw_anthropic.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
        )

    @aicache.ai_cached(backend="file")
    async def generate(prompt: str) -> types.GenerateContentResponse:
        return await raw_genai.aio.models.generate_content(
            model="gemini-2.5-flash", contents=prompt
        )

    first, again = await ask("tempo?"), await ask("tempo?")
    assert type(again) is Message and again == first and again is not first
    g1, g2 = await generate("mood?"), await generate("mood?")
    assert type(g2) is types.GenerateContentResponse and comparable(g2) == comparable(g1)
    assert sim.count() == 2


async def test_concurrent_identical_calls_make_one_request_and_each_gets_its_own_object() -> None:
    async with ProviderSimulator(latency=0.2) as slow:
        claude = wrap(anthropic.AsyncAnthropic(api_key="k", base_url=slow.base_url))
        kw = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}
        answers = await asyncio.gather(*(claude.messages.create(**kw) for _ in range(5)))
        assert slow.count() == 1
    assert all(type(a) is Message and a == answers[0] for a in answers)
    assert len({id(a) for a in answers}) == 5  # nobody can mutate another caller's answer
    stats = counters("anthropic.messages.create")
    assert (stats["misses"], stats["coalesced"], stats["hits"]) == (1, 4, 4)


async def test_a_client_miss_peeks_once(
    raw_anthropic: anthropic.AsyncAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    peeks: list[str] = []
    peek = aicache.AICache.peek

    def counted(self: aicache.AICache, key: str, label: Any) -> Any:
        peeks.append(key)
        return peek(self, key, label)

    monkeypatch.setattr(aicache.AICache, "peek", counted)
    claude = wrap(raw_anthropic, backend="memory")

    async def ask() -> Message:
        return await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=HELLO
        )

    first = await ask()  # the client's own peek answers MISS: the core trusts it
    assert len(peeks) == 1
    assert await ask() == first
    assert len(peeks) == 2
    assert counters("anthropic.messages.create")["hits"] == 1
