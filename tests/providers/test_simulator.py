"""The ProviderSimulator speaks HTTP/1.1 well enough for the real SDKs, with valid answers."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai
import pytest
from anthropic.types import Message
from google import genai
from google.genai import types
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from aicache.simulator import ProviderSimulator, tokens_of

from .conftest import HELLO


async def _post(port: int, path: str, body: bytes, *, chunked: bool = False) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framing = (
        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        if chunked
        else b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    writer.write(head + framing)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


async def test_answers_are_valid_sdk_objects_and_strict_pydantic_accepts_them(
    sim: ProviderSimulator,
) -> None:
    claude = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}
    embed = {"model": "text-embedding-3-small", "input": ["a"]}
    cases = [
        ("/v1/messages", claude, Message),
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": HELLO}, ChatCompletion),
        ("/v1/responses", {"model": "gpt-5", "input": "hi"}, Response),
        ("/v1/embeddings", embed, CreateEmbeddingResponse),
    ]
    for path, body, cls in cases:
        status, payload = await _post(sim.port, path, json.dumps(body).encode())
        assert status == 200, payload
        cls.model_validate(json.loads(payload))  # every field the SDK requires is present


async def test_equal_requests_get_equal_answers_and_the_seed_changes_them(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    kw = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}
    first = await raw_anthropic.messages.create(**kw)
    again = await raw_anthropic.messages.create(**kw)
    assert first == again
    async with ProviderSimulator(seed=1) as other:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=other.base_url)
        reseeded = await client.messages.create(**kw)
    assert reseeded.content != first.content
    text = first.content[0].text
    assert first.usage.output_tokens == tokens_of(text)
    assert first.usage.input_tokens == tokens_of(HELLO[0]["content"])


async def test_max_tokens_truncates_in_each_providers_words(
    raw_anthropic: anthropic.AsyncAnthropic, raw_openai: openai.AsyncOpenAI, raw_genai: genai.Client
) -> None:
    message = await raw_anthropic.messages.create(model="m", max_tokens=3, messages=HELLO)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3
    chat = await raw_openai.chat.completions.create(model="m", messages=HELLO, max_tokens=3)
    assert chat.choices[0].finish_reason == "length"
    resp = await raw_openai.responses.create(model="m", input="hi", max_output_tokens=3)
    assert resp.status == "incomplete" and resp.incomplete_details is not None
    gen = await raw_genai.aio.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config={"max_output_tokens": 3}
    )
    assert gen.candidates and gen.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


async def test_records_requests_counts_paths_and_keeps_connections_alive(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    for _ in range(3):
        await raw_openai.embeddings.create(model="text-embedding-3-small", input="x")
    assert sim.count("/v1/embeddings") == 3 and sim.count() == 3
    assert sim.counts() == {"/v1/embeddings": 3}
    seen = sim.requests[-1]
    assert seen.method == "POST" and seen.body["model"] == "text-embedding-3-small"
    assert seen.headers["authorization"].startswith("Bearer ")
    sim.reset()
    assert sim.count() == 0


async def test_scripted_failures_have_the_providers_shapes(
    raw_anthropic: anthropic.AsyncAnthropic, raw_genai: genai.Client, sim: ProviderSimulator
) -> None:
    sim.fail_next(1, status=529)
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        await raw_anthropic.messages.create(model="m", max_tokens=5, messages=HELLO)
    assert overloaded.value.status_code == 529
    sim.fail_next(1, status=429, headers={"retry-after": "7"})
    with pytest.raises(anthropic.RateLimitError) as limited:
        await raw_anthropic.messages.create(model="m", max_tokens=5, messages=HELLO)
    assert limited.value.response.headers["retry-after"] == "7"
    sim.fail_next(1, status=429)
    with pytest.raises(genai.errors.ClientError) as exhausted:
        await raw_genai.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert exhausted.value.code == 429 and exhausted.value.status == "RESOURCE_EXHAUSTED"
    # Failures are used up: the next call succeeds.
    await raw_anthropic.messages.create(model="m", max_tokens=5, messages=HELLO)


async def test_chunked_bodies_unknown_paths_and_bad_requests(sim: ProviderSimulator) -> None:
    body = json.dumps({"model": "gpt-4o", "messages": HELLO}).encode()
    status, _ = await _post(sim.port, "/v1/chat/completions", body, chunked=True)
    assert status == 200
    status, payload = await _post(sim.port, "/v1/unknown", b"{}")
    assert status == 404 and b"no simulated endpoint" in payload
    status, _ = await _post(sim.port, "/v1/messages", b'{"model": "m"}')
    assert status == 400


async def test_streams_fold_into_the_same_text(
    raw_anthropic: anthropic.AsyncAnthropic, raw_openai: openai.AsyncOpenAI
) -> None:
    whole = await raw_anthropic.messages.create(model="m", max_tokens=300, messages=HELLO)
    async with raw_anthropic.messages.stream(model="m", max_tokens=300, messages=HELLO) as stream:
        streamed = await stream.get_final_message()
    assert streamed.content[0].text == whole.content[0].text
    chunks = await raw_openai.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    whole_chat = await raw_openai.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert text == whole_chat.choices[0].message.content


async def test_latency_range_delays_answers() -> None:
    async with ProviderSimulator(latency=(0.05, 0.1)) as slow:
        client = openai.AsyncOpenAI(api_key="k", base_url=slow.base_url + "/v1")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.embeddings.create(model="text-embedding-3-small", input="x")
        assert loop.time() - started >= 0.05
    with pytest.raises(RuntimeError, match="not running"):
        _ = slow.base_url
