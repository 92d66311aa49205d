"""pydantic-ai and instructor take an SDK client: a cached client plugs in and hits there,
for plain, tool-carrying and structured-output calls."""

from __future__ import annotations

import os

import anthropic
import openai
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

import aicache
from aicache import cached_client
from aicache.simulator import ProviderSimulator

from .conftest import ANTHROPIC_KEY, OPENAI_KEY


class Key(BaseModel):
    tonic: str
    mode: str


def _openai(sim: ProviderSimulator) -> openai.AsyncOpenAI:
    return cached_client(openai.AsyncOpenAI(api_key=OPENAI_KEY, base_url=sim.base_url + "/v1"))


def _anthropic_model(sim: ProviderSimulator) -> AnthropicModel:
    client = cached_client(anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=sim.base_url))
    return AnthropicModel("claude-sonnet-5", provider=AnthropicProvider(anthropic_client=client))


def _hits() -> int:
    return int(aicache.stats.snapshot()["hits"])


@pytest.mark.parametrize("model_class", [OpenAIChatModel, OpenAIResponsesModel])
async def test_pydantic_ai_openai_agent_hits(
    sim: ProviderSimulator, model_class: type[OpenAIChatModel]
) -> None:
    model = model_class("gpt-4o-mini", provider=OpenAIProvider(openai_client=_openai(sim)))
    agent = Agent(model)
    first = await agent.run("Name a cadence.")
    sent = sim.count()
    second = await agent.run("Name a cadence.")
    assert sim.count() == sent == 1
    assert second.output == first.output
    assert _hits() == 1


async def test_pydantic_ai_structured_output_hits(sim: ProviderSimulator) -> None:
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=_openai(sim)))
    agent = Agent(model, output_type=NativeOutput(Key))
    first = await agent.run("Pick a key.")
    second = await agent.run("Pick a key.")
    assert isinstance(second.output, Key)
    assert second.output == first.output
    assert sim.count() == 1


async def test_pydantic_ai_agent_with_tools_hits(sim: ProviderSimulator) -> None:
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=_openai(sim)))
    agent = Agent(model)

    @agent.tool_plain
    def tempo(bpm: int) -> str:
        """Describe a tempo."""
        return f"{bpm} bpm"

    await agent.run("How fast is allegro?")
    await agent.run("How fast is allegro?")
    assert sim.count() == 1
    assert sim.requests[0].body["tools"][0]["function"]["name"] == "tempo"


async def test_pydantic_ai_anthropic_agent_hits(sim: ProviderSimulator) -> None:
    # pydantic-ai asks Anthropic for 64k output tokens unless told otherwise, which the SDK only
    # allows as a stream (not cached): name max_tokens (or give the client a timeout).
    agent = Agent(_anthropic_model(sim), model_settings={"max_tokens": 1024})
    first = await agent.run("Name a bridge.")
    second = await agent.run("Name a bridge.")
    assert sim.count() == 1
    assert second.output == first.output


async def test_pydantic_ai_anthropic_structured_output_hits(sim: ProviderSimulator) -> None:
    agent = Agent(
        _anthropic_model(sim), output_type=NativeOutput(Key), model_settings={"max_tokens": 1024}
    )
    first = await agent.run("Pick a key.")
    second = await agent.run("Pick a key.")
    assert isinstance(second.output, Key) and second.output == first.output
    assert sim.count() == 1


def _instructor() -> object:
    if os.environ.get("CI", "").lower() == "true":
        import instructor  # CI installs it (see .ci/run): a missing one fails there

        return instructor
    return pytest.importorskip(
        "instructor",
        reason="instructor pins jiter<0.15, older than openai needs: pip install --no-deps "
        "instructor==1.17.0 docstring-parser typer",
    )


async def test_instructor_structured_output_hits(sim: ProviderSimulator) -> None:
    instructor = _instructor()
    client = instructor.from_openai(_openai(sim), mode=instructor.Mode.JSON_SCHEMA)
    first = await client.chat.completions.create(
        model="gpt-4o-mini",
        response_model=Key,
        messages=[{"role": "user", "content": "Pick a key."}],
    )
    second = await client.chat.completions.create(
        model="gpt-4o-mini",
        response_model=Key,
        messages=[{"role": "user", "content": "Pick a key."}],
    )
    # instructor keeps the raw completion on the model: compare the fields
    assert isinstance(second, Key) and second.model_dump() == first.model_dump()
    assert sim.count() == 1
    assert _hits() == 1


def test_cached_client_is_an_instance_of_the_sdk_class(sim: ProviderSimulator) -> None:
    client = _openai(sim)
    assert isinstance(client, openai.AsyncOpenAI)  # what instructor.from_openai checks
    assert isinstance(client, aicache.CachedClient)
    assert not isinstance(client, anthropic.AsyncAnthropic)
