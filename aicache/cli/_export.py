"""``aicache export``: the entries of a namespace as a portable JSON-lines file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._console import say
from .._records import export_entries
from ._common import FAILURE, OK, UsageError, open_tiers, run, settings
from ._entries import entry_prefix

__all__ = ["cmd_export"]


def cmd_export(args: argparse.Namespace) -> int:
    config = settings(args)
    prefix = entry_prefix(config, args.function)
    target = None if args.file == "-" else Path(args.file)
    if target is not None and target.exists() and not args.force:
        raise UsageError(f"{target} exists; pass --force to replace it")

    async def go() -> tuple[list[bytes], dict[str, int], str | None]:
        tiers = await open_tiers(config)
        try:
            if not tiers.reachable:
                raise RuntimeError(f"no tier could be reached ({tiers.warning()})")
            found = await export_entries(
                tiers.reachable,
                prefix,
                secret=config.secret,
                max_entry_bytes=config.max_entry_bytes,
                previous=config.secret_previous,
            )
            return found.lines, found.skipped, tiers.warning()
        finally:
            await tiers.close()

    lines, skipped, warning = run(go())
    body = b"".join(line + b"\n" for line in lines)
    if target is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    left_out = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
    signed = " (signed)" if config.secret else ""
    where = "stdout" if target is None else str(target)
    say(
        f"exported {len(lines)} entries under {prefix}* to {where}{signed}"
        + (f"; left out: {left_out}" if left_out else ""),
        sys.stderr,
    )
    if warning:
        say(f"aicache export: {warning}", sys.stderr)
        return FAILURE
    return OK
