"""``aicache simulate --port N``: the simulated provider on its own, on a fixed port (keys include
the API host, so a fixed port keeps them stable between runs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .._console import say
from .._simulator import ProviderSimulator
from ._common import OK, UsageError, latency_bounds, run

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
    return run(_serve(args.port, latency))  # becomes aicache.simulator's serve(port=...)


async def _serve(port: int, latency: tuple[float, float]) -> int:
    """Serve until interrupted. Interim: the simulator binds a free port, and a byte relay on the
    fixed port forwards to it; the simulator's own fixed-port entry replaces both."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with ProviderSimulator(latency=latency, seed=0) as sim:

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", sim.port)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(ConnectionError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        try:
            server = await asyncio.start_server(relay, "127.0.0.1", port)
        except OSError as exc:
            raise UsageError(f"--port {port}: cannot listen there ({exc.strerror})") from None
        async with server:
            await stop.wait()
    say("simulator stopped")
    return OK
