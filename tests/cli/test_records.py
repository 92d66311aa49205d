"""``aicache export`` and ``aicache import`` as subprocesses, on real file tiers."""

from __future__ import annotations

import json
from typing import Any


def _one_line_error(done: Any, code: int, *words: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0]


def test_export_then_import_moves_entries_with_their_requests(shell: Any) -> None:
    shell.env["AI_CACHE_MODE"] = "record"
    shell.workload(3)  # classify(0), classify(1), classify(2), describe("once")
    records = shell.workdir / "records.jsonl"
    done = shell.aicache("export", str(records))
    assert done.returncode == 0, done.stderr
    assert "exported 4 entries under aicache:default:*" in done.stderr
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert [x["key"] for x in lines] == sorted(x["key"] for x in lines)
    asked = sorted(
        json.dumps(x["request"]["arguments"])
        for x in lines
        if x["request"]["function"] == "workload.classify"
    )
    assert asked == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert {x["cost"] for x in lines} == {0.25, None}

    _one_line_error(shell.aicache("export", str(records)), 2, "--force")

    shell.env["AI_CACHE_DIR"] = str(shell.workdir / "other")
    done = shell.aicache("import", str(records))
    assert done.returncode == 0, done.stderr
    assert "imported 4 entries" in done.stdout
    again = shell.workdir / "again.jsonl"
    assert shell.aicache("export", str(again)).returncode == 0
    assert again.read_bytes() == records.read_bytes()  # the same entries, byte for byte


def test_import_with_a_secret_refuses_unsigned_or_edited_lines(shell: Any) -> None:
    shell.env["AI_CACHE_SECRET"] = "first"
    shell.workload(1)
    records = shell.workdir / "records.jsonl"
    assert shell.aicache("export", str(records)).returncode == 0
    assert all("sig" in json.loads(x) for x in records.read_text().splitlines())
    shell.env["AI_CACHE_DIR"] = str(shell.workdir / "other")
    shell.env["AI_CACHE_SECRET"] = "second"
    _one_line_error(shell.aicache("import", str(records)), 2, "line 1", "signature")
    shell.env["AI_CACHE_SECRET"] = "first"
    edited = shell.workdir / "edited.jsonl"
    edited.write_text(records.read_text().replace('"genre":"house"', '"genre":"jazz"'))
    assert edited.read_text() != records.read_text()
    _one_line_error(shell.aicache("import", str(edited)), 2, "signature")
    done = shell.aicache("import", str(edited), "--skip-bad")
    assert done.returncode == 0 and "left out: 1 bad line" in done.stdout
    assert "imported 1 entries" in done.stdout  # describe("once"), untouched
