"""The parser and the dispatch: which command runs, and how its outcome becomes an exit code.

Exit codes: 0 ok, 1 failure (or a tier that could not be reached), 2 usage error. An error is one
line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .._console import say
from .._errors import ConfigError, reason
from ._common import FAILURE, OK, USAGE, UsageError
from ._demo import cmd_demo
from ._entries import cmd_clear, cmd_inspect
from ._simulate import cmd_simulate
from ._stats import cmd_stats
from ._warm import cmd_warm

__all__ = ["main", "parser"]

DEFAULT_SIMULATOR_PORT = 8765


def parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's own (to print that command's usage)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument("--redis", metavar="URL", help="use this Redis (overrides REDIS_URL)")
    namespaced = argparse.ArgumentParser(add_help=False)
    namespaced.add_argument(
        "--namespace", metavar="N", help="namespace (default: AI_CACHE_NAMESPACE)"
    )

    top = argparse.ArgumentParser(
        prog="aicache",
        description="Look at and manage the aicache caches of every process on this machine "
        "(file tier) or sharing a Redis.",
    )
    top.add_argument("--debug", action="store_true", help="show tracebacks")
    top.add_argument("--version", action="version", version=f"aicache {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, argparse.ArgumentParser] = {}

    p = commands["stats"] = sub.add_parser(
        "stats", parents=[common], help="hits, misses and dollars saved across processes"
    )
    p.add_argument("--json", action="store_true", help="print JSON (dollars to the micro-dollar)")
    p.add_argument("--reset", action="store_true", help="delete the stored fleet counters")
    p.set_defaults(run=cmd_stats)

    p = commands["clear"] = sub.add_parser(
        "clear", parents=[common, namespaced], help="delete cached entries"
    )
    p.add_argument("--function", metavar="F", help="only this function's entries (module.qualname)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=cmd_clear)

    p = commands["inspect"] = sub.add_parser(
        "inspect",
        parents=[common, namespaced],
        help="show entries: age, TTL, size, cost",
        description="Show the entries of one namespace. Without --namespace (and without "
        "AI_CACHE_NAMESPACE) it also lists the namespaces that hold entries.",
    )
    p.add_argument("key", nargs="?", metavar="KEY", help="one full key (aicache:...)")
    p.add_argument("--function", metavar="F", help="list this function's entries")
    p.add_argument("--limit", type=int, default=50, help="list at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_inspect)

    p = commands["warm"] = sub.add_parser(
        "warm",
        parents=[common, namespaced],
        help="replay recorded requests (JSONL) through cached clients",
        description="Replay recorded provider requests so that a new deployment starts warm. "
        'Each line of FILE is {"provider": "openai"|"anthropic"|"gemini", "method": '
        '"chat.completions.create", "kwargs": {...}}. Clients are made by the SDKs from their '
        "own variables: OPENAI_API_KEY and OPENAI_BASE_URL, ANTHROPIC_API_KEY and "
        "ANTHROPIC_BASE_URL, GEMINI_API_KEY or GOOGLE_API_KEY. Afterwards it says which shared "
        "tier holds the new entries.",
    )
    p.add_argument("file", metavar="FILE.jsonl", help="recorded requests, one JSON object a line")
    p.add_argument("--ttl", type=float, metavar="SECONDS", help="entry ttl (default: configured)")
    p.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests at once (default 4)"
    )
    p.add_argument("--refresh", action="store_true", help="call again even when already cached")
    p.set_defaults(run=cmd_warm)

    p = commands["demo"] = sub.add_parser(
        "demo",
        parents=[common],
        help="analyse music tracks through a cached (simulated) provider; run it twice",
        description="SampleMind, the music-analysis app aicache comes from: analyse the bundled "
        "tracks (some twice) and show hits, misses, tiers, latency and dollars saved. Without "
        "--live it uses a SIMULATED provider on 127.0.0.1 (the real OpenAI SDK, real prices).",
    )
    p.add_argument("--tracks", type=int, default=8, metavar="N", help="tracks to analyse (1-10)")
    p.add_argument("--fresh", action="store_true", help="clear the demo's cached entries first")
    p.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests at once (default 4)"
    )
    p.add_argument(
        "--latency",
        default="2,5",
        metavar="LO,HI",
        help="simulated provider latency in seconds (default 2,5)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="use the real providers whose API keys are set (costs money) instead of the "
        "simulator: reads GEMINI_API_KEY / GOOGLE_API_KEY, ANTHROPIC_API_KEY, OPENAI_API_KEY",
    )
    p.set_defaults(run=cmd_demo)

    p = commands["simulate"] = sub.add_parser(
        "simulate",
        help="run the simulated provider (OpenAI, Anthropic, Gemini APIs) on a fixed port",
        description="Serve made-up answers in the OpenAI, Anthropic and Gemini wire formats on "
        "127.0.0.1, for trying aicache without an API key. Nothing leaves the machine.",
    )
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SIMULATOR_PORT,
        metavar="N",
        help=f"TCP port on 127.0.0.1 (default {DEFAULT_SIMULATOR_PORT})",
    )
    p.add_argument(
        "--latency", default="0", metavar="LO,HI", help="seconds before each answer (default 0)"
    )
    p.set_defaults(run=cmd_simulate)
    return top, commands


def main(argv: Sequence[str] | None = None) -> int:
    top, commands = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        top.print_help()
        return OK
    args, extra = top.parse_known_args(argv)
    if args.command is None:
        top.error("give a COMMAND")
    if extra:
        commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.run(args)
        return code
    except (UsageError, ConfigError) as exc:
        if args.debug:
            raise
        say(f"aicache {args.command}: {exc}", sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        say("interrupted", sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        say(f"aicache {args.command}: error: {reason(exc)}", sys.stderr)
        return FAILURE
