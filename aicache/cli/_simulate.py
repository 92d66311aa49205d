"""``aicache simulate --port N``: the simulated provider on its own, on a fixed port (keys include
the API host, so a fixed port keeps them stable between runs)."""

from __future__ import annotations

import argparse

from .._console import say
from ..simulator import serve
from ._common import OK, UsageError, latency_bounds

__all__ = ["cmd_simulate"]


def cmd_simulate(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: give a TCP port between 1 and 65535")
    latency = latency_bounds(args.latency)
    url = f"http://127.0.0.1:{args.port}"
    say(f"SIMULATED provider (answers made up locally) listening on {url}")
    say(f"  OpenAI:    AsyncOpenAI(base_url='{url}/v1', api_key='simulated')")
    say(f"  Anthropic: AsyncAnthropic(base_url='{url}', api_key='simulated')")
    say(f"  Gemini:    genai.Client(api_key='simulated', http_options={{'base_url': '{url}'}})")
    say("stop it with Ctrl-C")
    try:
        serve(port=args.port, latency=latency, seed=0)
    except OSError as exc:
        raise UsageError(f"--port {args.port}: cannot listen there ({exc.strerror})") from None
    say("simulator stopped")
    return OK
