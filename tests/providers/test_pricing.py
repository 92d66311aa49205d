"""Dollars: tokens read from each response type, priced from the dated table, overridable;
an unknown model is counted, never priced at zero."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google import genai

import aicache
from aicache import _pricing
from aicache._pricing import Price, cost_of, price_for, set_prices
from aicache.simulator import ProviderSimulator

from .conftest import HELLO, counters

LONG_SYSTEM = "You analyse music. " * 400  # ~1,900 tokens: enough for a provider prompt cache


@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("openai", "openai/gpt-5-mini", "gpt-5-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic", "claude-opus-4-0", "claude-opus-4"),
        ("anthropic", "anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("anthropic", "claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini", "gemini-3-pro-preview", "gemini-3-pro"),
    ],
)
def test_snapshots_and_aliases_resolve_to_their_family(
    provider: str, model: str, family: str
) -> None:
    price = price_for(provider, model)
    assert price is not None and price == price_for(provider, family)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "o1-pro"),  # not o1: ten times the price
        ("openai", "gpt-4o-audio-preview"),
        ("gemini", "gemini-2.0-flash-exp"),  # experiments are not their family
        ("anthropic", "claude-mystery-9"),
        ("mistral", "mistral-large"),
        ("openai", ""),
    ],
)
def test_unknown_models_have_no_price(provider: str, model: str) -> None:
    assert price_for(provider, model) is None
    assert cost_of(provider, model, {"input": 10, "output": 10}) is None


def test_the_table_is_dated_and_every_figure_names_its_source() -> None:
    doc = json.loads(resources.files("aicache").joinpath("prices.json").read_text("utf-8"))
    assert doc["date"] == _pricing.prices_date()
    providers = doc["providers"]
    assert {"anthropic", "openai", "gemini"} <= providers.keys()
    for provider, entry in providers.items():
        for model, figures in entry["models"].items():
            assert figures["verified"] in ("official", "secondary", "unverified"), model
            assert figures["source"] or figures["verified"] == "unverified", model
            assert figures["verified"] != "unverified" or figures.get("note"), model
            assert price_for(provider, model) is not None
    required = {  # at least the current and the previous generation of each provider
        "openai": "gpt-4o gpt-4o-mini gpt-4.1 gpt-4.1-mini o3 o4-mini gpt-5 text-embedding-3-small",
        "anthropic": "claude-opus-4-5 claude-sonnet-4-5 claude-haiku-4-5 claude-3-5-haiku "
        "claude-3-7-sonnet claude-3-5-sonnet",
        "gemini": "gemini-2.5-pro gemini-2.5-flash gemini-2.0-flash gemini-embedding-001",
    }
    for provider, families in required.items():
        assert set(families.split()) <= providers[provider]["models"].keys()


def test_cost_uses_each_rate_and_the_long_context_tier() -> None:
    price = Price(
        3.0, 15.0, cached_input=0.3, cache_write=3.75, long_context=(1000, Price(6.0, 22.5))
    )
    used = {"input": 100, "cached_input": 200, "cache_write": 300, "output": 50, "reasoning": 20}
    assert price.cost(used) == pytest.approx((100 * 3 + 200 * 0.3 + 300 * 3.75 + 50 * 15) / 1e6)
    big = {"input": 900, "cached_input": 200, "output": 10}
    assert price.cost(big) == pytest.approx((900 * 6 + 200 * 6 + 10 * 22.5) / 1e6)
    assert Price(1.0, 2.0).cost({"input": 10, "cached_input": 10}) == pytest.approx(20 / 1e6)


async def test_anthropic_cost_equals_tokens_times_price_including_prompt_cache(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    kw: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}
    first = await claude.messages.create(**kw, system=system)
    second = await claude.messages.create(**kw, system=system, bypass_cache=True)
    assert first.usage.cache_creation_input_tokens and second.usage.cache_read_input_tokens
    expected = 0.0
    for m in (first, second):  # Haiku 4.5: $1 input, $1.25 cache write, $0.10 cache read, $5 output
        u = m.usage
        expected += (
            u.input_tokens * 1.0
            + (u.cache_creation_input_tokens or 0) * 1.25
            + (u.cache_read_input_tokens or 0) * 0.10
            + u.output_tokens * 5.0
        ) / 1e6
    stats = counters("anthropic.messages.create")
    assert stats["cost_spent_usd"] == pytest.approx(expected)
    assert stats["tokens_spent"]["cache_write"] == first.usage.cache_creation_input_tokens
    assert stats["tokens_spent"]["cached_input"] == second.usage.cache_read_input_tokens
    hit = await claude.messages.create(**kw, system=system)
    info = aicache.cache_info(hit)
    second_cost = (
        second.usage.input_tokens * 1.0
        + (second.usage.cache_read_input_tokens or 0) * 0.10
        + second.usage.output_tokens * 5.0
    ) / 1e6
    assert info is not None and info.saved_usd == pytest.approx(second_cost)
    models = aicache.stats.snapshot()["models"]["anthropic/claude-haiku-4-5"]
    assert models["cost_saved_usd"] == pytest.approx(second_cost)


async def test_openai_reasoning_and_cached_input_are_priced(
    gpt: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    kw: dict[str, Any] = {"model": "gpt-5", "instructions": LONG_SYSTEM, "input": "Key?"}
    await gpt.responses.create(**kw)
    repeat = await gpt.responses.create(**kw, bypass_cache=True)
    u = repeat.usage
    assert u is not None and u.input_tokens_details.cached_tokens > 0
    assert u.output_tokens_details.reasoning_tokens > 0
    repeat_cost = (
        (u.input_tokens - u.input_tokens_details.cached_tokens) * 1.25
        + u.input_tokens_details.cached_tokens * 0.125
        + u.output_tokens * 10.0  # reasoning is billed as output, and included in it
    ) / 1e6
    stats = counters("openai.responses.create")
    assert stats["tokens_spent"]["reasoning"] == 2 * u.output_tokens_details.reasoning_tokens
    hit = await gpt.responses.create(**kw)
    info = aicache.cache_info(hit)
    assert info is not None and info.hit and info.saved_usd == pytest.approx(repeat_cost)


async def test_gemini_thoughts_are_billed_as_output(gemini: genai.Client) -> None:
    answer = await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    u = answer.usage_metadata
    assert u is not None and u.thoughts_token_count
    output = u.candidates_token_count + u.thoughts_token_count
    expected = (u.prompt_token_count * 0.30 + output * 2.50) / 1e6
    spent = counters("gemini.aio.models.generate_content")["cost_spent_usd"]
    assert spent == pytest.approx(expected)


async def test_an_unknown_model_counts_tokens_and_says_its_cost_is_unknown(
    claude: anthropic.AsyncAnthropic,
) -> None:
    kw: dict[str, Any] = {"model": "claude-mystery-9", "max_tokens": 300, "messages": HELLO}
    miss = await claude.messages.create(**kw)
    hit = await claude.messages.create(**kw)
    stats = counters("anthropic.messages.create")
    assert stats["cost_unknown"] == 2
    assert stats["cost_spent_usd"] == 0.0 and stats["cost_saved_usd"] == 0.0
    assert stats["tokens_spent"]["output"] == miss.usage.output_tokens
    assert stats["tokens_saved"]["output"] == miss.usage.output_tokens
    info = aicache.cache_info(hit)
    assert info is not None and info.hit and info.saved_usd is None


async def test_prices_can_be_set_in_code_and_the_figures_follow(
    claude: anthropic.AsyncAnthropic,
) -> None:
    set_prices({"anthropic": {"claude-mystery-9": {"input": 2.0, "output": 8.0}}})
    answer = await claude.messages.create(model="claude-mystery-9", max_tokens=300, messages=HELLO)
    u = answer.usage
    expected = (u.input_tokens * 2.0 + u.output_tokens * 8.0) / 1e6
    assert counters("anthropic.messages.create")["cost_spent_usd"] == pytest.approx(expected)
    set_prices(None)
    assert price_for("anthropic", "claude-mystery-9") is None


def test_a_prices_file_from_the_environment_and_from_code(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    models = {"ft:gpt-4o-mini:acme": {"input": 0.3, "output": 1.2}}
    aliases = {"acme-small": "ft:gpt-4o-mini:acme"}
    doc = {"providers": {"openai": {"models": models, "aliases": aliases}}}
    path.write_text(json.dumps(doc))
    aicache.configure(prices_file=path)
    assert price_for("openai", "acme-small") == Price(0.3, 1.2)
    assert price_for("openai", "gpt-4o") is not None  # the built-in table is still there
    aicache.configure(prices_file=None)
    assert price_for("openai", "acme-small") is None
    set_prices(path)
    assert price_for("openai", "ft:gpt-4o-mini:acme") == Price(0.3, 1.2)


def test_a_bad_prices_file_is_reported_once_and_never_breaks_a_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "prices.json"
    path.write_text("{not json")
    aicache.configure(prices_file=path)
    with caplog.at_level(logging.WARNING, logger="aicache"):
        assert price_for("openai", "gpt-4o") is not None
    assert "AI_CACHE_PRICES" in caplog.text and "built-in" in caplog.text


@pytest.mark.parametrize(
    "bad",
    [
        {"openai": {"m": {"input": 1.0}}},
        {"openai": {"m": {"input": -1, "output": 1}}},
        {"openai": {"m": {"input": "1", "output": 1}}},
        {"openai": {"m": {"input": 1, "output": 1, "long_context": {"input": 2, "output": 2}}}},
        {"openai": ["m"]},
    ],
)
def test_set_prices_refuses_malformed_figures(bad: Any) -> None:
    with pytest.raises(aicache.ConfigError):
        set_prices(bad)
    assert price_for("openai", "m") is None
