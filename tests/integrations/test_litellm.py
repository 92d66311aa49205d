"""LiteLLM: ``litellm.Cache(_backend=AICacheLiteLLM())`` against the simulator, through
LiteLLM's OpenAI and Anthropic routes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest

import aicache
from aicache.integrations.litellm import AICacheLiteLLM
from aicache.simulator import ProviderSimulator

from .conftest import ANTHROPIC_KEY, OPENAI_KEY

MESSAGES = [{"role": "user", "content": "Name a chord progression."}]


@pytest.fixture
def backend() -> Iterator[AICacheLiteLLM]:
    backend = AICacheLiteLLM()
    litellm.cache = litellm.Cache(_backend=backend)
    yield backend
    litellm.cache = None


def _openai(sim: ProviderSimulator, **kwargs: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "api_base": sim.base_url + "/v1",
        "api_key": OPENAI_KEY,
        "caching": True,
        **kwargs,
    }


def _anthropic(sim: ProviderSimulator) -> dict[str, Any]:
    return {
        "model": "anthropic/claude-sonnet-4-5",
        "messages": MESSAGES,
        "max_tokens": 200,
        "api_base": sim.base_url,
        "api_key": ANTHROPIC_KEY,
        "caching": True,
    }


def _files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def _stored(count: int) -> None:
    """LiteLLM writes its cache from a background task after the call returns: wait for it."""
    for _ in range(500):
        if aicache.stats.snapshot()["stores"] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"LiteLLM did not store {count} entries")


async def test_openai_route_second_call_sends_nothing(
    sim: ProviderSimulator, backend: AICacheLiteLLM
) -> None:
    first = await litellm.acompletion(**_openai(sim))
    await _stored(1)
    second = await litellm.acompletion(**_openai(sim))
    assert sim.count("/v1/chat/completions") == 1
    assert isinstance(second, litellm.ModelResponse)
    assert second.choices[0].message.content == first.choices[0].message.content


async def test_anthropic_route_second_call_sends_nothing(
    sim: ProviderSimulator, backend: AICacheLiteLLM
) -> None:
    first = await litellm.acompletion(**_anthropic(sim))
    await _stored(1)
    second = await litellm.acompletion(**_anthropic(sim))
    assert sim.count("/v1/messages") == 1
    assert second.choices[0].message.content == first.choices[0].message.content


async def test_hits_count_dollars_saved_from_litellm_usage(
    sim: ProviderSimulator, backend: AICacheLiteLLM
) -> None:
    await litellm.acompletion(**_anthropic(sim))
    await _stored(1)
    await litellm.acompletion(**_anthropic(sim))
    model = aicache.stats.snapshot()["models"]["anthropic/claude-sonnet-4-5"]
    assert model["hits"] == 1 and model["misses"] == 1
    assert model["cost_saved_usd"] > 0
    assert model["cost_saved_usd"] == pytest.approx(model["cost_spent_usd"])
    assert model["tokens_saved"]["output"] > 0


async def test_no_api_keys_in_keys_or_values(
    sim: ProviderSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_CACHE_DIR", str(tmp_path))
    aicache.configure(aicache.CacheConfig.from_env())
    litellm.cache = litellm.Cache(_backend=AICacheLiteLLM(backend="file"))
    try:
        await litellm.acompletion(**_openai(sim))
        await _stored(1)
        # Another key for the same request: the same entry (keys leave credentials out).
        await litellm.acompletion(**_openai(sim, api_key="sk-proj-SECRET-rotated-999"))
    finally:
        litellm.cache = None
    assert sim.count("/v1/chat/completions") == 1
    stored = _files(tmp_path)
    assert stored
    for name, data in stored.items():
        assert b"SECRET" not in data
        assert "SECRET" not in name


def test_sync_completion_hits(sim: ProviderSimulator, backend: AICacheLiteLLM) -> None:
    first = litellm.completion(**_openai(sim))
    second = litellm.completion(**_openai(sim))
    assert sim.count("/v1/chat/completions") == 1
    assert second.choices[0].message.content == first.choices[0].message.content


async def test_litellm_ttl_is_the_entrys_lifetime(sim: ProviderSimulator, clock: Any) -> None:
    litellm.cache = litellm.Cache(_backend=AICacheLiteLLM(), ttl=60)
    try:
        await litellm.acompletion(**_openai(sim))
        await _stored(1)
        clock.advance(61)
        await litellm.acompletion(**_openai(sim))
    finally:
        litellm.cache = None
    assert sim.count("/v1/chat/completions") == 2


async def test_flush_clears_only_litellm_entries(backend: AICacheLiteLLM) -> None:
    await backend.async_set_cache("k", {"timestamp": 1.0, "response": "{}"}, model="x")
    cache = aicache.AICache()
    await cache.set("manual", value=1)
    await backend.flush_cache_async()
    assert await backend.async_get_cache("k", model="x") is None
    assert await cache.get("manual") == 1


def test_cached_client_of_a_router_names_the_backend() -> None:
    router = litellm.Router(model_list=[])
    with pytest.raises(TypeError, match=r"AICacheLiteLLM.*aicache\.integrations\.litellm"):
        aicache.cached_client(router)
