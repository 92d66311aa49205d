"""Per-item embedding hits: the real OpenAI and google-genai SDKs against the simulator, which
records every request body, so each test asserts what was sent."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from google import genai
from google.genai import types
from openai.types import CreateEmbeddingResponse

import aicache
from aicache import ReplayMiss, price_for
from aicache.simulator import ProviderSimulator

from .conftest import counters, wrap

OPENAI_PATH = "/v1/embeddings"
SMALL = "text-embedding-3-small"


def _vectors(response: CreateEmbeddingResponse) -> list[list[float]]:
    assert [d.index for d in response.data] == list(range(len(response.data)))
    return [list(d.embedding) for d in response.data]


async def test_openai_batch_sends_only_the_inputs_not_cached(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    first = await gpt.embeddings.create(model=SMALL, input=["kick", "snare"])
    assert sim.requests[-1].body["input"] == ["kick", "snare"]
    billed_first = first.usage.prompt_tokens
    assert billed_first > 0

    second = await gpt.embeddings.create(model=SMALL, input=["snare", "hat", "kick"])
    assert sim.count(OPENAI_PATH) == 2
    assert sim.requests[-1].body["input"] == ["hat"]  # only the new input, in one request
    assert isinstance(second, CreateEmbeddingResponse)
    assert second.model == SMALL

    third = await gpt.embeddings.create(model=SMALL, input=["hat", "kick", "hat"])
    assert sim.count(OPENAI_PATH) == 2  # every input a hit: nothing sent
    assert third.usage.prompt_tokens == 0 and third.usage.total_tokens == 0

    # The same vectors, in the caller's order, as the provider gives for the whole batch.
    whole = await raw_openai.embeddings.create(model=SMALL, input=["snare", "hat", "kick"])
    assert _vectors(second) == _vectors(whole)
    assert _vectors(third) == [_vectors(whole)[i] for i in (1, 2, 1)]
    alone = await raw_openai.embeddings.create(model=SMALL, input=["hat"])
    assert second.usage.prompt_tokens == alone.usage.prompt_tokens  # what this call was billed

    stats = counters("openai.embeddings.create")
    assert stats["misses"] == 3  # kick, snare, hat
    assert stats["hits"] == 2 + 3  # snare and kick, then hat, kick and hat
    price = price_for("openai", SMALL)
    assert price is not None
    billed = billed_first + alone.usage.prompt_tokens
    assert stats["cost_spent_usd"] == pytest.approx(billed * price.input / 1e6)
    assert stats["cost_saved_usd"] > 0
    assert stats["tokens_saved"]["input"] > 0


async def test_openai_duplicate_inputs_are_sent_once(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    got = await gpt.embeddings.create(model=SMALL, input=["a", "b", "a"])
    assert sim.requests[-1].body["input"] == ["a", "b"]
    vectors = _vectors(got)
    assert vectors[0] == vectors[2] != vectors[1]


async def test_openai_single_input_and_options_keep_their_own_entries(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    await gpt.embeddings.create(model=SMALL, input=["a"])
    await gpt.embeddings.create(model=SMALL, input="a")  # one string: one whole response
    await gpt.embeddings.create(model=SMALL, input=["a"], dimensions=256)
    assert sim.count(OPENAI_PATH) == 3
    got = await gpt.embeddings.create(model=SMALL, input=["a", "b"], dimensions=256)
    assert sim.requests[-1].body["input"] == ["b"]
    assert all(len(v) == 256 for v in _vectors(got))


async def test_openai_batch_in_replay_mode_raises_for_the_missing_input(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    await gpt.embeddings.create(model=SMALL, input=["a"])
    aicache.configure(mode="replay")
    gpt = wrap(raw_openai)
    assert len((await gpt.embeddings.create(model=SMALL, input=["a", "a"])).data) == 2
    with pytest.raises(ReplayMiss, match=r"openai\.embeddings\.create"):
        await gpt.embeddings.create(model=SMALL, input=["a", "never seen"])
    assert sim.count(OPENAI_PATH) == 1


async def test_openai_bypass_sends_every_input(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    gpt = wrap(raw_openai)
    await gpt.embeddings.create(model=SMALL, input=["a", "b"])
    await gpt.embeddings.create(model=SMALL, input=["a", "b"], bypass_cache=True)
    assert sim.count(OPENAI_PATH) == 2
    assert sim.requests[-1].body["input"] == ["a", "b"]


async def test_genai_batch_sends_only_the_inputs_not_cached(
    raw_genai: genai.Client, sim: ProviderSimulator
) -> None:
    gemini = wrap(raw_genai)
    model = "gemini-embedding-001"
    first = await gemini.aio.models.embed_content(model=model, contents=["kick", "snare"])
    assert len(sim.requests[-1].body["requests"]) == 2
    second = await gemini.aio.models.embed_content(model=model, contents=["snare", "hat", "kick"])
    assert sim.count() == 2
    sent: list[Any] = sim.requests[-1].body["requests"]
    assert [r["content"]["parts"][0]["text"] for r in sent] == ["hat"]
    assert isinstance(second, types.EmbedContentResponse)
    whole = await raw_genai.aio.models.embed_content(model=model, contents=["snare", "hat", "kick"])
    assert second.embeddings is not None and whole.embeddings is not None
    assert [e.values for e in second.embeddings] == [e.values for e in whole.embeddings]
    assert first.embeddings is not None
    assert second.embeddings[0].values == first.embeddings[1].values
    third = await gemini.aio.models.embed_content(model=model, contents=["hat", "kick"])
    assert sim.count() == 3  # the raw call above; the cached one sent nothing
    assert third.usage_metadata is not None and third.usage_metadata.prompt_token_count == 0
    stats = counters("gemini.aio.models.embed_content")
    assert (stats["misses"], stats["hits"]) == (3, 2 + 2)
