"""Transient failures are retried (and counted); others are raised at once."""

from __future__ import annotations

import asyncio
import socket

import anthropic
import openai
import pytest
import tenacity
from google import genai

from aicache.providers import Retry
from aicache.simulator import ProviderSimulator

from .conftest import ANTHROPIC_KEY, HELLO, counters, wrap

CLAUDE = {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": HELLO}


@pytest.mark.parametrize("status", [429, 500, 503, 529])
async def test_anthropic_transient_failures_are_retried_then_cached(
    claude: anthropic.AsyncAnthropic, sim: ProviderSimulator, status: int
) -> None:
    sim.fail_next(2, status=status, headers={"retry-after": "0"})
    answer = await claude.messages.create(**CLAUDE)
    assert answer.content and sim.count() == 3
    await claude.messages.create(**CLAUDE)
    assert sim.count() == 3
    stats = counters("anthropic.messages.create")
    assert (stats["retries"], stats["stores"], stats["hits"]) == (2, 1, 1)


async def test_openai_and_genai_rate_limits_and_server_errors_are_retried(
    gpt: openai.AsyncOpenAI, gemini: genai.Client, sim: ProviderSimulator
) -> None:
    sim.fail_next(1, status=429)
    sim.fail_next(1, status=502)
    await gpt.chat.completions.create(model="gpt-4o", messages=HELLO)
    sim.fail_next(1, status=429)
    sim.fail_next(1, status=503)
    await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert sim.count() == 6
    assert counters("openai.chat.completions.create")["retries"] == 2
    assert counters("gemini.aio.models.generate_content")["retries"] == 2


async def test_client_errors_are_not_retried(
    claude: anthropic.AsyncAnthropic, gemini: genai.Client, sim: ProviderSimulator
) -> None:
    sim.fail_next(1, status=400)
    with pytest.raises(anthropic.BadRequestError):
        await claude.messages.create(**CLAUDE)
    sim.fail_next(1, status=403)
    with pytest.raises(genai.errors.ClientError):
        await gemini.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert sim.count() == 2
    assert counters("anthropic.messages.create")["retries"] == 0


async def test_attempts_run_out_and_the_last_error_is_raised(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    claude = wrap(raw_anthropic, retry=Retry(attempts=3, initial=0.001, jitter=0))
    sim.fail_next(5, status=429)
    with pytest.raises(anthropic.RateLimitError):
        await claude.messages.create(**CLAUDE)
    assert sim.count() == 3
    assert counters("anthropic.messages.create")["retries"] == 2


async def test_retry_after_is_waited_out_unless_it_asks_too_much(
    raw_anthropic: anthropic.AsyncAnthropic, sim: ProviderSimulator
) -> None:
    claude = wrap(raw_anthropic, retry=Retry(initial=0.001, maximum=2.0, jitter=0))
    loop = asyncio.get_running_loop()
    sim.fail_next(1, status=429, headers={"retry-after-ms": "150"})
    started = loop.time()
    await claude.messages.create(**CLAUDE)
    assert loop.time() - started >= 0.15
    sim.fail_next(1, status=429, headers={"retry-after": "3600"})  # a spent quota: give up
    with pytest.raises(anthropic.RateLimitError):
        await claude.messages.create(**{**CLAUDE, "max_tokens": 301})
    assert sim.count() == 3


async def test_the_sdks_own_retries_are_off_inside_the_wrapper(sim: ProviderSimulator) -> None:
    """With aicache retrying, the SDK's max_retries would multiply attempts and hide them."""
    raw = anthropic.AsyncAnthropic(api_key=ANTHROPIC_KEY, base_url=sim.base_url, max_retries=3)
    sim.fail_next(1, status=429, headers={"retry-after": "0"})
    await wrap(raw).messages.create(**CLAUDE)
    assert counters("anthropic.messages.create")["retries"] == 1  # ours, not the SDK's
    sim.fail_next(1, status=429, headers={"retry-after": "0"})
    await wrap(raw, retry=None, namespace="sdk").messages.create(**CLAUDE)
    assert sim.count() == 4  # the SDK retried by itself
    assert counters("anthropic.messages.create")["retries"] == 1


async def test_lost_connections_are_retried(sim: ProviderSimulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    dead = anthropic.AsyncAnthropic(api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        await wrap(dead).messages.create(**CLAUDE)
    assert counters("anthropic.messages.create")["retries"] == 3


async def test_a_tenacity_policy_can_be_given_and_its_retries_are_counted(
    raw_openai: openai.AsyncOpenAI, sim: ProviderSimulator
) -> None:
    slept: list[int] = []
    policy = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(2),
        retry=tenacity.retry_if_exception_type(openai.InternalServerError),
        before_sleep=lambda state: slept.append(state.attempt_number),
        reraise=True,
    )
    gpt = wrap(raw_openai, retry=policy)
    sim.fail_next(1, status=500)
    await gpt.embeddings.create(model="text-embedding-3-small", input="x")
    assert slept == [1] and sim.count() == 2
    assert counters("openai.embeddings.create")["retries"] == 1


def test_gemini_retry_info_is_read_as_retry_after(raw_genai: genai.Client) -> None:
    from aicache.providers._genai import GenaiAdapter

    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [detail]}}
    exhausted = genai.errors.ClientError(429, body)
    adapter = GenaiAdapter(raw_genai)
    assert adapter.transient(exhausted) and adapter.retry_after(exhausted) == 7.0
    assert not adapter.transient(genai.errors.ClientError(404, {"error": {"code": 404}}))
