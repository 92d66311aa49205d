"""``aicache demo``: checks the flags, then hands over to :func:`aicache.demo.run`."""

from __future__ import annotations

import argparse

from ._common import UsageError, latency_bounds, run, settings

__all__ = ["cmd_demo"]


def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo  # the demo app loads only for this command

    if not 1 <= args.tracks <= len(demo.TRACKS):
        raise UsageError(f"--tracks must be between 1 and {len(demo.TRACKS)}, not {args.tracks}")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    latency = latency_bounds(args.latency)
    config = settings(args)
    return run(
        demo.run(
            config,
            tracks=args.tracks,
            fresh=args.fresh,
            concurrency=args.concurrency,
            latency=latency,
            live=args.live,
        )
    )
