"""Record and replay: ``AI_CACHE_MODE=record`` keeps each entry's request, ``=replay`` raises
:class:`aicache.ReplayMiss` naming the call instead of calling, and the records file moves
entries between caches (real file tiers, signed and unsigned)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

import aicache
from aicache import CacheConfig, ConfigError, ReplayMiss, ai_cached
from aicache._records import BadRecord, export_entries, import_entries
from aicache.backends import FileBackend


def _counting() -> tuple[Any, list[Any]]:
    calls: list[Any] = []

    @ai_cached(name="replay.describe")
    async def describe(track: str, tempo: int = 120) -> dict[str, Any]:
        calls.append(track)
        return {"track": track, "tempo": tempo}

    return describe, calls


async def _lines(directory: Path, secret: bytes | None = None) -> list[bytes]:
    tier = FileBackend(directory)
    found = await export_entries(
        [tier], "aicache:", secret=secret, max_entry_bytes=CacheConfig().max_entry_bytes
    )
    return found.lines


def test_mode_is_a_setting_and_a_variable() -> None:
    assert CacheConfig.from_env({"AI_CACHE_MODE": "Replay"}).mode == "replay"
    with pytest.raises(ConfigError, match="AI_CACHE_MODE"):
        CacheConfig.from_env({"AI_CACHE_MODE": "rewind"})
    with pytest.raises(ConfigError, match="mode"):
        CacheConfig(mode="rewind")


async def test_replay_mode_miss_raises_naming_the_call(tmp_path: Path) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path, mode="replay")
    describe, calls = _counting()
    with pytest.raises(ReplayMiss) as caught:
        await describe("Blue Monday", tempo=130)
    message = str(caught.value)
    assert "replay.describe" in message
    assert describe.cache.key("Blue Monday", tempo=130) in message
    assert "AI_CACHE_MODE=record" in message
    assert calls == []
    with pytest.raises(ReplayMiss):  # a bypass would reach the provider too
        await describe("Blue Monday", bypass_cache=True)
    assert calls == []
    assert aicache.stats.snapshot()["functions"]["replay.describe"]["replay_misses"] == 2


async def test_record_mode_keeps_the_request_and_replay_serves_it(tmp_path: Path) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path, mode="record")
    describe, calls = _counting()
    await describe("Blue Monday", tempo=130)
    (line,) = await _lines(tmp_path)
    record = orjson.loads(line)
    assert record["key"] == describe.cache.key("Blue Monday", tempo=130)
    assert record["request"]["function"] == "replay.describe"
    assert record["request"]["arguments"] == {"track": "Blue Monday", "tempo": 130}
    assert record["value"] == {"track": "Blue Monday", "tempo": 130}
    aicache.configure(mode="replay")
    assert await describe("Blue Monday", tempo=130) == {"track": "Blue Monday", "tempo": 130}
    assert calls == ["Blue Monday"]


async def test_normal_mode_stores_no_request(tmp_path: Path) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path)
    describe, _ = _counting()
    await describe("x")
    (line,) = await _lines(tmp_path)
    assert orjson.loads(line)["request"] is None


async def test_records_move_entries_between_caches(tmp_path: Path) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path / "a", mode="record")
    describe, calls = _counting()
    for track in ("b", "a", "c"):
        await describe(track)
    lines = await _lines(tmp_path / "a")
    assert [orjson.loads(x)["key"] for x in lines] == sorted(orjson.loads(x)["key"] for x in lines)
    done = await import_entries(
        [FileBackend(tmp_path / "b")], lines, secret=None, max_entry_bytes=1 << 20
    )
    assert done.stored == 3
    aicache.configure(cache_dir=tmp_path / "b", mode="replay")
    assert [await describe(t) for t in "abc"] == [{"track": t, "tempo": 120} for t in "abc"]
    assert calls == ["b", "a", "c"]
    assert await _lines(tmp_path / "b") == lines  # the same file, byte for byte


async def test_signed_records_refuse_edited_or_foreign_lines(tmp_path: Path) -> None:
    secret = b"s3cret"
    aicache.configure(backend="file", cache_dir=tmp_path / "a", secret=secret, mode="record")
    describe, _ = _counting()
    await describe("x")
    (line,) = await _lines(tmp_path / "a", secret)
    assert "sig" in orjson.loads(line)
    target = [FileBackend(tmp_path / "b")]
    edited = line.replace(b'"tempo":120', b'"tempo":121')
    assert edited != line
    for bad, why in (
        (edited, "signature"),
        (orjson.dumps({k: v for k, v in orjson.loads(line).items() if k != "sig"}), "not signed"),
        (b"{not json", "not JSON"),
    ):
        with pytest.raises(BadRecord, match=f"line 1: .*{why}"):
            await import_entries(target, [bad], secret=secret, max_entry_bytes=1 << 20)
    with pytest.raises(BadRecord, match="signature"):
        await import_entries(target, [line], secret=b"other", max_entry_bytes=1 << 20)
    assert [k async for k in target[0].keys("aicache:")] == []
    done = await import_entries(target, [line], secret=secret, max_entry_bytes=1 << 20)
    assert done.stored == 1


async def test_import_leaves_out_expired_entries_unless_given_a_ttl(tmp_path: Path) -> None:
    aicache.configure(backend="file", cache_dir=tmp_path / "a", ttl=60.0)
    describe, _ = _counting()
    await describe("x")
    (line,) = await _lines(tmp_path / "a")
    record = orjson.loads(line)
    record["expires"] = record["created"] - 1  # recorded long ago
    old = orjson.dumps(record)
    target = [FileBackend(tmp_path / "b")]
    done = await import_entries(target, [old], secret=None, max_entry_bytes=1 << 20)
    assert (done.stored, done.skipped) == (0, {"expired": 1})
    done = await import_entries(target, [old], secret=None, max_entry_bytes=1 << 20, ttl=30)
    assert done.stored == 1


def test_a_line_must_hold_an_aicache_entry() -> None:
    good = {"key": "aicache:ns:f:00", "type": None, "value": 1, "created": 1.0}
    for bad in (
        {**good, "key": "other:ns:f:00"},
        {**good, "created": "yesterday"},
        {k: v for k, v in good.items() if k != "value"},
        {**good, "type": 3},
    ):
        with pytest.raises(BadRecord):
            asyncio.run(
                import_entries([], [orjson.dumps(bad)], secret=None, max_entry_bytes=1 << 20)
            )
