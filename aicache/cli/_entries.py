"""``aicache clear`` and ``aicache inspect``: the entries of the shared tiers, by namespace."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from .. import _clock
from .._config import CacheConfig
from .._console import duration, money, say, size, table
from .._envelope import BadEntry, TamperedEntry, decode
from .._keys import KEY_PREFIX
from .._policy import freshness
from ..backends import Backend
from ._common import FAILURE, OK, Tiers, UsageError, namespaces_of, open_tiers, run, settings

__all__ = ["cmd_clear", "cmd_inspect"]


def _prefix(config: CacheConfig, function: str | None) -> str:
    prefix = f"{KEY_PREFIX}:{config.namespace}:"
    if function:
        if ":" in function:
            raise UsageError(f"--function {function!r}: give a module.qualname, without ':'")
        prefix += f"{function}:"
    return prefix


def _report_unreachable(command: str, tiers: Tiers) -> int:
    warning = tiers.warning()
    if warning is None:
        return OK
    say(f"aicache {command}: {warning}", sys.stderr)
    return FAILURE


# -- clear ----------------------------------------------------------------------------------------


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
        tiers = await open_tiers(config)
        try:
            code = _report_unreachable("clear", tiers)
            if not tiers.reachable:
                raise RuntimeError("no tier could be reached; nothing deleted")
            counts = await _count(tiers.reachable, prefix)
            found = ", ".join(f"{n} in {t}" for t, n in counts.items())
            if not args.yes and not _confirm(f"Delete the entries of {what} ({found})?"):
                say("nothing deleted")
                return OK
            removed = {t.name: await t.clear(prefix) for t in tiers.reachable}
        finally:
            await tiers.close()
        done = ", ".join(f"{n} from {t}" for t, n in removed.items())
        kept = ", ".join(tiers.unreachable)
        say(f"deleted the entries of {what}: {done}" + (f"; NOT from {kept}" if kept else ""))
        return code

    return run(go())


# -- inspect --------------------------------------------------------------------------------------


def _describe(key: str, tier: str, data: bytes, config: CacheConfig) -> dict[str, Any]:
    now = _clock.now()
    row: dict[str, Any] = {"key": key, "tier": tier, "size": len(data)}
    try:
        entry = decode(
            key,
            data,
            config.secret,
            previous=config.secret_previous,
            limit=config.max_entry_bytes,
        )
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


async def _rows(
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


async def _namespaces(tiers: Sequence[Backend]) -> dict[str, dict[str, int]]:
    """``{namespace: {tier: entries}}`` over every aicache key of the tiers."""
    found: dict[str, dict[str, int]] = {}
    for t in tiers:
        keys = [k async for k in t.keys(f"{KEY_PREFIX}:")]
        for namespace, n in namespaces_of(keys).items():
            found.setdefault(namespace, {})[t.name] = n
    return found


_DURATIONS = ("age_s", "ttl_s", "servable_s", "duration_s")
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
    if name in _DURATIONS:
        return duration(value)
    if name == "cost_usd":
        return money(value)
    if name == "size":
        return size(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return "-" if value is None else str(value)


def _namespace_given(args: argparse.Namespace) -> bool:
    return bool(args.namespace or os.environ.get("AI_CACHE_NAMESPACE", "").strip())


def _list_namespaces(found: dict[str, dict[str, int]], current: str) -> None:
    if not found:
        return
    held = "; ".join(
        f"{ns}{' (this one)' if ns == current else ''}: "
        + ", ".join(f"{n} in {t}" for t, n in by_tier.items())
        for ns, by_tier in sorted(found.items())
    )
    say(f"namespaces holding entries: {held}")
    if current not in found:
        say(f"look at one with --namespace, e.g. aicache inspect --namespace {min(found)}")


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
    survey = not args.key and not args.json and not _namespace_given(args)

    async def go() -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], Tiers]:
        tiers = await open_tiers(config)
        try:
            rows = await _rows(tiers.reachable, config, args.key, prefix, args.limit)
            found = await _namespaces(tiers.reachable) if survey else {}
            return rows, found, tiers
        finally:
            await tiers.close()

    rows, found, tiers = run(go())
    code = _report_unreachable("inspect", tiers)
    looked = tiers.names()
    if args.json:
        say(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return code if rows or not args.key else FAILURE
    if survey:
        _list_namespaces(found, config.namespace)
    if not rows:
        if args.key:
            raise LookupError(f"no entry under {args.key} in the tiers {looked}")
        say(f"no entries under {prefix}* in the tiers {looked}")
        return code
    if args.key:
        for row in rows:
            say(f"{row['key']}  [{row['tier']}]")
            for name, label in _DETAILS:
                if row.get(name) is not None or name in ("ttl_s", "cost_usd"):
                    say(f"  {label:<14} {_cell(name, row.get(name))}")
        return code
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
    return code
