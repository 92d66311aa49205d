"""SampleMindAIManager end to end: real SDK clients, a ProviderSimulator on 127.0.0.1, the cache."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import anthropic
import openai
import pytest
from google import genai

import aicache
from aicache.demo import TRACKS, AnalysisError, AnalysisType, SampleMindAIManager
from aicache.providers import Retry
from aicache.simulator import ProviderSimulator

FEATURES = TRACKS[0]["features"]
QUICK = Retry(attempts=2, initial=0, maximum=0, jitter=0)
GEMINI_PATH = "/models/gemini-2.5-flash:generateContent"  # after /v1 or /v1beta (SDK 2.x)


@pytest.fixture
async def sim() -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator(latency=0.02) as server:
        yield server


@pytest.fixture
async def broken() -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator() as server:
        yield server


def _gemini(server: ProviderSimulator) -> genai.Client:
    return genai.Client(api_key="gemini-test-key", http_options={"base_url": server.base_url})


def _claude(server: ProviderSimulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="claude-test-key", base_url=server.base_url)


async def test_simulated_provider_without_keys_then_a_hit() -> None:
    async with SampleMindAIManager(latency=(0.01, 0.02), environ={}) as ai:
        assert ai.simulated and ai.providers == ["simulated"]
        first = await ai.analyze_music(FEATURES, AnalysisType.GENRE_CLASSIFICATION)
        assert not first.cached and first.tier is None and first.simulated
        assert (first.provider, first.model) == ("openai", "gpt-4o")
        assert first.data["genre"] in first.summary
        assert first.cost_usd is not None and first.cost_usd > 0  # real gpt-4o prices

        second = await ai.analyze_music(FEATURES, "genre_classification")
        assert second.cached and second.tier == "file"
        assert second.text == first.text
        assert second.cost_usd == pytest.approx(first.cost_usd)

        stats = ai.get_global_stats()
        assert stats["cache_hits"] == 1 and stats["cache_misses"] == 1
        assert stats["cache_hit_rate"] == 0.5
        assert stats["cache_cost_saved"] == pytest.approx(first.cost_usd)
        assert stats["providers"]["openai"]["calls"] == 1
        assert stats["providers"]["openai"]["spend_usd"] == pytest.approx(first.cost_usd)
        assert stats["providers"]["openai"]["errors"] == 0
        assert stats["simulated"] is True


async def test_keys_decide_the_routing_order() -> None:
    env = {"OPENAI_API_KEY": "sk-o", "GOOGLE_API_KEY": "g", "ANTHROPIC_API_KEY": "sk-a"}
    assert SampleMindAIManager(environ=env).providers == ["gemini", "anthropic", "openai"]
    assert SampleMindAIManager(environ={"OPENAI_API_KEY": "sk-o"}).providers == ["openai"]
    forced = SampleMindAIManager(environ=env, simulate=True)
    assert forced.simulated and forced.providers == ["simulated"]
    with pytest.raises(aicache.ConfigError, match="OPENAI_API_KEY"):
        SampleMindAIManager(environ={}, simulate=False)


async def test_bypass_and_near_identical_features(sim: ProviderSimulator) -> None:
    async with SampleMindAIManager(clients={"anthropic": _claude(sim)}) as ai:
        kind = AnalysisType.MOOD_ENERGY
        first = await ai.analyze_music(FEATURES, kind)
        assert (first.provider, first.cached, first.simulated) == ("anthropic", False, False)
        noisy = {**FEATURES, "tempo": FEATURES["tempo"] + 0.0001, "energy": 0.7801}
        assert (await ai.analyze_music(noisy, kind)).cached  # same normalised prompt
        assert sim.count() == 1
        fresh = await ai.analyze_music(FEATURES, kind, bypass_cache=True)
        assert not fresh.cached and sim.count() == 2
        other = await ai.analyze_music({**FEATURES, "tempo": 125.0}, kind)
        assert not other.cached and sim.count() == 3
        calls = ai.get_global_stats()["providers"]["anthropic"]["calls"]
        assert calls == 3  # two misses and one bypass


async def test_failing_gemini_falls_through_to_claude(
    sim: ProviderSimulator, broken: ProviderSimulator
) -> None:
    broken.fail_next(100, status=503)
    clients = {"gemini": _gemini(broken), "anthropic": _claude(sim)}
    async with SampleMindAIManager(clients=clients, retry=QUICK) as ai:
        assert ai.providers == ["gemini", "anthropic"]
        result = await ai.analyze_music(FEATURES, AnalysisType.HARMONIC_MIXING)
        assert result.provider == "anthropic" and not result.cached
        gemini_calls = sum(n for path, n in broken.counts().items() if path.endswith(GEMINI_PATH))
        assert gemini_calls == 2  # the first try and one retry, then Claude
        assert sim.count("/v1/messages") == 1
        stats = ai.get_global_stats()
        gemini, claude = stats["providers"]["gemini"], stats["providers"]["anthropic"]
        assert (gemini["errors"], gemini["retries"], gemini["spend_usd"]) == (1, 1, 0)
        assert (claude["errors"], claude["calls"]) == (0, 1)
        assert claude["spend_usd"] > 0

        # Gemini recovers: it answers, and is asked first again.
        broken.reset()
        again = await ai.analyze_music(FEATURES, AnalysisType.HARMONIC_MIXING)
        assert again.provider == "gemini" and not again.cached


async def test_every_provider_failing_raises(broken: ProviderSimulator) -> None:
    broken.fail_next(100, status=500)
    clients = {"gemini": _gemini(broken), "anthropic": _claude(broken)}
    async with SampleMindAIManager(clients=clients, retry=1) as ai:
        with pytest.raises(AnalysisError, match=r"gemini: .*anthropic: "):
            await ai.analyze_music(FEATURES)
        providers = ai.get_global_stats()["providers"]
        assert providers["gemini"]["errors"] == providers["anthropic"]["errors"] == 1


async def test_concurrent_identical_requests_make_one_call(sim: ProviderSimulator) -> None:
    oai = openai.AsyncOpenAI(api_key="sk-test", base_url=sim.base_url + "/v1")
    async with SampleMindAIManager(clients={"openai": oai}) as ai:
        results = await asyncio.gather(*(ai.analyze_music(FEATURES) for _ in range(8)))
        assert sim.count() == 1
        assert len({r.text for r in results}) == 1
        assert sum(r.cached for r in results) == 7


async def test_bad_input_is_refused_before_any_call(sim: ProviderSimulator) -> None:
    async with SampleMindAIManager(clients={"anthropic": _claude(sim)}) as ai:
        with pytest.raises(ValueError, match="tempo"):
            await ai.analyze_music({**FEATURES, "tempo": math.nan})
        with pytest.raises(TypeError, match="features"):
            await ai.analyze_music([1, 2])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await ai.analyze_music(FEATURES, "karaoke_scoring")
    assert sim.count() == 0
    with pytest.raises(aicache.ConfigError, match="clients="):
        SampleMindAIManager(clients={"openai": _claude(sim)})
