"""A pytest plugin: test an LLM app offline against a cache file committed beside the test.

Loaded by pytest through the ``pytest11`` entry point. A test that asks for the
``aicache_replay`` fixture (or is marked ``@pytest.mark.usefixtures("aicache_replay")``) runs
with its own cache in a temporary directory, seeded from
``<test dir>/aicache_records/<module>/<test>.jsonl``:

- **record** (the default outside CI): hits come from the file, a miss calls the provider, and
  afterwards the file holds every entry the test used, each with the request that made it;
- **replay** (the default when ``CI`` is true): hits come from the file, and a miss fails the
  test with :class:`aicache.ReplayMiss` naming the call; nothing reaches the provider.

``AI_CACHE_MODE=record`` or ``=replay`` (or ``pytest --aicache-mode``) picks the mode outright;
``@pytest.mark.aicache_replay(file="name.jsonl")`` names another file beside the test. See
``docs/testing.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ._config import CacheConfig, configure, get_config
from ._keys import KEY_PREFIX
from ._records import export_entries, import_entries, read_lines
from ._shared import close
from .backends import build_backends

__all__ = ["Replay", "aicache_replay", "records_file"]

T = TypeVar("T")
FOLDER = "aicache_records"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_TRUE = ("1", "true", "yes", "on")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--aicache-mode",
        choices=("auto", "record", "replay"),
        default=None,
        help="aicache_replay fixture: record misses, or replay only (default: replay when CI "
        "is set, else record; AI_CACHE_MODE=record|replay also chooses)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "aicache_replay(file=None): the records file of the aicache_replay fixture, relative "
        "to the test's directory",
    )


@dataclass(frozen=True)
class Replay:
    """What the ``aicache_replay`` fixture gives the test: its mode and its records file."""

    mode: str  # "record" or "replay"
    file: Path
    cache_dir: Path


def records_file(item: pytest.Item) -> Path:
    """``<test dir>/aicache_records/<module>/<test name>.jsonl``, or the marker's ``file``."""
    marker = item.get_closest_marker("aicache_replay")
    folder = item.path.parent
    named = marker.kwargs.get("file") if marker is not None else None
    if named:
        return folder / str(named)
    return folder / FOLDER / item.path.stem / f"{_UNSAFE.sub('_', item.name).strip('_')}.jsonl"


def _mode(config: pytest.Config) -> str:
    chosen = config.getoption("--aicache-mode", default=None)
    if chosen in ("record", "replay"):
        return str(chosen)
    env = os.environ.get("AI_CACHE_MODE", "").strip().lower()
    if env in ("record", "replay"):
        return env
    return "replay" if os.environ.get("CI", "").strip().lower() in _TRUE else "record"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on an event loop of its own, in a thread: the test's loop may be running."""
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, name="aicache-replay")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def _seed(config: CacheConfig, lines: list[bytes]) -> None:
    tiers = build_backends("file", config)
    try:
        await import_entries(
            tiers, lines, secret=config.secret, max_entry_bytes=config.max_entry_bytes
        )
    finally:
        for tier in tiers:
            await tier.close()


async def _collect(config: CacheConfig) -> list[bytes]:
    tiers = build_backends("file", config)
    try:
        found = await export_entries(
            tiers,
            f"{KEY_PREFIX}:",
            secret=config.secret,
            max_entry_bytes=config.max_entry_bytes,
            previous=config.secret_previous,
        )
        return found.lines
    finally:
        for tier in tiers:
            await tier.close()


@pytest.fixture
def aicache_replay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replay]:
    """Run the test against its committed records file: record misses, or replay only (CI)."""
    mode = _mode(request.config)
    path = records_file(request.node)
    saved = get_config()
    config = saved.replace(
        backend="file",
        redis_url=None,
        cache_dir=tmp_path / "aicache-replay",
        enabled=True,
        mode=mode,
        ttl=None,  # recorded answers do not go stale
    )
    before = read_lines(path.read_bytes()) if path.exists() else []
    _run(_seed(config, before))
    configure(config)
    try:
        yield Replay(mode, path, config.cache_dir)
    finally:
        with contextlib.suppress(Exception):  # the test's loop may be gone: nothing to flush
            _run(close())
        configure(saved)
    if mode == "record":
        after = _run(_collect(config))
        if after != before and after:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(line + b"\n" for line in after))
