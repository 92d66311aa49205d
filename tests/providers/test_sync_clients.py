"""The sync SDK clients through ``cached_client``: real clients against the simulator, which
serves from its own thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from google import genai

import aicache
from aicache.providers import cached_client
from aicache.providers._proxy import SyncCachedMethod
from aicache.simulator import ProviderSimulator

from .conftest import ANTHROPIC_KEY, AZURE_KEY, FAST_RETRY, GEMINI_KEY, HELLO, OPENAI_KEY, counters

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
GEMINI = "gemini-2.5-flash"


def settled(function: str, name: str, expected: int) -> dict[str, Any]:
    """The counters of ``function`` once ``name`` reached ``expected`` (a stream is stored by
    its pump on aicache's loop just after its consumer was served)."""
    for _ in range(500):
        found = counters(function)
        if found.get(name, 0) >= expected:
            return found
        time.sleep(0.01)
    return counters(function)


@pytest.fixture
def sync_sim() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(chunk_gap=0) as simulator:
        yield simulator


@pytest.fixture
def gpt(sync_sim: ProviderSimulator) -> openai.OpenAI:
    raw = openai.OpenAI(api_key=OPENAI_KEY, base_url=sync_sim.base_url + "/v1", max_retries=0)
    return cached_client(raw, retry=FAST_RETRY)


@pytest.fixture
def claude(sync_sim: ProviderSimulator) -> anthropic.Anthropic:
    raw = anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=sync_sim.base_url, max_retries=0)
    return cached_client(raw, retry=FAST_RETRY)


@pytest.fixture
def gemini(sync_sim: ProviderSimulator) -> genai.Client:
    raw = genai.Client(api_key=GEMINI_KEY, http_options={"base_url": sync_sim.base_url})
    return cached_client(raw, retry=FAST_RETRY)


def test_sync_clients_are_wrapped_not_refused(sync_sim: ProviderSimulator) -> None:
    for raw in (
        openai.OpenAI(api_key=OPENAI_KEY, base_url=sync_sim.base_url),
        openai.AzureOpenAI(
            api_key=AZURE_KEY, azure_endpoint=sync_sim.base_url, api_version="2024-10-21"
        ),
        anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=sync_sim.base_url),
    ):
        assert isinstance(cached_client(raw), aicache.CachedClient)


def test_sync_openai_second_call_is_a_hit_of_the_sdk_type(
    gpt: openai.OpenAI, sync_sim: ProviderSimulator
) -> None:
    assert isinstance(gpt.chat.completions.create, SyncCachedMethod)
    first = gpt.chat.completions.create(model=GPT, messages=HELLO)
    second = gpt.chat.completions.create(model=GPT, messages=HELLO)
    assert sync_sim.count() == 1
    assert isinstance(second, openai.types.chat.ChatCompletion)
    assert second == first
    assert aicache.cache_info(second).hit  # type: ignore[union-attr]
    assert counters("openai.chat.completions.create")["hits"] == 1


def test_sync_azure_and_anthropic_hits(
    claude: anthropic.Anthropic, sync_sim: ProviderSimulator
) -> None:
    azure = cached_client(
        openai.AzureOpenAI(
            api_key=AZURE_KEY, azure_endpoint=sync_sim.base_url, api_version="2024-10-21"
        )
    )
    answers = [azure.chat.completions.create(model=GPT, messages=HELLO) for _ in range(2)]
    messages = [
        claude.messages.create(model=CLAUDE, max_tokens=300, messages=HELLO) for _ in range(2)
    ]
    assert sync_sim.count() == 2
    assert answers[0] == answers[1] and messages[0] == messages[1]
    assert isinstance(messages[1], anthropic.types.Message)


async def test_an_entry_written_through_the_async_client_is_a_hit_through_the_sync_one(
    sim: ProviderSimulator,
) -> None:
    async_gpt = cached_client(
        openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=sim.base_url + "/v1", max_retries=0)
    )
    sync_gpt = cached_client(
        openai.OpenAI(api_key=OPENAI_KEY, base_url=sim.base_url + "/v1", max_retries=0)
    )
    written = await async_gpt.chat.completions.create(model=GPT, messages=HELLO)
    # from a worker thread: the simulator serves from this test's loop thread
    found = await asyncio.to_thread(
        lambda: sync_gpt.chat.completions.create(model=GPT, messages=HELLO)
    )
    assert sim.count() == 1
    assert found == written


def test_sixteen_threads_with_the_sync_client_make_one_request(
    sync_sim: ProviderSimulator,
) -> None:
    with ProviderSimulator(latency=0.3, chunk_gap=0) as slow:
        gpt = cached_client(
            openai.OpenAI(api_key=OPENAI_KEY, base_url=slow.base_url + "/v1", max_retries=0)
        )
        barrier = threading.Barrier(16)
        out: list[Any] = []

        def ask() -> None:
            barrier.wait()
            out.append(gpt.chat.completions.create(model=GPT, messages=HELLO))

        threads = [threading.Thread(target=ask) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert slow.count() == 1
        assert len(out) == 16 and all(o == out[0] for o in out)
        assert counters("openai.chat.completions.create")["coalesced"] == 15


def test_sync_openai_stream_second_call_sends_nothing_and_replays_equal_chunks(
    gpt: openai.OpenAI, sync_sim: ProviderSimulator
) -> None:
    runs = []
    for _ in range(2):
        stream = gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True)
        assert isinstance(stream, openai.Stream)
        runs.append(list(stream))
        settled("openai.chat.completions.create", "stores", 1)
    assert sync_sim.count() == 1
    assert runs[0] == runs[1] and len(runs[0]) > 3


def test_sync_anthropic_stream_helper_and_create_stream_replay(
    claude: anthropic.Anthropic, sync_sim: ProviderSimulator
) -> None:
    texts, finals = [], []
    for _ in range(2):
        with claude.messages.stream(model=CLAUDE, max_tokens=300, messages=HELLO) as s:
            texts.append(list(s.text_stream))
            finals.append(s.get_final_message())
        settled("anthropic.messages.stream", "stores", 1)
    events = []
    for _ in range(2):
        stream = claude.messages.create(model=CLAUDE, max_tokens=300, messages=HELLO, stream=True)
        events.append(list(stream))
        settled("anthropic.messages.create", "stores", 1)
    assert sync_sim.count() == 2
    assert texts[0] == texts[1] and finals[0] == finals[1]
    assert events[0] == events[1] and events[1][-1].type == "message_stop"


def test_sync_stream_broken_off_after_3_chunks_is_not_stored(
    gpt: openai.OpenAI, sync_sim: ProviderSimulator
) -> None:
    stream = gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True)
    for seen, _chunk in enumerate(stream, 1):
        if seen == 3:
            break
    stream.close()
    found = settled("openai.chat.completions.create", "streams_incomplete", 1)
    assert found["streams_incomplete"] == 1 and found.get("stores", 0) == 0
    list(gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True))
    assert sync_sim.count() == 2


class Verdict(pydantic.BaseModel):
    mood: str
    confidence: float


def test_sync_parse_hit_returns_the_callers_class(
    gpt: openai.OpenAI, sync_sim: ProviderSimulator
) -> None:
    found = [
        gpt.chat.completions.parse(model=GPT, messages=HELLO, response_format=Verdict)
        for _ in range(2)
    ]
    assert sync_sim.count() == 1
    assert isinstance(found[1].choices[0].message.parsed, Verdict)
    assert found[0].choices[0].message.parsed == found[1].choices[0].message.parsed


def test_sync_genai_models_generate_content_and_stream(
    gemini: genai.Client, sync_sim: ProviderSimulator
) -> None:
    answers = [gemini.models.generate_content(model=GEMINI, contents="Hi") for _ in range(2)]
    assert answers[0].text == answers[1].text  # a hit has no sdk_http_response
    assert counters("gemini.aio.models.generate_content")["hits"] == 1
    runs = []
    for _ in range(2):
        runs.append(list(gemini.models.generate_content_stream(model=GEMINI, contents="Hi")))
        settled("gemini.aio.models.generate_content_stream", "stores", 1)
    assert runs[0] == runs[1] and len(runs[0]) > 1
    assert sync_sim.count() == 2


async def test_an_async_client_memory_hit_awaits_nothing(sim: ProviderSimulator) -> None:
    gpt = cached_client(
        openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=sim.base_url + "/v1", max_retries=0),
        backend="memory",
    )
    written = await gpt.chat.completions.create(model=GPT, messages=HELLO)
    call = gpt.chat.completions.create(model=GPT, messages=HELLO)
    try:
        call.send(None)
    except StopIteration as done:
        assert done.value == written
    else:
        call.close()
        raise AssertionError("the hit suspended")
