"""The simulator streams as each provider does: the real SDK clients (async and sync) parse its
server-sent events into their own event types, and the streamed text is the whole answer's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import RawMessageStreamEvent
from google import genai
from google.genai import types
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseCompletedEvent, ResponseCreatedEvent

from aicache.simulator import ProviderSimulator

from .conftest import HELLO

CLAUDE = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}
CHAT = {"model": "gpt-4o", "messages": HELLO}
RESPONSE = {"model": "gpt-4o", "input": "Describe the groove of this track."}
GEMINI = {"model": "gemini-2.5-flash", "contents": "Describe the groove of this track."}


@pytest.fixture
def threaded() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(chunk_gap=0) as sim:
        yield sim


def _sync_clients(sim: ProviderSimulator) -> dict[str, Any]:
    return {
        "anthropic": anthropic.Anthropic(api_key="k", base_url=sim.base_url, max_retries=0),
        "openai": openai.OpenAI(api_key="k", base_url=sim.base_url + "/v1", max_retries=0),
        "gemini": genai.Client(api_key="k", http_options={"base_url": sim.base_url}),
    }


async def test_openai_chat_stream_ends_in_done_with_the_usage_chunk(
    raw_openai: openai.AsyncOpenAI,
) -> None:
    whole = await raw_openai.chat.completions.create(**CHAT)
    stream = await raw_openai.chat.completions.create(
        **CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks) and len(chunks) > 5
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    plain = await raw_openai.chat.completions.create(**CHAT, stream=True)
    assert [c.usage async for c in plain][-1] is None  # no usage chunk unless asked


async def test_responses_stream_sends_typed_events_from_created_to_completed(
    raw_openai: openai.AsyncOpenAI,
) -> None:
    whole = await raw_openai.responses.create(**RESPONSE)
    events = [e async for e in await raw_openai.responses.create(**RESPONSE, stream=True)]
    assert isinstance(events[0], ResponseCreatedEvent)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) > 5 and "".join(deltas) == whole.output_text
    assert events[-1].response == whole
    async with raw_openai.responses.stream(**RESPONSE) as helper:
        final = await helper.get_final_response()
    assert final.output_text == whole.output_text


async def test_anthropic_stream_sends_the_message_events_in_order(
    raw_anthropic: anthropic.AsyncAnthropic,
) -> None:
    whole = await raw_anthropic.messages.create(**CLAUDE)
    events = [e async for e in await raw_anthropic.messages.create(**CLAUDE, stream=True)]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"} and len(kinds) > 6
    delta = events[-2]
    assert delta.type == "message_delta" and delta.usage.output_tokens == whole.usage.output_tokens
    async with raw_anthropic.messages.stream(**CLAUDE) as helper:
        text = "".join([piece async for piece in helper.text_stream])
        final = await helper.get_final_message()
    assert text == whole.content[0].text and final.usage == whole.usage and final.id == whole.id


async def test_gemini_stream_ends_with_a_finish_reason_and_usage(raw_genai: genai.Client) -> None:
    whole = await raw_genai.aio.models.generate_content(**GEMINI)
    chunks = [c async for c in await raw_genai.aio.models.generate_content_stream(**GEMINI)]
    assert len(chunks) > 1 and all(isinstance(c, types.GenerateContentResponse) for c in chunks)
    assert "".join(c.text or "" for c in chunks) == whole.text
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert last.usage_metadata == whole.usage_metadata


def test_sync_clients_stream_the_same_text(threaded: ProviderSimulator) -> None:
    clients = _sync_clients(threaded)
    claude, gpt, gemini = clients["anthropic"], clients["openai"], clients["gemini"]
    whole = claude.messages.create(**CLAUDE).content[0].text
    with claude.messages.stream(**CLAUDE) as helper:
        assert "".join(helper.text_stream) == whole
    events = list(claude.messages.create(**CLAUDE, stream=True))
    assert all(isinstance(e, RawMessageStreamEvent.__args__) for e in events)  # type: ignore[attr-defined]

    chat = gpt.chat.completions.create(**CHAT).choices[0].message.content
    pieces = gpt.chat.completions.create(**CHAT, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in pieces if c.choices) == chat
    response = gpt.responses.create(**RESPONSE).output_text
    with gpt.responses.stream(**RESPONSE) as helper:
        assert helper.get_final_response().output_text == response

    text = gemini.models.generate_content(**GEMINI).text
    assert "".join(c.text or "" for c in gemini.models.generate_content_stream(**GEMINI)) == text
    assert threaded.count() == 9


async def test_cut_next_drops_the_connection_mid_stream(
    raw_openai: openai.AsyncOpenAI,
    raw_anthropic: anthropic.AsyncAnthropic,
    raw_genai: genai.Client,
    sim: ProviderSimulator,
) -> None:
    sim.cut_next(after=3, n=3)
    got: list[Any] = []
    with pytest.raises((httpx2.RemoteProtocolError, openai.APIConnectionError)):
        async for chunk in await raw_openai.chat.completions.create(**CHAT, stream=True):
            got.append(chunk)
    assert len(got) == 3
    got.clear()
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)):
        async for event in await raw_anthropic.messages.create(**CLAUDE, stream=True):
            got.append(event)
    assert len(got) == 2  # the third event sent was a ping, which the SDK does not yield
    with pytest.raises(Exception) as cut:
        async for _ in await raw_genai.aio.models.generate_content_stream(**GEMINI):
            pass
    assert cut.value is not None
    # The cuts are used up: the next stream is whole.
    stream = await raw_openai.chat.completions.create(**CHAT, stream=True)
    assert [c async for c in stream][-1].choices[0].finish_reason == "stop"


async def test_chunk_gap_spaces_a_streams_events() -> None:
    async with ProviderSimulator(chunk_gap=0.02) as slow:
        client = openai.AsyncOpenAI(api_key="k", base_url=slow.base_url + "/v1", max_retries=0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks = [c async for c in await client.chat.completions.create(**CHAT, stream=True)]
        # one gap before every event but the first; [DONE] is an event too
        assert loop.time() - started >= 0.02 * len(chunks)
        await client.close()
