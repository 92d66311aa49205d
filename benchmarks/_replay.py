"""Workload replay (placeholder until the simulator and cached clients land)."""

from __future__ import annotations

from ._common import Env, Mode, Results

__all__ = ["run"]


async def run(env: Env, mode: Mode, results: Results) -> None:
    results.notes.append("Workload replay not measured yet.")
