"""``aicache warm``: replay recorded provider requests through cached clients, then say where the
entries went."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .._config import CacheConfig
from .._console import Progress, money, say
from .._errors import reason
from .._info import cache_info
from .._persisted import persisted
from .._shared import close as close_shared
from ..providers import PROVIDERS, cached_client, cached_methods, close_client
from ..stats import scope
from ._common import OK, UsageError, run, settings

__all__ = ["Recorded", "cmd_warm", "read_recorded"]


@dataclass(frozen=True)
class Recorded:
    """One line of a warm file: ``{"provider": ..., "method": ..., "kwargs": {...}}``."""

    line: int
    provider: str
    method: str
    kwargs: dict[str, Any]


def read_recorded(path: str) -> list[Recorded]:
    """Parse and check a warm file; any mistake is a :class:`UsageError` naming its line."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    names = PROVIDERS.names()
    out: list[Recorded] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise UsageError(f"{where}: each line must be a JSON object")
        provider, method, kwargs = doc.get("provider"), doc.get("method"), doc.get("kwargs")
        if provider not in names:
            raise UsageError(f"{where}: provider must be one of {', '.join(names)}")
        if not isinstance(method, str) or not method:
            raise UsageError(f"{where}: method must name the SDK method, e.g. messages.create")
        if not isinstance(kwargs, dict):
            raise UsageError(f"{where}: kwargs must be an object of the call's keyword arguments")
        unknown = set(doc) - {"provider", "method", "kwargs"}
        if unknown:
            raise UsageError(f"{where}: unknown fields {sorted(unknown)}")
        out.append(Recorded(number, provider, method, kwargs))
    if not out:
        raise UsageError(f"{path} holds no requests")
    return out


def _cached_method(client: Any, entry: Recorded, path: str) -> Callable[..., Awaitable[Any]]:
    cached = cached_methods(entry.provider)
    # A method recorded from a sync surface (google-genai's client.models) is warmed through its
    # async twin, which writes the same entry.
    for name in ("aio." + entry.method, entry.method):
        if name in cached:
            obj: Any = client
            for part in name.split("."):
                obj = getattr(obj, part)
            return obj  # type: ignore[no-any-return]
    raise UsageError(
        f"{path}:{entry.line}: {entry.provider} method {entry.method!r} is not a cached method; "
        f"cached: {', '.join(sorted(cached))}"
    )


async def _warm(entries: list[Recorded], args: argparse.Namespace, config: CacheConfig) -> int:
    raw: dict[str, Any] = {}
    stored: list[str] = []
    try:
        for provider in sorted({e.provider for e in entries}):
            try:
                raw[provider] = PROVIDERS.get(provider).client()
            except ImportError as exc:
                raise UsageError(
                    f"the {provider} SDK is not installed: pip install 'aicache[{provider}]'"
                ) from exc
            except Exception as exc:
                raise RuntimeError(f"cannot create the {provider} client: {exc}") from exc
        options: dict[str, Any] = {} if args.ttl is None else {"ttl": args.ttl}
        clients = {p: cached_client(c, **options) for p, c in raw.items()}
        calls = [(e, _cached_method(clients[e.provider], e, args.file)) for e in entries]
        semaphore = asyncio.Semaphore(args.concurrency)
        outcomes: dict[str, int] = {}
        failures: list[str] = []

        async def one(entry: Recorded, method: Callable[..., Awaitable[Any]]) -> None:
            async with semaphore:
                with scope() as counted:
                    try:
                        result = await method(**entry.kwargs, bypass_cache=args.refresh)
                    except Exception as exc:
                        outcome = "failed"
                        failures.append(f"line {entry.line}: {type(exc).__name__}: {reason(exc)}")
                    else:
                        info = cache_info(result)
                        if info is not None and info.hit:
                            outcome = "already cached"
                        elif counted.snapshot()["stores"] and info is not None:
                            outcome = "stored"
                            stored.append(info.key)
                        else:
                            outcome = "not stored"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                progress.advance(f"line {entry.line}: {outcome}")

        with scope() as total, Progress(len(calls), "warming") as progress:
            await asyncio.gather(*(one(e, m) for e, m in calls))
    finally:
        for client in raw.values():
            await close_client(client)
        await close_shared()
    spent = total.snapshot()["cost_spent_usd"]
    order = ("stored", "already cached", "not stored", "failed")
    done = ", ".join(f"{outcomes[k]} {k}" for k in order if outcomes.get(k))
    say(f"warmed {len(calls)} requests from {args.file}: {done}; spent {money(spent)}")
    if stored:
        say((await persisted(config, stored)).describe())
    if outcomes.get("not stored"):
        say("not stored: streamed, truncated, empty or refused responses are never cached")
    for line in failures:
        say(f"failed {line}", sys.stderr)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(calls)} requests failed")
    return OK


def cmd_warm(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.ttl is not None and not args.ttl > 0:
        raise UsageError("--ttl must be a positive number of seconds")
    config = settings(args)
    entries = read_recorded(args.file)
    return run(_warm(entries, args, config))
