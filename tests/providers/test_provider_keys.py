"""Keys come from what reaches the wire: order, sentinels and transport settings do not split
entries; the request body, behaviour-changing headers and the API host do."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from aicache.providers import _base
from aicache.simulator import ProviderSimulator

from .conftest import AZURE_KEY, HELLO, counters, wrap

CLAUDE = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}


async def test_anthropic_kwarg_order_and_sentinels_share_one_entry(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    await claude.messages.create(**CLAUDE)
    await claude.messages.create(
        messages=HELLO,
        max_tokens=300,
        model="claude-haiku-4-5",
        system=anthropic.omit,
        stop_sequences=anthropic.omit,
        metadata=anthropic.NOT_GIVEN,
        extra_headers=None,
        extra_query=None,
        extra_body={},
        timeout=anthropic.NOT_GIVEN,
    )
    assert sim.count() == 1


async def test_transport_settings_and_credentials_do_not_split_entries(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    claude = wrap(raw_anthropic)
    await claude.messages.create(**CLAUDE)
    await claude.messages.create(
        **CLAUDE,
        timeout=12.5,
        extra_headers={"traceparent": "00-4bf92f3577b34da6-01", "X-Request-Id": "r1"},
    )
    await claude.with_options(timeout=5.0, max_retries=5).messages.create(**CLAUDE)
    other_key = anthropic.AsyncAnthropic(api_key="sk-ant-another", base_url=raw_anthropic.base_url)
    await wrap(other_key).messages.create(**CLAUDE)
    assert sim.count() == 1
    assert counters("anthropic.messages.create")["hits"] == 3


@pytest.mark.parametrize(
    "change",
    [
        {"extra_body": {"top_k": 3}},
        {"extra_query": {"beta": "true"}},
        {"extra_headers": {"anthropic-beta": "prompt-caching-2024-07-31"}},
        {"system": "You are terse."},
        {"max_tokens": 299},
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        {"tools": [{"name": "tempo", "input_schema": {"type": "object"}}]},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_what_reaches_the_wire_splits_entries(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator, change: dict[str, Any]
) -> None:
    await claude.messages.create(**CLAUDE)
    await claude.messages.create(**{**CLAUDE, **change})
    await claude.messages.create(**{**CLAUDE, **change})
    assert sim.count() == 2


async def test_client_default_headers_that_change_answers_split_entries(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    await wrap(raw_anthropic).messages.create(**CLAUDE)
    beta = raw_anthropic.with_options(default_headers={"anthropic-beta": "output-128k-2025-02-19"})
    await wrap(beta).messages.create(**CLAUDE)
    assert sim.count() == 2
    assert sim.requests[-1].headers["anthropic-beta"] == "output-128k-2025-02-19"


async def test_removing_a_default_header_per_call_splits_entries(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    beta = wrap(raw_anthropic.with_options(default_headers={"anthropic-beta": "files-2025"}))
    await beta.messages.create(**CLAUDE)
    await beta.messages.create(**CLAUDE, extra_headers={"anthropic-beta": anthropic.omit})
    assert "anthropic-beta" not in sim.requests[-1].headers
    assert sim.count() == 2


async def test_an_sdk_object_and_its_wire_dict_give_one_key(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    first = await claude.messages.create(**CLAUDE)
    follow = {"role": "user", "content": "And the tempo?"}
    as_objects = [*HELLO, {"role": "assistant", "content": first.content}, follow]
    await claude.messages.create(**{**CLAUDE, "messages": as_objects})
    sent = sim.requests[-1].body["messages"][1]["content"]
    as_dicts = [*HELLO, {"role": "assistant", "content": sent}, follow]
    await claude.messages.create(**{**CLAUDE, "messages": as_dicts})
    assert sim.count() == 2


async def test_a_one_shot_iterator_is_keyed_and_still_sent(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    words = ["bright", "warm"]
    await gpt.embeddings.create(model="text-embedding-3-small", input=iter(words))
    assert sim.requests[-1].body["input"] == words
    await gpt.embeddings.create(model="text-embedding-3-small", input=words)
    assert sim.count() == 1


async def test_openai_and_azure_never_share_entries(
    raw_openai: openai.AsyncOpenAI, raw_azure: openai.AsyncAzureOpenAI, sim: ProviderSimulator
) -> None:
    public, azure = wrap(raw_openai), wrap(raw_azure)
    for _ in range(2):
        await public.chat.completions.create(model="gpt-4o", messages=HELLO)
        await azure.chat.completions.create(model="gpt-4o", messages=HELLO)
    azure_path = "/openai/deployments/gpt-4o/chat/completions"
    assert sim.counts() == {"/v1/chat/completions": 1, azure_path: 1}
    # Another Azure API version is another API: a different entry.
    newer = openai.AsyncAzureOpenAI(
        api_key=AZURE_KEY,
        azure_endpoint=sim.base_url,
        api_version="2025-04-01-preview",
    )
    await wrap(newer).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert sim.count() == 3


async def test_openai_sentinels_and_order(gpt: openai.AsyncOpenAI, sim: ProviderSimulator) -> None:
    await gpt.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=0.2)
    await gpt.chat.completions.create(
        temperature=0.2,
        messages=HELLO,
        model="gpt-4o",
        seed=openai.omit,
        tools=openai.NOT_GIVEN,
        timeout=30,
    )
    await gpt.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=0.3)
    assert sim.count() == 2


async def test_genai_config_object_and_dict_and_model_prefix_give_one_key(
    gemini: genai.Client, sim: ProviderSimulator
) -> None:
    await gemini.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="Describe the groove.",
        config={"temperature": 0, "max_output_tokens": 400, "http_options": {"timeout": 30_000}},
    )
    await gemini.aio.models.generate_content(
        model="models/gemini-2.5-flash",
        contents="Describe the groove.",
        config=types.GenerateContentConfig(
            max_output_tokens=400, temperature=0.0, http_options=types.HttpOptions(timeout=5_000)
        ),
    )
    content = types.Content(role="user", parts=[types.Part(text="Describe the groove.")])
    dicts = {"role": "user", "parts": [{"text": "Describe the groove."}]}
    for contents in ([content], [dicts], [dicts]):
        await gemini.aio.models.generate_content(
            model="gemini-2.5-flash",
            contents=contents,
            config={"temperature": 0, "max_output_tokens": 400},
        )
    assert sim.count() == 2  # a string prompt and a Content list are different calls


@pytest.mark.parametrize(
    "config",
    [
        {"temperature": 0.5},
        {"system_instruction": "Be terse."},
        {"http_options": {"extra_body": {"labels": {"team": "a"}}}},
        {"response_mime_type": "application/json", "response_json_schema": {"type": "object"}},
    ],
    ids=["temperature", "system", "extra_body", "schema"],
)
async def test_genai_settings_that_reach_the_wire_split_entries(
    gemini: genai.Client, sim: ProviderSimulator, config: dict[str, Any]
) -> None:
    await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    assert sim.count() == 2


async def test_genai_with_python_function_tools_passes_through(
    gemini: genai.Client, sim: ProviderSimulator
) -> None:
    def tempo(bpm: int) -> int:
        """The tempo in beats per minute."""
        return bpm

    config = types.GenerateContentConfig(
        tools=[tempo], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    for _ in range(2):
        await gemini.aio.models.generate_content(
            model="gemini-2.5-flash", contents="hi", config=config
        )
    assert sim.count() == 2
    assert counters("gemini.aio.models.generate_content")["uncached"] == 2


async def test_gateway_routing_headers_split_entries(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    for provider in ("anthropic", "openai", "anthropic"):
        await claude.messages.create(**CLAUDE, extra_headers={"x-portkey-provider": provider})
    for config in ("pc-one", "pc-two"):
        await claude.messages.create(**CLAUDE, extra_headers={"x-portkey-config": config})
    assert sim.count() == 4


@pytest.mark.parametrize(
    "header",
    ["Authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "x-portkey-api-key"],
)
async def test_credential_headers_do_not_split_entries(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator, header: str
) -> None:
    for secret in ("sk-one", "sk-two"):
        await claude.messages.create(**CLAUDE, extra_headers={header: secret})
    assert sim.count() == 1


MARKED = {
    "model": "claude-haiku-4-5",
    "max_tokens": 300,
    "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
    "tools": [
        {
            "name": "tempo",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ],
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}],
        }
    ],
}


def _unmarked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


async def test_anthropic_cache_control_markers_do_not_split_entries(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    await claude.messages.create(**MARKED)
    await claude.messages.create(**_unmarked(MARKED))
    assert sim.count() == 1
    other = {**_unmarked(MARKED), "system": [{"type": "text", "text": "You are verbose."}]}
    await claude.messages.create(**other)
    assert sim.count() == 2  # what the markers sat on still counts


def test_one_shot_iterators_are_told_apart_by_type_and_classes_do_not_pile_up() -> None:
    made = [type(f"Made{i}", (), {}) for i in range(600)]
    assert not any(_base.one_shot(cls()) for cls in made)
    assert len(_base._one_shot) <= 512
    assert _base.one_shot(iter([1])) and _base.one_shot(x for x in "ab")
    assert not _base.one_shot([1]) and not _base.one_shot(anthropic.NOT_GIVEN)
