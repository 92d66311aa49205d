"""``aicache import``: write the entries of a file made by ``aicache export`` into the tiers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._console import say
from .._policy import seconds
from .._records import BadRecord, import_entries, read_lines
from ._common import FAILURE, OK, UsageError, open_tiers, run, settings

__all__ = ["cmd_import"]


def cmd_import(args: argparse.Namespace) -> int:
    config = settings(args)
    ttl = None
    if args.ttl is not None:
        try:
            ttl = seconds("--ttl", args.ttl)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    source = Path(args.file)
    try:
        text = sys.stdin.buffer.read() if args.file == "-" else source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    lines = read_lines(text)

    async def go() -> tuple[int, dict[str, int], str | None]:
        tiers = await open_tiers(config)
        try:
            if not tiers.reachable:
                raise RuntimeError(f"no tier could be reached ({tiers.warning()})")
            done = await import_entries(
                tiers.reachable,
                lines,
                secret=config.secret,
                max_entry_bytes=config.max_entry_bytes,
                ttl=ttl,
                strict=not args.skip_bad,
            )
            return done.stored, done.skipped, tiers.warning()
        finally:
            await tiers.close()

    try:
        stored, skipped, warning = run(go())
    except BadRecord as exc:
        raise UsageError(f"{args.file}: {exc}; nothing after it was imported") from None
    left_out = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
    say(
        f"imported {stored} entries from {args.file}"
        + (f"; left out: {left_out}" if left_out else "")
    )
    if warning:
        say(f"aicache import: {warning}", sys.stderr)
        return FAILURE
    return OK
