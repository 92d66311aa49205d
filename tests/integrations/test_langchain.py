"""LangChain: the standard cache suites, and ChatOpenAI against the simulator."""

from __future__ import annotations

import pytest
from langchain_core.caches import BaseCache
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests.cache import AsyncCacheTestSuite, SyncCacheTestSuite

import aicache
from aicache import _keys
from aicache.integrations.langchain import AICacheLangChain
from aicache.simulator import ProviderSimulator

from .conftest import OPENAI_KEY


class TestSyncStandardSuite(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> BaseCache:
        return AICacheLangChain()


class TestAsyncStandardSuite(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> BaseCache:
        return AICacheLangChain()


@pytest.fixture
def llm_cache() -> object:
    cache = AICacheLangChain()
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


def _chat(sim: ProviderSimulator) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", api_key=OPENAI_KEY, base_url=sim.base_url + "/v1")


def test_second_invoke_sends_nothing(sim: ProviderSimulator, llm_cache: object) -> None:
    chat = _chat(sim)
    first = chat.invoke("Name a chord progression.")
    second = chat.invoke("Name a chord progression.")
    assert sim.count("/v1/chat/completions") == 1
    assert second.content == first.content
    assert isinstance(second, AIMessage)


async def test_second_ainvoke_sends_nothing(sim: ProviderSimulator, llm_cache: object) -> None:
    chat = _chat(sim)
    first = await chat.ainvoke("Name a cadence.")
    second = await chat.ainvoke("Name a cadence.")
    assert sim.count("/v1/chat/completions") == 1
    assert second.content == first.content


def test_a_different_model_setting_misses(sim: ProviderSimulator, llm_cache: object) -> None:
    _chat(sim).invoke("Name a key signature.")
    ChatOpenAI(
        model="gpt-4o-mini", temperature=0.1, api_key=OPENAI_KEY, base_url=sim.base_url + "/v1"
    ).invoke("Name a key signature.")
    assert sim.count("/v1/chat/completions") == 2


def test_hits_counted_per_model_with_dollars(sim: ProviderSimulator, llm_cache: object) -> None:
    chat = _chat(sim)
    chat.invoke("Describe a warm timbre.")
    chat.invoke("Describe a warm timbre.")
    stats = aicache.stats.snapshot()
    model = stats["models"]["openai/gpt-4o-mini"]
    assert model["hits"] == 1 and model["misses"] == 1 and model["stores"] == 1
    assert model["cost_saved_usd"] > 0
    assert model["cost_saved_usd"] == pytest.approx(model["cost_spent_usd"])
    assert stats["functions"]["langchain"]["hits"] == 1


def test_entries_are_signed(sim: ProviderSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CACHE_SECRET", "one-secret")
    aicache.configure(aicache.CacheConfig.from_env())
    cache = AICacheLangChain(backend="file")
    cache.update("p", "llm", [Generation(text="stored")])
    assert cache.lookup("p", "llm") == [Generation(text="stored")]
    monkeypatch.setenv("AI_CACHE_SECRET", "another-secret")
    aicache.configure(aicache.CacheConfig.from_env())
    assert cache.lookup("p", "llm") is None  # signed with another secret: not served
    assert aicache.stats.snapshot()["tampered"] == 1


async def test_chat_generations_round_trip_with_tool_calls() -> None:
    cache = AICacheLangChain()
    message = AIMessage(
        content="",
        tool_calls=[{"name": "tempo", "args": {"bpm": 120}, "id": "call_1"}],
        usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    )
    stored = [ChatGeneration(message=message, generation_info={"finish_reason": "tool_calls"})]
    await cache.aupdate("prompt", "llm", stored)
    found = await cache.alookup("prompt", "llm")
    assert found == stored
    assert isinstance(found[0], ChatGeneration)
    assert found[0].message.tool_calls[0]["args"] == {"bpm": 120}


async def test_clear_leaves_other_namespaces() -> None:
    a, b = AICacheLangChain(namespace="tenant-a"), AICacheLangChain(namespace="tenant-b")
    await a.aupdate("p", "llm", [Generation(text="a")])
    await b.aupdate("p", "llm", [Generation(text="b")])
    await a.aclear()
    assert await a.alookup("p", "llm") is None
    assert await b.alookup("p", "llm") == [Generation(text="b")]


def test_cache_control_read_off_misses(sim: ProviderSimulator, llm_cache: object) -> None:
    chat = _chat(sim)
    chat.invoke("Name a mood.")
    with aicache.cache_control(read=False):
        chat.invoke("Name a mood.")
    assert sim.count("/v1/chat/completions") == 2


def test_sync_calls_count_in_the_callers_stats_scope(
    sim: ProviderSimulator, llm_cache: object
) -> None:
    chat = _chat(sim)
    with aicache.stats.scope("request") as scope:
        chat.invoke("Name a riff.")
        chat.invoke("Name a riff.")
    counted = scope.snapshot()
    assert counted["hits"] == 1 and counted["misses"] == 1


async def test_an_entry_langchain_cannot_rebuild_is_a_miss() -> None:
    cache = AICacheLangChain()
    key = _keys.make_key("default", "langchain", ["p", "llm"])
    bogus = {"v": 1, "generations": [{"message": {"type": "no-such-type", "data": {}}}]}
    policy = aicache.Policy(("langchain", "", ""), ttl=60)
    assert await aicache.AICache().store(key, bogus, policy, 0.0, (None, None))
    assert await cache.alookup("p", "llm") is None


async def test_sync_methods_work_inside_a_running_event_loop() -> None:
    cache = AICacheLangChain()
    cache.update("p", "llm", [Generation(text="from sync code")])  # blocks this loop: allowed
    assert cache.lookup("p", "llm") == [Generation(text="from sync code")]
    assert await cache.alookup("p", "llm") == [Generation(text="from sync code")]
