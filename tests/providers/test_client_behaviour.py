"""What a cached client stores, passes through and refuses."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from google import genai
from pydantic import BaseModel

import aicache
from aicache.providers import CachedClient, cached_client
from aicache.simulator import ProviderSimulator

from .conftest import HELLO, counters, wrap

CLAUDE = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}


async def test_truncated_answers_are_returned_but_not_stored(
    claude: anthropic.AsyncAnthropic,
    gpt: openai.AsyncOpenAI,
    gemini: genai.Client,
    sim: ProviderSimulator,
) -> None:
    for _ in range(2):
        cut = await claude.messages.create(**{**CLAUDE, "max_tokens": 3})
        assert cut.stop_reason == "max_tokens"
        chat = await gpt.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=3)
        assert chat.choices[0].finish_reason == "length"
        resp = await gpt.responses.create(model="gpt-5", input="hi", max_output_tokens=3)
        assert resp.status == "incomplete"
        await gemini.aio.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config={"max_output_tokens": 3}
        )
    assert sim.count() == 8
    for function in (
        "anthropic.messages.create",
        "openai.chat.completions.create",
        "openai.responses.create",
        "gemini.aio.models.generate_content",
    ):
        stats = counters(function)
        assert (stats["not_stored"], stats["stores"], stats["hits"]) == (2, 0, 0), function


async def test_should_cache_overrides_the_default(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    keep_all = wrap(raw_anthropic, should_cache=lambda response: True)
    for _ in range(2):
        await keep_all.messages.create(**{**CLAUDE, "max_tokens": 3})
    assert sim.count() == 1
    keep_none = wrap(raw_anthropic, should_cache=lambda response: False, namespace="other")
    for _ in range(2):
        await keep_none.messages.create(**CLAUDE)
    assert sim.count() == 3


async def test_errors_are_raised_and_not_stored(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    sim.fail_next(1, status=400, message="bad request")
    with pytest.raises(anthropic.BadRequestError):
        await claude.messages.create(**CLAUDE)
    answer = await claude.messages.create(**CLAUDE)
    assert answer.content and sim.count() == 2
    assert counters("anthropic.messages.create")["stores"] == 1


async def test_streams_are_cached_and_replay_the_sdks_stream_class(
    claude: anthropic.AsyncAnthropic,
    gpt: openai.AsyncOpenAI,
    gemini: genai.Client,
    sim: ProviderSimulator,
) -> None:
    for _ in range(2):
        events = await claude.messages.create(**CLAUDE, stream=True)
        assert isinstance(events, anthropic.AsyncStream)
        assert [e.type async for e in events][-1] == "message_stop"
        chunks = await gpt.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        assert isinstance(chunks, openai.AsyncStream)
        assert [c async for c in chunks]
        pieces = await gemini.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        )
        assert [p async for p in pieces]
    assert sim.count() == 3
    for function in (
        "anthropic.messages.create",
        "openai.chat.completions.create",
        "gemini.aio.models.generate_content_stream",
    ):
        stats = counters(function)
        assert stats["uncached"] == 0 and stats["misses"] == 1, function
        assert stats["hits"] + stats["coalesced"] == 1, function


def test_a_foreign_object_is_refused_naming_what_is_wrapped() -> None:
    with pytest.raises(TypeError, match=r"does not know.*openai\.OpenAI"):
        cached_client(object())


async def test_genai_aio_is_refused_and_the_rest_passes_through_counted(
    gemini: genai.Client, raw_genai: genai.Client
) -> None:
    assert gemini.aio.models.count_tokens.__wrapped__ == raw_genai.aio.models.count_tokens
    assert gemini.files.__wrapped__ is raw_genai.files
    with pytest.raises(TypeError, match=r"not client\.aio"):
        cached_client(raw_genai.aio)


async def test_everything_else_is_the_real_client_behind_a_counting_wrapper(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    claude = wrap(raw_anthropic)
    assert claude.models.__wrapped__ is raw_anthropic.models
    assert claude.api_key == raw_anthropic.api_key
    assert claude.messages.count_tokens.__wrapped__ == raw_anthropic.messages.count_tokens
    assert claude.__wrapped__ is raw_anthropic
    quick = claude.with_options(timeout=3.0)
    assert isinstance(quick, CachedClient)
    await claude.messages.create(**CLAUDE)
    await quick.messages.create(**CLAUDE)
    assert sim.count() == 1
    async with wrap(anthropic.AsyncAnthropic(api_key="k", base_url=sim.base_url)) as entered:
        assert isinstance(entered, CachedClient)
        await entered.messages.create(**CLAUDE)
    assert sim.count() == 1
    with pytest.raises(aicache.ConfigError, match="already a cached client"):
        cached_client(claude)


async def test_switched_off_caching_calls_straight_through(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    aicache.configure(enabled=False)
    await claude.messages.create(**CLAUDE)
    await claude.messages.create(**CLAUDE)
    assert sim.count() == 2
    aicache.configure(enabled=True)
    with aicache.cache_control(read=False):
        await claude.messages.create(**CLAUDE)
    await claude.messages.create(**CLAUDE)
    assert sim.count() == 3


async def test_genai_parsed_is_rebuilt_on_a_hit(
    gemini: genai.Client, sim: ProviderSimulator
) -> None:
    class Analysis(BaseModel):
        tempo: int
        mood: str

    config: dict[str, Any] = {"response_mime_type": "application/json", "response_schema": Analysis}
    miss = await gemini.aio.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config=config
    )
    hit = await gemini.aio.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config=config
    )
    assert sim.count() == 1
    assert isinstance(hit.parsed, Analysis) and hit.parsed == miss.parsed
    info = aicache.cache_info(hit)
    assert info is not None and info.hit


def test_bad_options_name_the_option(raw_anthropic: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(aicache.ConfigError, match="retry="):
        cached_client(raw_anthropic, retry="often")
    with pytest.raises(aicache.ConfigError, match="ttl"):
        cached_client(raw_anthropic, ttl=-1)
    with pytest.raises(aicache.ConfigError, match="namespace"):
        cached_client(raw_anthropic, namespace="has space")
    with pytest.raises(aicache.ConfigError, match="should_cache"):
        cached_client(raw_anthropic, should_cache=True)
