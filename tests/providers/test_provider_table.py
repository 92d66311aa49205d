"""The provider table is the one list of providers: warm, pricing, the demo and the client
factory read it."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import orjson
import pytest
from google import genai

from aicache import price_for
from aicache.cli import UsageError
from aicache.cli._warm import read_recorded
from aicache.demo._manager import KEY_VARIABLES
from aicache.providers import PROVIDERS, cached_client, cached_methods, close_client


def test_provider_table_names_each_wire_format_and_client_factory() -> None:
    assert PROVIDERS.names() == ("anthropic", "openai", "gemini")
    assert {p.wire for p in PROVIDERS} == {"openai", "anthropic", "gemini"}
    assert cached_methods("openai") >= {"chat.completions.create", "embeddings.create"}
    assert "aio.models.generate_content" in cached_methods("gemini")


async def test_provider_table_builds_clients_pointed_at_a_base_url() -> None:
    kinds = {"anthropic": anthropic.AsyncAnthropic, "openai": openai.AsyncOpenAI}
    for name, kind in kinds.items():
        client = PROVIDERS.get(name).client(api_key="k", base_url="http://127.0.0.1:9/v1")
        assert isinstance(client, kind) and str(client.base_url).startswith("http://127.0.0.1:9")
        cached_client(client)  # the table's client is one cached_client wraps
        await close_client(client)
    gemini = PROVIDERS.get("gemini").client(api_key="k", base_url="http://127.0.0.1:9")
    assert isinstance(gemini, genai.Client)
    await close_client(gemini)


def test_provider_table_drives_warm_pricing_and_demo(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    for name in PROVIDERS.names():
        path.write_bytes(orjson.dumps({"provider": name, "method": "m", "kwargs": {}}))
        assert read_recorded(str(path))[0].provider == name
    path.write_bytes(orjson.dumps({"provider": "mistral", "method": "m", "kwargs": {}}))
    with pytest.raises(UsageError, match="one of anthropic, openai, gemini"):
        read_recorded(str(path))
    for entry in PROVIDERS:
        for vendor in entry.price_prefixes:
            model = {
                "openai": "gpt-4o",
                "anthropic": "claude-sonnet-4-5",
                "google": "gemini-2.5-flash",
            }[vendor]
            assert price_for(entry.name, f"{vendor}/{model}") == price_for(entry.name, model)
            assert price_for(entry.name, model) is not None
    assert {p: PROVIDERS.get(p).keys for p in ("gemini", "anthropic", "openai")} == KEY_VARIABLES


def test_the_simulator_serves_the_wire_formats_the_provider_table_names() -> None:
    from aicache.providers import PROVIDERS
    from aicache.simulator import WIRES
    from aicache.simulator._routes import SERVED, find

    assert [w.name for w in SERVED] == list(dict.fromkeys(p.wire for p in PROVIDERS))
    assert all(WIRES[p.wire] in SERVED for p in PROVIDERS)
    assert find("/v1/messages")[0].name == "anthropic"
    assert find("/v1/chat/completions")[0].name == "openai"
