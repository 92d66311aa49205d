"""The ``aicache`` command: ``stats``, ``clear``, ``inspect``, ``warm`` and ``demo``.

Exit codes: 0 ok, 1 failure, 2 usage error. An error is one line on stderr; ``--debug`` shows the
traceback. Tables use ``rich`` when it is installed and stdout is a terminal, plain text otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import orjson

from . import _clock, _fleet
from ._config import CacheConfig, configure
from ._envelope import BadEntry, TamperedEntry, decode
from ._errors import ConfigError
from ._keys import KEY_PREFIX, check_name
from ._policy import freshness
from .backends import Backend, MemoryBackend, build_backends

__all__ = ["UsageError", "main"]

OK, FAILURE, USAGE = 0, 1, 2
T = TypeVar("T")


class UsageError(Exception):
    """A mistake in how the command was called: exit code 2."""


# -- output ---------------------------------------------------------------------------------------


def _rich_console(stream: TextIO) -> Any:
    """A rich Console for a terminal, or ``None`` (not installed, or output is not a terminal)."""
    if not stream.isatty():
        return None
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, highlight=False)


def say(text: str = "", stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(text + "\n")
    stream.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> None:
    """Print a table; ``right`` lists the columns to align right (numbers)."""
    console = _rich_console(sys.stdout)
    if console is not None:
        from rich.table import Table

        t = Table()
        for i, h in enumerate(headers):
            t.add_column(h, justify="right" if i in right else "left")
        for row in rows:
            t.add_row(*row)
        console.print(t)
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    say(line(headers))
    say(line(["-" * w for w in widths]))
    for row in rows:
        say(line(row))


class Progress:
    """A progress bar on a terminal (rich when available); occasional lines on stderr otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._rich: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        console = _rich_console(sys.stderr)
        if console is not None:
            from rich import progress as bar

            self._rich = bar.Progress(
                "[progress.description]{task.description}",
                bar.BarColumn(),
                bar.MofNCompleteColumn(),
                bar.TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.label, total=self.total)
        return self

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self._rich is not None:
            self._rich.update(self._task, advance=1)
            return
        now = _clock.monotonic()
        if self.done == self.total or now - self._last >= 1.0:
            self._last = now
            suffix = f"  {note}" if note else ""
            say(f"{self.label}: {self.done}/{self.total}{suffix}", sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)


def money(usd: float | None) -> str:
    if usd is None:
        return "?"
    return f"${usd:.6f}" if 0 < abs(usd) < 0.01 else f"${usd:.4f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = abs(seconds)
    if s < 0.01:
        text = f"{s * 1000:.1f}ms"
    elif s < 1:
        text = f"{s * 1000:.0f}ms"
    elif s < 120:
        text = f"{s:.1f}s"
    elif s < 7200:
        text = f"{s / 60:.0f}m"
    elif s < 172800:
        text = f"{s / 3600:.1f}h"
    else:
        text = f"{s / 86400:.1f}d"
    return ("-" if seconds < 0 else "") + text


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024**2:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024**2:.1f} MB"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


# -- settings and tiers ---------------------------------------------------------------------------


def settings(args: argparse.Namespace) -> CacheConfig:
    """The environment's settings with the command line's overrides, put in force."""
    changes: dict[str, Any] = {}
    if getattr(args, "redis", None):
        changes["redis_url"] = args.redis
        changes["backend"] = "auto"
    if getattr(args, "namespace", None):
        changes["namespace"] = check_name("--namespace", args.namespace)
    return configure(CacheConfig.from_env(**changes))


def shared_tiers(config: CacheConfig) -> list[Backend]:
    """The configured tiers another process can see: every tier but the per-process memory one."""
    tiers = build_backends(config.backend, config)
    shared = [t for t in tiers if not isinstance(t, MemoryBackend)]
    if not shared:
        raise UsageError(
            f"the configured backend {config.backend!r} keeps entries inside each process; "
            "set AI_CACHE_BACKEND=auto (or file/redis) or pass --redis URL to look at a shared tier"
        )
    return shared


async def close_all(tiers: Sequence[Backend]) -> None:
    for t in tiers:
        await t.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# -- aicache stats --------------------------------------------------------------------------------

_COLUMNS = ("hits", "misses", "hit rate", "saved", "time saved", "spent", "errors")


def _figures(c: dict[str, Any]) -> list[str]:
    return [
        str(c["hits"]),
        str(c["misses"]),
        percent(c["hit_rate"]),
        money(c["cost_saved_usd"]),
        duration(c["time_saved_s"]),
        money(c["cost_spent_usd"]),
        str(c["errors"]),
    ]


_ALSO = (
    "bypasses",
    "stores",
    "not_stored",
    "uncached",
    "coalesced",
    "stale_hits",
    "tampered",
    "retries",
    "failures",
    "cost_unknown",
)


def cmd_stats(args: argparse.Namespace) -> int:
    config = settings(args)
    if args.reset:
        _fleet.reset(config)
        say("fleet stats deleted")
        return OK
    try:
        fleet = _fleet.read(config)
    except Exception as exc:
        raise RuntimeError(f"cannot read fleet stats: {exc}") from exc
    snap = fleet.snapshot
    if args.json:
        say(orjson.dumps({**snap, "sources": fleet.sources}, option=orjson.OPT_INDENT_2).decode())
        return OK
    say(f"aicache fleet stats, every process that flushed to: {', '.join(fleet.sources)}")
    if not snap["hits"] + snap["misses"] + snap["bypasses"] + snap["errors"]:
        say("nothing recorded yet: run a workload (for example `aicache demo`) and look again")
        return OK
    right = tuple(range(1, len(_COLUMNS) + 1))
    table(("", *_COLUMNS), [("total", *_figures(snap))], right=right)
    tiers = ", ".join(f"{t} {n}" for t, n in sorted(snap["hits_by_tier"].items())) or "none"
    say(f"hits by tier: {tiers}")
    extra = [f"{name.replace('_', ' ')} {snap[name]}" for name in _ALSO if snap[name]]
    if extra:
        say("also: " + ", ".join(extra))
    for group, heading in (("functions", "function"), ("models", "provider/model")):
        if snap[group]:
            say()
            rows = [(name, *_figures(c)) for name, c in snap[group].items()]
            table((heading, *_COLUMNS), rows, right=right)
    return OK


# -- aicache clear --------------------------------------------------------------------------------


def _prefix(config: CacheConfig, function: str | None) -> str:
    prefix = f"{KEY_PREFIX}:{config.namespace}:"
    if function:
        if ":" in function:
            raise UsageError(f"--function {function!r}: give a module.qualname, without ':'")
        prefix += f"{function}:"
    return prefix


async def _count(tiers: Sequence[Backend], prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tiers:
        counts[t.name] = 0
        async for _ in t.keys(prefix):
            counts[t.name] += 1
    return counts


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(
            "refusing to delete without confirmation: stdin is not a terminal; pass --yes"
        )
    sys.stdout.write(f"{question} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_clear(args: argparse.Namespace) -> int:
    config = settings(args)
    prefix = _prefix(config, args.function)
    what = f"function {args.function} in " if args.function else ""
    what += f"namespace {config.namespace!r}"

    async def go() -> int:
        tiers = shared_tiers(config)
        try:
            counts = await _count(tiers, prefix)
            found = ", ".join(f"{n} in {t}" for t, n in counts.items())
            if not args.yes and not _confirm(f"Delete the entries of {what} ({found})?"):
                say("nothing deleted")
                return OK
            removed = {t.name: await t.clear(prefix) for t in tiers}
        finally:
            await close_all(tiers)
        say(
            f"deleted the entries of {what}: "
            + ", ".join(f"{n} from {t}" for t, n in removed.items())
        )
        return OK

    return run(go())


# -- aicache inspect ------------------------------------------------------------------------------


def _describe(key: str, tier: str, data: bytes, config: CacheConfig) -> dict[str, Any]:
    now = _clock.now()
    row: dict[str, Any] = {"key": key, "tier": tier, "size": len(data)}
    try:
        entry = decode(key, data, config.secret, config.max_entry_bytes)
    except TamperedEntry as exc:
        return {**row, "state": f"tampered ({exc})"}
    except BadEntry as exc:
        return {**row, "state": f"corrupt ({exc})"}
    usage = entry.usage or {}
    end = entry.stale_until or entry.expires
    return {
        **row,
        "state": freshness(entry, now).value,
        "age_s": now - entry.created,
        "ttl_s": None if entry.expires is None else entry.expires - now,
        "servable_s": None if end is None else end - now,
        "cost_usd": entry.cost,
        "duration_s": entry.duration,
        "type": entry.tag or "json",
        "provider": usage.get("provider"),
        "model": usage.get("model"),
        "tokens": usage.get("tokens"),
    }


def _short(key: str) -> str:
    parts = key.split(":")
    return f"{parts[2]}:{parts[3][:12]}" if len(parts) == 4 else key


async def _inspect_rows(
    tiers: Sequence[Backend], config: CacheConfig, key: str | None, prefix: str, limit: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for t in tiers:
        if key is not None:
            data = await t.get(key)
            if data is not None:
                rows.append(_describe(key, t.name, data, config))
            continue
        async for k in t.keys(prefix):
            if len(rows) >= limit:
                break
            data = await t.get(k)
            if data is not None:
                rows.append(_describe(k, t.name, data, config))
    return rows


def cmd_inspect(args: argparse.Namespace) -> int:
    config = settings(args)
    if args.key and args.function:
        raise UsageError("give a KEY or --function, not both")
    if args.key and not args.key.startswith(f"{KEY_PREFIX}:"):
        raise UsageError(
            f"KEY {args.key!r} is not an aicache key (they start with '{KEY_PREFIX}:')"
        )
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    prefix = _prefix(config, args.function)

    async def go() -> tuple[list[dict[str, Any]], str]:
        tiers = shared_tiers(config)
        try:
            rows = await _inspect_rows(tiers, config, args.key, prefix, args.limit)
            return rows, ", ".join(t.name for t in tiers)
        finally:
            await close_all(tiers)

    rows, looked = run(go())
    if args.json:
        say(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return OK if rows or not args.key else FAILURE
    if not rows:
        if args.key:
            raise LookupError(f"no entry under {args.key} in the tiers {looked}")
        say(f"no entries under {prefix}* in the tiers {looked}")
        return OK
    if args.key:
        for row in rows:
            say(f"{row['key']}  [{row['tier']}]")
            for name, label in _DETAILS:
                if row.get(name) is not None or name in ("ttl_s", "cost_usd"):
                    say(f"  {label:<14} {_cell(name, row.get(name))}")
        return OK
    headers = ("entry", "tier", "state", "age", "ttl left", "size", "cost", "model")
    table(
        headers,
        [
            (
                _short(r["key"]),
                r["tier"],
                r["state"],
                _cell("age_s", r.get("age_s")),
                _cell("ttl_s", r.get("ttl_s")),
                size(r["size"]),
                _cell("cost_usd", r.get("cost_usd")),
                "/".join(x for x in (r.get("provider"), r.get("model")) if x) or r.get("type", ""),
            )
            for r in rows
        ],
        right=(3, 4, 5, 6),
    )
    more = " (the first --limit)" if len(rows) >= args.limit else ""
    say(f"{len(rows)} entries{more} under {prefix}*")
    return OK


_DETAILS = (
    ("state", "state"),
    ("age_s", "age"),
    ("ttl_s", "fresh for"),
    ("servable_s", "servable for"),
    ("size", "size"),
    ("cost_usd", "cost"),
    ("duration_s", "call took"),
    ("type", "type"),
    ("provider", "provider"),
    ("model", "model"),
    ("tokens", "tokens"),
)


def _cell(name: str, value: Any) -> str:
    if name in ("age_s", "ttl_s", "duration_s"):
        return duration(value)
    if name == "cost_usd":
        return money(value)
    if name == "size":
        return size(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return "-" if value is None else str(value)


# -- aicache warm ---------------------------------------------------------------------------------

WARM_PROVIDERS = ("openai", "anthropic", "gemini")


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
        if provider not in WARM_PROVIDERS:
            raise UsageError(f"{where}: provider must be one of {', '.join(WARM_PROVIDERS)}")
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
    from .providers._proxy import _Method

    candidates = [entry.method]
    if entry.provider == "gemini" and not entry.method.startswith("aio."):
        candidates.append("aio." + entry.method)  # as recorded from the sync surface
    for name in candidates:
        obj: Any = client
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except (AttributeError, TypeError):  # TypeError: a sync method the proxy refuses
            continue
        if isinstance(obj, _Method):
            return obj
    raise UsageError(
        f"{path}:{entry.line}: {entry.provider} method {entry.method!r} is not a cached method"
    )


async def _warm(entries: list[Recorded], args: argparse.Namespace) -> int:
    from ._info import cache_info
    from ._shared import close as close_shared
    from ._stats import scope
    from .demo._manager import close_client, sdk_client
    from .providers import cached_client

    raw: dict[str, Any] = {}
    try:
        for provider in sorted({e.provider for e in entries}):
            try:
                raw[provider] = sdk_client(provider)
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
                        failures.append(
                            f"line {entry.line}: {type(exc).__name__}: {_one_line(exc)}"
                        )
                    else:
                        info = cache_info(result)
                        if info is not None and info.hit:
                            outcome = "already cached"
                        else:
                            outcome = "stored" if counted.snapshot()["stores"] else "not stored"
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
    settings(args)
    entries = read_recorded(args.file)
    return run(_warm(entries, args))


# -- aicache demo ---------------------------------------------------------------------------------


def _latency(text: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition(",")
        bounds = (float(lo), float(hi or lo))
    except ValueError:
        raise UsageError(f"--latency {text!r}: give seconds as LO,HI, e.g. 2,5") from None
    if not 0 <= bounds[0] <= bounds[1] < 600:
        raise UsageError(f"--latency {text!r}: need 0 <= LO <= HI < 600 seconds")
    return bounds


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import TRACKS
    from .demo._run import run_demo

    if not 1 <= args.tracks <= len(TRACKS):
        raise UsageError(f"--tracks must be between 1 and {len(TRACKS)}, not {args.tracks}")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    latency = _latency(args.latency)
    config = settings(args)
    return run(
        run_demo(
            config,
            tracks=args.tracks,
            fresh=args.fresh,
            concurrency=args.concurrency,
            latency=latency,
            live=args.live,
        )
    )


# -- the parser -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument("--redis", metavar="URL", help="use this Redis (overrides REDIS_URL)")
    namespaced = argparse.ArgumentParser(add_help=False)
    namespaced.add_argument(
        "--namespace", metavar="N", help="namespace (default: AI_CACHE_NAMESPACE)"
    )

    parser = argparse.ArgumentParser(
        prog="aicache",
        description="Look at and manage the aicache caches of every process on this machine "
        "(file tier) or sharing a Redis.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "stats", parents=[common], help="hits, misses and dollars saved across processes"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--reset", action="store_true", help="delete the stored fleet counters")
    p.set_defaults(run=cmd_stats)

    p = sub.add_parser("clear", parents=[common, namespaced], help="delete cached entries")
    p.add_argument("--function", metavar="F", help="only this function's entries (module.qualname)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=cmd_clear)

    p = sub.add_parser(
        "inspect", parents=[common, namespaced], help="show entries: age, TTL, size, cost"
    )
    p.add_argument("key", nargs="?", metavar="KEY", help="one full key (aicache:...)")
    p.add_argument("--function", metavar="F", help="list this function's entries")
    p.add_argument("--limit", type=int, default=50, help="list at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser(
        "warm",
        parents=[common, namespaced],
        help="replay recorded requests (JSONL) through cached clients",
        description="Replay recorded provider requests so that a new deployment starts warm. "
        'Each line of FILE is {"provider": "openai"|"anthropic"|"gemini", "method": '
        '"chat.completions.create", "kwargs": {...}}. Clients are made from the usual '
        "variables (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...).",
    )
    p.add_argument("file", metavar="FILE.jsonl", help="recorded requests, one JSON object a line")
    p.add_argument("--ttl", type=float, metavar="SECONDS", help="entry ttl (default: configured)")
    p.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests at once (default 4)"
    )
    p.add_argument("--refresh", action="store_true", help="call again even when already cached")
    p.set_defaults(run=cmd_warm)

    p = sub.add_parser(
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
        help="use the real providers whose API keys are set (costs money) instead of the simulator",
    )
    p.set_defaults(run=cmd_demo)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
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
        say(f"aicache {args.command}: error: {_one_line(exc)}", sys.stderr)
        return FAILURE


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
