"""``mypy --strict`` on a sample: ``@ai_cached`` keeps the decorated function's signature."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("decorated_sample.py")


def test_decorated_functions_keep_their_signature_for_mypy(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    run = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--no-incremental"),
            *("--cache-dir", str(tmp_path), "--config-file", str(ROOT / "pyproject.toml")),
            "--follow-imports=silent",
            str(SAMPLE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = run.stdout.splitlines()
    mine = [line for line in lines if line.startswith(str(SAMPLE)) or "decorated_sample" in line]
    errors = [line for line in mine if ": error:" in line]
    assert not errors, "\n".join(mine)
    revealed = [
        line.split("Revealed type is ", 1)[1].replace("builtins.", "")
        for line in mine
        if "Revealed type" in line
    ]
    assert revealed == [
        '"aicache._decorator.CachedFunction[[features: dict[str, float], kind: str =], list[str]]"',
        '"aicache._decorator.CachedFunction[[text: str, *, strict: bool =], dict[str, str]]"',
    ], run.stdout
