"""Tiers by name: one table that ``backend=``, ``AI_CACHE_BACKEND`` and the builder all read."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicache import CacheConfig, ConfigError
from aicache.backends import BACKEND_NAMES, TIERS, named_backend


def test_backend_names_derive_from_the_tier_table() -> None:
    assert ("auto", *TIERS) == BACKEND_NAMES
    assert set(TIERS) == {"memory", "file", "redis"}


@pytest.mark.parametrize("name", list(TIERS))
def test_every_tier_in_the_table_is_a_setting_and_builds_its_tier(
    name: str, tmp_path: Path
) -> None:
    config = CacheConfig(backend=name, cache_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    tier = named_backend(name, config)
    assert tier.name == name


def test_an_unknown_tier_name_lists_the_table() -> None:
    with pytest.raises(ConfigError, match="'memory', 'file', 'redis'"):
        named_backend("disk", CacheConfig())
    with pytest.raises(ConfigError, match="backend must be one of"):
        CacheConfig(backend="disk")
