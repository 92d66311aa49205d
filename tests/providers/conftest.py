"""Real SDK clients pointed at a ProviderSimulator on 127.0.0.1, and clean price overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai

import aicache
from aicache import _pricing
from aicache.providers import Retry, cached_client
from aicache.simulator import ProviderSimulator

ANTHROPIC_KEY = "sk-ant-api03-SECRET-anthropic-0123456789"
OPENAI_KEY = "sk-proj-SECRET-openai-0123456789"
AZURE_KEY = "SECRET-azure-0123456789abcdef"
GEMINI_KEY = "AIzaSy-SECRET-gemini-0123456789"
#: Retries without real waiting, so the retry tests stay fast.
FAST_RETRY = Retry(attempts=4, initial=0.001, maximum=1.0, jitter=0.0)


@pytest.fixture(autouse=True)
def _prices() -> Iterator[None]:
    _pricing.set_prices(None)
    yield
    _pricing.set_prices(None)


@pytest.fixture
async def sim() -> AsyncIterator[ProviderSimulator]:
    async with ProviderSimulator(chunk_gap=0) as simulator:
        yield simulator


@pytest.fixture
def raw_anthropic(sim: ProviderSimulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=sim.base_url, max_retries=0)


@pytest.fixture
def raw_openai(sim: ProviderSimulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=sim.base_url + "/v1", max_retries=0)


@pytest.fixture
def raw_azure(sim: ProviderSimulator) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        api_key=AZURE_KEY, azure_endpoint=sim.base_url, api_version="2024-10-21", max_retries=0
    )


@pytest.fixture
async def raw_genai(sim: ProviderSimulator) -> AsyncIterator[genai.Client]:
    client = genai.Client(api_key=GEMINI_KEY, http_options={"base_url": sim.base_url})
    yield client
    await client.aio.aclose()  # its aiohttp session must close inside the test's loop


@pytest.fixture
def clients(
    raw_anthropic: anthropic.AsyncAnthropic, raw_openai: openai.AsyncOpenAI, raw_genai: genai.Client
) -> dict[str, Any]:
    """The raw clients by fixture name, for tests parametrized over providers."""
    return {"raw_anthropic": raw_anthropic, "raw_openai": raw_openai, "raw_genai": raw_genai}


def wrap(client: Any, **options: Any) -> Any:
    """``cached_client`` with fast retries unless the test says otherwise."""
    options.setdefault("retry", FAST_RETRY)
    return cached_client(client, **options)


@pytest.fixture
def claude(raw_anthropic: anthropic.AsyncAnthropic) -> anthropic.AsyncAnthropic:
    return wrap(raw_anthropic)


@pytest.fixture
def gpt(raw_openai: openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    return wrap(raw_openai)


@pytest.fixture
def gemini(raw_genai: genai.Client) -> genai.Client:
    return wrap(raw_genai)


def counters(function: str) -> dict[str, Any]:
    """The global stats of one cached method, e.g. ``"anthropic.messages.create"``."""
    found: dict[str, Any] = aicache.stats.snapshot()["functions"].get(function, {})
    return found


HELLO = [{"role": "user", "content": "Describe the groove of this track."}]
