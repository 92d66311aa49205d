"""A ProviderSimulator on a thread of its own: frameworks' sync calls (LangChain ``invoke``,
LiteLLM ``completion``) block the test's thread, so the simulator cannot share its loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest

from aicache.simulator import ProviderSimulator

# LiteLLM fetches its price map from the network at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

OPENAI_KEY = "sk-proj-SECRET-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-api03-SECRET-anthropic-0123456789"


@pytest.fixture
def sim() -> Iterator[ProviderSimulator]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    simulator = asyncio.run_coroutine_threadsafe(ProviderSimulator().start(), loop).result(10)
    try:
        yield simulator
    finally:
        asyncio.run_coroutine_threadsafe(simulator.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
