"""The benchmark script's smallest mode runs every family and writes its results files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="the benchmarks start their own redis-server"
)


def test_smoke_run_writes_report_chart_and_figures(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [md] = tmp_path.glob("*-smoke.md")
    assert md.with_suffix(".png").stat().st_size > 0
    figures = json.loads(md.with_suffix(".json").read_text())
    assert figures["mode"] == "smoke"
    assert figures["errors"] == {}, figures["errors"]
    names = {h["name"] for h in figures["hits"]}
    assert {"aicache memory", "floor: hand-written decorator (key + dict lookup)"} <= names
    assert {"cashews mem (default, protected)", "aiocache memory"} <= names
    assert all(h["sample"]["calls"] > 0 for h in figures["hits"])
    in_process = {s["name"]: s for s in figures["stampede"] if s["how"] == "in-process"}
    assert in_process["aicache memory"]["ran"] == 1
    assert in_process["aiocache memory"]["ran"] == in_process["aiocache memory"]["n"]
    assert {o["scenario"] for o in figures["outage"]} == {"refused (stopped)", "hung (SIGSTOP)"}
    text = md.read_text()
    for heading in ("## Machine", "## Versions", "## Targets", "## Hit cost per call"):
        assert heading in text
    assert "SMOKE run" in text
    assert "| aicache memory |" in proc.stdout  # the table is printed too
