"""The legacy google-generativeai SDK, over real gRPC to a local GenerativeService stub."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the package announces its end of support on import
    import google.generativeai as legacy
    from google.generativeai.types.generation_types import AsyncGenerateContentResponse

import aicache

from ._grpc_stub import GeminiGrpcStub
from .conftest import counters, wrap

FUNCTION = "gemini.generate_content_async"


@pytest.fixture
async def stub() -> AsyncIterator[GeminiGrpcStub]:
    async with GeminiGrpcStub() as server:
        yield server


def model(stub: GeminiGrpcStub, **settings: Any) -> legacy.GenerativeModel:
    found = legacy.GenerativeModel("gemini-1.5-flash", **settings)
    found._async_client = stub.client()  # the SDK's own client, on the stub's channel
    return found


async def test_a_hit_is_the_sdk_response_with_the_same_content(stub: GeminiGrpcStub) -> None:
    cached = wrap(model(stub))
    first = await cached.generate_content_async("Describe the groove.")
    again = await cached.generate_content_async("Describe the groove.")
    assert len(stub.requests) == 1
    assert type(again) is AsyncGenerateContentResponse and again is not first
    assert again.to_dict() == first.to_dict() and again.text == first.text
    info = aicache.cache_info(again)
    assert info is not None and info.hit and info.key.startswith(f"aicache:default:{FUNCTION}:")
    stats = counters(FUNCTION)
    assert stats["tokens_saved"]["output"] == first.usage_metadata.candidates_token_count
    # gemini-1.5-flash: $0.075 input, $0.30 output per million tokens.
    u = first.usage_metadata
    expected = (u.prompt_token_count * 0.075 + u.candidates_token_count * 0.30) / 1e6
    assert stats["cost_saved_usd"] == pytest.approx(expected)


async def test_model_settings_are_part_of_the_key_and_request_options_are_not(
    stub: GeminiGrpcStub,
) -> None:
    plain, terse = wrap(model(stub)), wrap(model(stub, system_instruction="Be terse."))
    await plain.generate_content_async("hi")
    await terse.generate_content_async("hi")
    await plain.generate_content_async("hi", request_options={"timeout": 30})
    await plain.generate_content_async(["hi"])  # the same request message
    await plain.generate_content_async("hi", generation_config={"temperature": 0.1})
    assert len(stub.requests) == 3


async def test_truncated_answers_are_not_stored_and_streams_pass_through(
    stub: GeminiGrpcStub,
) -> None:
    cached = wrap(model(stub))
    for _ in range(2):
        await cached.generate_content_async("hi", generation_config={"max_output_tokens": 2})
        streamed = await cached.generate_content_async("hi", stream=True)
        assert [chunk.text async for chunk in streamed]
    assert len(stub.requests) == 4
    stats = counters(FUNCTION)
    assert (stats["not_stored"], stats["uncached"], stats["stores"]) == (2, 2, 0)


async def test_resource_exhausted_and_unavailable_are_retried_by_us_alone(
    stub: GeminiGrpcStub,
) -> None:
    stub.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE]
    answer = await wrap(model(stub)).generate_content_async("hi")
    assert answer.text
    assert len(stub.requests) == 3  # the SDK's own UNAVAILABLE retry is off inside the wrapper
    assert counters(FUNCTION)["retries"] == 2


def test_the_sync_method_is_refused(stub: GeminiGrpcStub) -> None:
    with pytest.raises(TypeError, match="generate_content_async"):
        wrap(model(stub)).generate_content("hi")
