"""Settings: every environment variable, clear errors, defaults, and nothing read at import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import aicache
from aicache import CacheConfig, ConfigError
from aicache._config import _ENV, get_config

# One valid value per variable, and the setting it must produce.
VALID: dict[str, tuple[str, str, Any]] = {
    "AI_CACHE_ENABLED": ("false", "enabled", False),
    "AI_CACHE_BACKEND": ("Memory", "backend", "memory"),
    "AI_CACHE_TTL_HOURS": ("1.5", "ttl", 5400.0),
    "AI_CACHE_DIR": ("/tmp/aicache-x", "cache_dir", Path("/tmp/aicache-x")),
    "AI_CACHE_NAMESPACE": ("tenant-2.v1", "namespace", "tenant-2.v1"),
    "REDIS_URL": ("redis://127.0.0.1:6390/2", "redis_url", "redis://127.0.0.1:6390/2"),
    "AI_CACHE_SECRET": ("s3cret", "secret", b"s3cret"),
    "AI_CACHE_SECRET_PREVIOUS": ("old,older", "secret_previous", (b"old", b"older")),
    "AI_CACHE_REDIS_TIMEOUT_MS": ("250", "redis_timeout", 0.25),
    "AI_CACHE_REDIS_CONNECT_TIMEOUT_MS": ("500", "redis_connect_timeout", 0.5),
    "AI_CACHE_REDIS_MAX_CONNECTIONS": ("8", "redis_max_connections", 8),
    "AI_CACHE_REDIS_MODE": ("Cluster", "redis_mode", "cluster"),
    "AI_CACHE_REDIS_MAX_TTL_HOURS": ("2", "redis_max_ttl", 7200.0),
    "AI_CACHE_COOLDOWN_S": ("0", "cooldown", 0.0),
    "AI_CACHE_MEMORY_MAX_ENTRIES": ("100", "memory_max_entries", 100),
    "AI_CACHE_MEMORY_MAX_MB": ("2", "memory_max_bytes", 2 * 1024 * 1024),
    "AI_CACHE_FILE_MAX_MB": ("0.5", "file_max_bytes", 512 * 1024),
    "AI_CACHE_MAX_ENTRY_BYTES": ("4096", "max_entry_bytes", 4096),
    "AI_CACHE_LOCK": ("on", "lock", True),
    "AI_CACHE_LOCK_LEASE_S": ("2.5", "lock_lease", 2.5),
    "AI_CACHE_LOCK_WAIT_S": ("30", "lock_wait", 30.0),
    "AI_CACHE_PRICES": ("/etc/prices.json", "prices_file", Path("/etc/prices.json")),
}

# Values each variable must refuse (variables that take any text have none).
INVALID: list[tuple[str, str]] = [
    ("AI_CACHE_ENABLED", "maybe"),
    ("AI_CACHE_BACKEND", "memcached"),
    ("AI_CACHE_TTL_HOURS", "abc"),
    ("AI_CACHE_TTL_HOURS", "0"),
    ("AI_CACHE_TTL_HOURS", "-1"),
    ("AI_CACHE_TTL_HOURS", "nan"),
    ("AI_CACHE_TTL_HOURS", "inf"),
    ("AI_CACHE_NAMESPACE", "two words"),
    ("AI_CACHE_NAMESPACE", "a:b"),
    ("REDIS_URL", "localhost:6379"),
    ("AI_CACHE_REDIS_TIMEOUT_MS", "-5"),
    ("AI_CACHE_REDIS_CONNECT_TIMEOUT_MS", "fast"),
    ("AI_CACHE_REDIS_MAX_CONNECTIONS", "0"),
    ("AI_CACHE_REDIS_MODE", "shard"),
    ("AI_CACHE_REDIS_MAX_TTL_HOURS", "0"),
    ("REDIS_URL", "redis+sentinel://s1:26379"),
    ("AI_CACHE_REDIS_MAX_CONNECTIONS", "2.5"),
    ("AI_CACHE_COOLDOWN_S", "-1"),
    ("AI_CACHE_MEMORY_MAX_ENTRIES", "lots"),
    ("AI_CACHE_MEMORY_MAX_MB", "0"),
    ("AI_CACHE_FILE_MAX_MB", "x"),
    ("AI_CACHE_MAX_ENTRY_BYTES", "-1"),
    ("AI_CACHE_LOCK", "2"),
    ("AI_CACHE_LOCK_LEASE_S", "0"),
    ("AI_CACHE_LOCK_WAIT_S", "soon"),
]


def test_every_environment_variable_has_a_case_here() -> None:
    assert set(VALID) == set(_ENV)


@pytest.mark.parametrize("var", sorted(VALID))
def test_from_env_reads_each_variable(var: str) -> None:
    raw, attribute, expected = VALID[var]
    needs = {"AI_CACHE_SECRET": "s3cret"} if var == "AI_CACHE_SECRET_PREVIOUS" else {}
    config = CacheConfig.from_env({var: raw, **needs})
    assert getattr(config, attribute) == expected
    assert getattr(CacheConfig.from_env({var: f"  {raw} ", **needs}), attribute) == expected


def test_from_env_reads_all_variables_together() -> None:
    config = CacheConfig.from_env({var: raw for var, (raw, _, _) in VALID.items()})
    for raw, attribute, expected in VALID.values():
        assert getattr(config, attribute) == expected, raw


@pytest.mark.parametrize(("var", "raw"), INVALID)
def test_a_bad_value_names_its_variable(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        CacheConfig.from_env({var: raw})
    assert var in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", "0", "false", "No", "off"])
def test_booleans_take_the_usual_spellings(raw: str) -> None:
    expected = raw.lower() in ("1", "true", "yes", "on")
    assert CacheConfig.from_env({"AI_CACHE_ENABLED": raw}).enabled is expected


def test_empty_variables_mean_the_default() -> None:
    config = CacheConfig.from_env({"AI_CACHE_TTL_HOURS": "", "AI_CACHE_BACKEND": "  "})
    assert config.ttl == 168 * 3600
    assert config.backend == "auto"


def test_defaults() -> None:
    config = CacheConfig.from_env({})
    assert config.ttl == 168 * 3600.0  # AI_CACHE_TTL_HOURS defaults to 168
    assert config.enabled is True
    assert config.backend == "auto"
    assert config.namespace == "default"
    assert config.redis_url is None
    assert config.secret is None
    assert config == CacheConfig()


@pytest.mark.parametrize(
    ("var", "attribute"), [("AI_CACHE_DIR", "cache_dir"), ("AI_CACHE_PRICES", "prices_file")]
)
def test_paths_from_the_environment_expand_the_home_directory(
    var: str, attribute: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert getattr(CacheConfig.from_env({var: "~/x"}), attribute) == Path("/home/someone/x")


def test_default_cache_dir_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg")
    assert CacheConfig().cache_dir == Path("/tmp/xdg/aicache")


def test_overrides_win_over_the_environment() -> None:
    config = CacheConfig.from_env({"AI_CACHE_TTL_HOURS": "1"}, ttl=30.0, backend="memory")
    assert (config.ttl, config.backend) == (30.0, "memory")


@pytest.mark.parametrize(
    "changes",
    [
        {"backend": "disk"},
        {"ttl": 0},
        {"namespace": "a b"},
        {"cooldown": -1},
        {"memory_max_entries": 0},
        {"redis_timeout": 0},
        {"redis_url": "127.0.0.1:6379"},
    ],
)
def test_settings_given_in_code_are_checked_too(changes: dict[str, Any]) -> None:
    option = next(iter(changes))
    with pytest.raises(ConfigError, match=option):
        CacheConfig(**changes)


def test_configure_changes_and_restores_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_CACHE_TTL_HOURS", "2")
    aicache.configure()  # back to the environment
    assert get_config().ttl == 7200.0
    aicache.configure(ttl=60.0, namespace="n1")
    assert (get_config().ttl, get_config().namespace) == (60.0, "n1")
    aicache.configure(CacheConfig(ttl=5.0))
    assert (get_config().ttl, get_config().namespace) == (5.0, "default")
    aicache.configure()
    assert get_config().ttl == 7200.0


_IMPORT_PROBE = textwrap.dedent(
    """
    import asyncio
    import aicache

    @aicache.ai_cached(backend="memory")
    async def f(x: int) -> int:
        return x

    print("imported and decorated", flush=True)
    try:
        asyncio.run(f(1))
    except aicache.ConfigError as exc:
        print("first use:", exc)
    """
)


def test_settings_are_not_read_at_import() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_CACHE_")}
    env["AI_CACHE_TTL_HOURS"] = "soon"
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "imported and decorated"
    assert lines[1].startswith("first use:")
    assert "AI_CACHE_TTL_HOURS" in lines[1] and "'soon'" in lines[1]
