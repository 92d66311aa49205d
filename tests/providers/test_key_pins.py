"""Keys of fixed requests, pinned: a change to how a cached client builds its keys would orphan
every stored entry, so any change to these hex digests must be deliberate (and is forbidden for
a release). The keys are computed by the cached client itself, without a call to a provider."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from pydantic import BaseModel

from aicache.providers import cached_client

BASE = "http://127.0.0.1:9"
SYSTEM = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
TURNS = [
    {"role": "user", "content": "Describe the groove."},
    {"role": "assistant", "content": [{"type": "text", "text": "Swung 16ths."}]},
    {"role": "user", "content": [{"type": "text", "text": "And the bass?", "cache_control": {}}]},
]


class Tempo(BaseModel):
    bpm: float
    key: str


def key_of(proxy: Any, path: str, **kwargs: Any) -> str | None:
    """The key ``proxy`` files a call of ``path`` under (``None``: the call is not cached)."""
    binding = proxy._binding
    binding._resolve()
    _, call, label, _, _ = binding._bound(path, (), kwargs)
    found = binding._keyed(path, call, label, item=path.endswith("embeddings.create"))
    return None if found is None else found[0]


def keys_of(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
    proxy = cached_client(client, backend="memory", namespace="pins")
    return [key_of(proxy, path, **kwargs) for path, kwargs in calls]


def anthropic_calls() -> list[tuple[str, dict[str, Any]]]:
    """Fixed Anthropic calls, made anew per use (one holds a one-shot iterator)."""
    return [
        (
            "messages.create",
            dict(
                model="claude-haiku-4-5",
                max_tokens=300,
                messages=[{"role": "user", "content": "Describe the groove."}],
            ),
        ),
        (
            "messages.create",
            dict(
                model="claude-sonnet-4-5",
                max_tokens=1024,
                system=SYSTEM,
                messages=TURNS,
                thinking={"type": "enabled", "budget_tokens": 1024},
                stop_sequences=("END",),
                tools=[{"name": "tempo", "input_schema": {"type": "object"}, "cache_control": {}}],
                metadata=anthropic.NOT_GIVEN,
                service_tier=anthropic.omit,
                extra_headers={"anthropic-beta": "x", "x-api-key": "sk-drop", "X-Trace": "t"},
                extra_body={"top_k": 3, "temperature": 0.25},
                timeout=30.0,
            ),
        ),
        (
            "messages.create",
            dict(
                model="claude-haiku-4-5",
                max_tokens=300,
                stop_sequences=None,
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": 'Is {"bpm": null} ok?'}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "NaN", "x": None}]},
                ],
            ),
        ),
        (
            "beta.messages.create",
            dict(
                model="claude-sonnet-4-5",
                max_tokens=10,
                messages=iter([{"role": "user", "content": "hi"}]),
            ),
        ),
    ]


def openai_calls() -> list[tuple[str, dict[str, Any]]]:
    """Fixed OpenAI calls."""
    return [
        (
            "chat.completions.create",
            dict(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": "terse"},
                    {"role": "user", "content": "hi"},
                ],
                temperature=0.0,
                seed=7,
                n=openai.NOT_GIVEN,
                response_format=Tempo,
                extra_query={"api-version": "2024-10-21"},
            ),
        ),
        (
            "chat.completions.create",
            dict(
                model="gpt-4o",
                messages=[{"role": "user", "content": [{"type": "text", "text": "x" * 300}]}],
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
                max_tokens=None,
                logit_bias={"50256": -100},
            ),
        ),
        ("responses.create", dict(model="gpt-4o-mini", input="hi", store=False)),
        ("embeddings.create", dict(model="text-embedding-3-small", input="one text")),
    ]


ANTHROPIC = [
    "aicache:pins:anthropic.messages.create:c9f4fe9200df9bc4e9f56c1d2f17e4dc08a97c463c479251eb731da043276b98",
    "aicache:pins:anthropic.messages.create:1aabd7e9ca21d5760441dd4d1f103642a912bb7fdae9e9de96156a88a5c40b95",
    "aicache:pins:anthropic.messages.create:d5bbc9a5648edba0e54099e5443d8bb415baa2d715a2a26f5c252c8767fc7599",
    "aicache:pins:anthropic.beta.messages.create:a3e918ed545fd8d659509cce644d2922608022ed3123328b5a07785d6154e6d6",
]
OPENAI = [
    "aicache:pins:openai.chat.completions.create:2f4580a156e52056bcb6432c87482530373895721a5c232e39735dd5cd6de2d6",
    "aicache:pins:openai.chat.completions.create:77f1b5c670b04130d1e8b50e1d81f4480aac4fdfeb184be78a8a32ae030d0b73",
    "aicache:pins:openai.responses.create:40eb3abfb4c3be4b38cc8e5ab56258cd245ae636c2b9541af283bb4cf83ab809",
    "aicache:pins:openai.embeddings.create:0ecd13dc0db817cf6d678032c5914a28a61a1ed0a4b08c82a653c8159e7b44c9",
]
GENAI = [
    "aicache:pins:gemini.aio.models.generate_content:2932ef9812fb69f061ae3e5b8d63da3e53c414a4b877b67593a8d5d1686bfd4d",
    "aicache:pins:gemini.aio.models.generate_content:21a695d4a869ed738d91431cb407a0743f8bfacb9177dd0facc64760fb4fc306",
]


async def test_anthropic_keys_are_pinned() -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-pin", base_url=BASE, max_retries=0)
    try:
        assert keys_of(client, anthropic_calls()) == ANTHROPIC
    finally:
        await client.close()
    # The markers are left out of the key, not out of the caller's own request.
    assert SYSTEM[0]["cache_control"] == {"type": "ephemeral"}
    assert TURNS[2]["content"][0]["cache_control"] == {}  # type: ignore[index]


def test_sync_anthropic_shares_the_async_keys() -> None:
    with anthropic.Anthropic(api_key="sk-ant-pin", base_url=BASE, max_retries=0) as client:
        assert keys_of(client, anthropic_calls()) == ANTHROPIC


async def test_openai_keys_are_pinned() -> None:
    client = openai.AsyncOpenAI(api_key="sk-pin", base_url=BASE + "/v1", max_retries=0)
    try:
        assert keys_of(client, openai_calls()) == OPENAI
    finally:
        await client.close()


def test_sync_openai_shares_the_async_keys() -> None:
    with openai.OpenAI(api_key="sk-pin", base_url=BASE + "/v1", max_retries=0) as client:
        assert keys_of(client, openai_calls()) == OPENAI


@pytest.mark.parametrize("path", ["aio.models.generate_content", "models.generate_content"])
async def test_genai_keys_are_pinned(path: str) -> None:
    client = genai.Client(api_key="AIza-pin", http_options={"base_url": BASE})
    try:
        proxy = cached_client(client, backend="memory", namespace="pins")
        keys = [
            key_of(proxy, path, model="gemini-2.0-flash", contents="Describe the groove."),
            key_of(
                proxy,
                path,
                model="models/gemini-2.0-flash",
                contents=[types.Content(role="user", parts=[types.Part(text="hi")])],
                config=types.GenerateContentConfig(temperature=0.5, max_output_tokens=64),
            ),
        ]
        assert keys == GENAI
    finally:
        await client.aio.aclose()
