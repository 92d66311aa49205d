"""Per-request controls and replay mode on cached clients: the real SDKs against the simulator,
on a real Redis tier."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import openai
import pytest

import aicache
from aicache import ConfigError, ReplayMiss, cache_control
from aicache.simulator import ProviderSimulator

from .conftest import HELLO, counters, wrap

if TYPE_CHECKING:
    from conftest import Clock, RedisServer

CHAT = "/v1/chat/completions"


@pytest.fixture
def on_redis(redis_server: RedisServer) -> None:
    aicache.configure(backend="redis", redis_url=redis_server.url)


async def test_namespace_per_call_on_a_cached_client(
    on_redis: None, raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    ask = {"model": "gpt-4o-mini", "messages": HELLO}
    a1 = await gpt.chat.completions.create(**ask, namespace="tenant-a")
    a2 = await gpt.chat.completions.create(**ask, namespace="tenant-a")
    assert sim.count(CHAT) == 1
    assert a2.model_dump() == a1.model_dump()
    await gpt.chat.completions.create(**ask, namespace="tenant-b")
    assert sim.count(CHAT) == 2  # tenant-b is never served tenant-a's entry
    with cache_control(namespace="tenant-b"):
        await gpt.chat.completions.create(**ask)
        assert sim.count(CHAT) == 2
        assert await aicache.AICache(aicache.get_config()).clear() == 1
    await gpt.chat.completions.create(**ask, namespace="tenant-a")
    assert sim.count(CHAT) == 2  # clearing tenant-b left tenant-a's entry
    await gpt.chat.completions.create(**ask, namespace="tenant-b")
    assert sim.count(CHAT) == 3


async def test_ttl_per_call_on_a_cached_client(
    clock: Clock, raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai, ttl=3600)
    ask = {"model": "gpt-4o-mini", "messages": HELLO}
    await gpt.chat.completions.create(**ask, ttl=5)
    await gpt.embeddings.create(model="text-embedding-3-small", input="x")
    clock.advance(6)
    await gpt.chat.completions.create(**ask)
    await gpt.embeddings.create(model="text-embedding-3-small", input="x")
    assert sim.count(CHAT) == 2
    assert sim.count("/v1/embeddings") == 1
    with pytest.raises(ConfigError, match="ttl"):
        await gpt.chat.completions.create(**ask, ttl=0)
    with pytest.raises(ConfigError, match="namespace"):
        await gpt.chat.completions.create(**ask, namespace="a b")
    assert sim.count(CHAT) == 2


async def test_ttl_per_call_reaches_a_recorded_stream(
    clock: Clock, raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai, ttl=3600)
    ask = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}
    for _ in range(2):
        stream = await gpt.chat.completions.create(**ask, ttl=5)
        async for _chunk in stream:
            pass
    assert sim.count(CHAT) == 1
    for _ in range(500):  # the stream is stored by its pump task, after the last chunk
        if counters("openai.chat.completions.create")["stores"]:
            break
        await asyncio.sleep(0.01)
    clock.advance(6)
    stream = await gpt.chat.completions.create(**ask)
    async for _chunk in stream:
        pass
    assert sim.count(CHAT) == 2


async def test_replay_mode_never_reaches_the_provider(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    aicache.configure(mode="record")
    gpt = wrap(raw_openai)
    ask: dict[str, Any] = {"model": "gpt-4o-mini", "messages": HELLO}
    recorded = await gpt.chat.completions.create(**ask)
    aicache.configure(mode="replay")
    replayed = await gpt.chat.completions.create(**ask)
    assert replayed.model_dump() == recorded.model_dump()
    other = [{"role": "user", "content": "Something never recorded."}]
    with pytest.raises(ReplayMiss) as caught:
        await gpt.chat.completions.create(model="gpt-4o-mini", messages=other)
    message = str(caught.value)
    assert "openai.chat.completions.create (model gpt-4o-mini)" in message
    assert "Something never recorded." in message  # the request it made, to find the call
    with pytest.raises(ReplayMiss):
        await gpt.chat.completions.create(**ask, stream=True)
    assert sim.count(CHAT) == 1
