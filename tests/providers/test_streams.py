"""Streams and helpers of the async clients, recorded and replayed, against the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pydantic
import pytest

from aicache.simulator import ProviderSimulator

from .conftest import HELLO, counters

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"


class Track(pydantic.BaseModel):
    title: str
    tempo: int


async def settled(function: str, name: str, expected: int) -> dict[str, Any]:
    """The counters of ``function`` once ``name`` reached ``expected`` (a stream is stored, or
    found incomplete, by its pump just after its consumers are served)."""
    for _ in range(500):
        found = counters(function)
        if found.get(name, 0) >= expected:
            return found
        await asyncio.sleep(0.01)
    return counters(function)


async def _chat_chunks(gpt: openai.AsyncOpenAI, **extra: Any) -> tuple[str, list[Any]]:
    stream = await gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True, **extra)
    return type(stream).__name__, [chunk async for chunk in stream]


async def test_openai_chat_stream_second_call_sends_nothing_and_replays_equal_chunks(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    usage = {"stream_options": {"include_usage": True}}
    kind, first = await _chat_chunks(gpt, **usage)
    kind_again, again = await _chat_chunks(gpt, **usage)
    assert sim.count() == 1
    assert kind == kind_again == "AsyncStream"
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in again)
    assert again == first and len(first) > 3
    found = await settled("openai.chat.completions.create", "stores", 1)
    assert found["stores"] == 1
    assert found["tokens_spent"]["output"] == first[-1].usage.completion_tokens


async def test_stream_and_plain_call_do_not_share_an_entry(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    await _chat_chunks(gpt)
    plain = await gpt.chat.completions.create(model=GPT, messages=HELLO)
    assert isinstance(plain, openai.types.chat.ChatCompletion)
    assert sim.count() == 2


async def test_stream_without_usage_events_records_cost_as_unknown(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    await _chat_chunks(gpt)
    found = await settled("openai.chat.completions.create", "stores", 1)
    assert found["stores"] == 1
    assert found["tokens_spent"] == {} and found["cost_spent_usd"] == 0.0


async def test_openai_chat_stream_helper_final_completion_equal_on_a_hit(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    finals = []
    for _ in range(2):
        async with gpt.chat.completions.stream(model=GPT, messages=HELLO) as stream:
            async for _event in stream:
                pass
            finals.append(await stream.get_final_completion())
    assert sim.count() == 1
    assert finals[0] == finals[1]
    assert finals[1].choices[0].message.content


async def test_anthropic_create_stream_hit_replays_equal_events(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    runs = []
    for _ in range(2):
        stream = await claude.messages.create(
            model=CLAUDE, max_tokens=300, messages=HELLO, stream=True
        )
        runs.append([event async for event in stream])
    assert sim.count() == 1
    assert runs[0] == runs[1]
    assert runs[1][-1].type == "message_stop"
    found = await settled("anthropic.messages.create", "stores", 1)
    assert found["tokens_spent"]["output"] > 0


async def test_anthropic_stream_helper_text_and_final_message_equal_on_a_hit(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    texts, finals = [], []
    for _ in range(2):
        async with claude.messages.stream(model=CLAUDE, max_tokens=300, messages=HELLO) as s:
            texts.append([t async for t in s.text_stream])
            finals.append(await s.get_final_message())
    async with claude.messages.stream(model=CLAUDE, max_tokens=300, messages=HELLO) as s:
        await s.until_done()
        finals.append(await s.get_final_message())
    assert sim.count() == 1
    assert texts[0] == texts[1] and len(texts[0]) > 3
    assert finals[0] == finals[1] == finals[2]
    assert isinstance(finals[1], anthropic.types.Message)


async def test_stream_broken_off_after_3_chunks_is_not_stored(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    stream = await gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True)
    seen = 0
    async for _chunk in stream:
        seen += 1
        if seen == 3:
            break
    await stream.close()
    found = await settled("openai.chat.completions.create", "streams_incomplete", 1)
    assert found["streams_incomplete"] == 1 and found["stores"] == 0
    await _chat_chunks(gpt)
    assert sim.count() == 2


async def test_stream_cut_by_the_provider_is_not_stored(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    sim.cut_next(after=3)
    stream = await gpt.chat.completions.create(model=GPT, messages=HELLO, stream=True)
    with pytest.raises(Exception):  # noqa: B017 - the SDK's own wording of a cut connection
        async for _chunk in stream:
            pass
    found = await settled("openai.chat.completions.create", "streams_incomplete", 1)
    assert found["streams_incomplete"] == 1 and found["stores"] == 0
    _, chunks = await _chat_chunks(gpt)
    assert sim.count() == 2 and chunks[-1].choices[0].finish_reason == "stop"


async def test_cancelled_stream_is_not_stored(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async with claude.messages.stream(model=CLAUDE, max_tokens=300, messages=HELLO) as s:
            async for _text in s.text_stream:
                started.set()
                await asyncio.sleep(10)

    task = asyncio.ensure_future(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    found = await settled("anthropic.messages.stream", "streams_incomplete", 1)
    assert found["streams_incomplete"] == 1 and found["stores"] == 0
    async with claude.messages.stream(model=CLAUDE, max_tokens=300, messages=HELLO) as s:
        await s.until_done()
    assert sim.count() == 2


async def test_stream_with_error_answer_raises_the_sdk_error_and_is_not_stored(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    sim.fail_next(5, status=400)
    with pytest.raises(openai.BadRequestError):
        await _chat_chunks(gpt)
    found = counters("openai.chat.completions.create")
    assert found["stores"] == 0 and found["streams_incomplete"] == 0


async def test_100_concurrent_identical_streams_make_one_request_and_all_get_every_chunk(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    results = await asyncio.gather(*(_chat_chunks(gpt) for _ in range(100)))
    assert sim.count() == 1
    first = results[0][1]
    assert len(first) > 3
    assert all(chunks == first for _, chunks in results)
    assert counters("openai.chat.completions.create")["coalesced"] == 99


async def test_one_consumer_stopping_does_not_stop_the_others(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    async def whole() -> list[Any]:
        stream = await claude.messages.create(
            model=CLAUDE, max_tokens=300, messages=HELLO, stream=True
        )
        return [event async for event in stream]

    async def quitter() -> None:
        stream = await claude.messages.create(
            model=CLAUDE, max_tokens=300, messages=HELLO, stream=True
        )
        async for _event in stream:
            break
        await stream.close()

    results = await asyncio.gather(whole(), quitter(), whole())
    assert sim.count() == 1
    assert results[0] == results[2] and results[0][-1].type == "message_stop"
    assert (await settled("anthropic.messages.create", "stores", 1))["stores"] == 1


async def test_openai_chat_parse_hit_returns_the_callers_pydantic_class(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    parsed = []
    for _ in range(2):
        done = await gpt.chat.completions.parse(model=GPT, messages=HELLO, response_format=Track)
        parsed.append(done.choices[0].message.parsed)
    assert sim.count() == 1
    assert isinstance(parsed[1], Track) and parsed[0] == parsed[1]


async def test_anthropic_messages_parse_hit_returns_the_callers_pydantic_class(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    parsed = []
    for _ in range(2):
        done = await claude.messages.parse(
            model=CLAUDE, max_tokens=300, messages=HELLO, output_format=Track
        )
        parsed.append(done.parsed_output)
    assert sim.count() == 1
    assert isinstance(parsed[1], Track) and parsed[0] == parsed[1]


async def test_responses_parse_hit_returns_the_callers_pydantic_class(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    parsed = []
    for _ in range(2):
        done = await gpt.responses.parse(model=GPT, input="Describe it.", text_format=Track)
        parsed.append(done.output_parsed)
    assert sim.count() == 1
    assert isinstance(parsed[1], Track) and parsed[0] == parsed[1]


async def test_bypass_cache_on_a_stream_asks_the_provider_again(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    await _chat_chunks(gpt)
    stream = await gpt.chat.completions.create(  # type: ignore[call-overload]
        model=GPT, messages=HELLO, stream=True, bypass_cache=True
    )
    assert [c async for c in stream]
    assert sim.count() == 2


async def test_the_mark_header_never_reaches_the_provider(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    await _chat_chunks(gpt)
    assert all("x-aicache-call" not in r.headers for r in sim.requests)


async def test_every_uncached_method_call_is_counted_and_logged_once(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        raw = await gpt.chat.completions.with_raw_response.create(model=GPT, messages=HELLO)
        assert raw.parse().choices
    found = counters("openai.chat.completions.with_raw_response.create")
    assert found["uncached"] == 2
    logged = [r for r in caplog.records if "with_raw_response.create is not cached" in r.message]
    assert len(logged) == 1
    assert sim.count() == 2


async def test_with_streaming_response_passes_through_and_is_counted(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    async with claude.messages.with_streaming_response.create(
        model=CLAUDE, max_tokens=300, messages=HELLO
    ) as response:
        assert (await response.parse()).content
    assert counters("anthropic.messages.with_streaming_response.create")["uncached"] == 1


async def test_gemini_stream_hit_replays_equal_chunks_with_usage(
    gemini: Any, sim: ProviderSimulator
) -> None:
    runs = []
    for _ in range(2):
        pieces = await gemini.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Describe the groove."
        )
        runs.append([p async for p in pieces])
    assert sim.count() == 1
    assert runs[0] == runs[1] and len(runs[0]) > 1
    assert type(runs[1][0]).__name__ == "GenerateContentResponse"
    found = await settled("gemini.aio.models.generate_content_stream", "stores", 1)
    assert found["tokens_spent"]["output"] > 0


async def test_gemini_stream_broken_off_is_not_stored(gemini: Any, sim: ProviderSimulator) -> None:
    pieces = await gemini.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Describe the groove."
    )
    async for _piece in pieces:
        break
    await pieces.aclose()
    found = await settled("gemini.aio.models.generate_content_stream", "streams_incomplete", 1)
    assert found["streams_incomplete"] == 1 and found["stores"] == 0


async def test_responses_stream_helper_final_response_equal_on_a_hit(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    finals = []
    for _ in range(2):
        async with gpt.responses.stream(model=GPT, input="Describe it.") as stream:
            async for _event in stream:
                pass
            finals.append(await stream.get_final_response())
    assert sim.count() == 1
    assert finals[0] == finals[1] and finals[1].output_text
