"""Freshness and lifetimes: pure functions of an entry and the time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import CacheConfig, ConfigError, ai_cached
from aicache._envelope import Entry
from aicache._policy import Freshness, freshness, lifetimes, seconds

NOW = 1_700_000_000.0
durations = st.floats(min_value=0.001, max_value=1e7)


@settings(max_examples=100, deadline=None)
@given(durations, st.none() | st.just(0.0) | durations, st.floats(0, 3e7))
def test_an_entry_is_fresh_then_stale_then_expired(
    ttl: float, stale_ttl: float | None, elapsed: float
) -> None:
    expires, stale_until, storage_ttl = lifetimes(NOW, ttl, stale_ttl)
    entry = Entry("v", created=NOW, expires=expires, stale_until=stale_until)
    state = freshness(entry, NOW + elapsed)
    window = stale_ttl or 0.0
    if NOW + elapsed < NOW + ttl:
        assert state is Freshness.FRESH
    elif NOW + elapsed < NOW + ttl + window:
        assert state is Freshness.STALE
    else:
        assert state is Freshness.EXPIRED
    # Tiers keep the entry for its ttl plus its stale window, never less.
    assert storage_ttl == pytest.approx(ttl + window)


def test_no_ttl_means_fresh_forever() -> None:
    assert lifetimes(NOW, None, None) == (None, None, None)
    assert lifetimes(NOW, None, 60.0) == (None, None, None)
    assert freshness(Entry("v", created=0.0), 1e12) is Freshness.FRESH


def test_expiry_is_exclusive() -> None:
    entry = Entry("v", created=NOW, expires=NOW + 10, stale_until=NOW + 20)
    assert freshness(entry, NOW + 9.999) is Freshness.FRESH
    assert freshness(entry, NOW + 10) is Freshness.STALE
    assert freshness(entry, NOW + 20) is Freshness.EXPIRED


@pytest.mark.parametrize(
    ("given_", "expected"),
    [(1, 1.0), (2.5, 2.5), (timedelta(hours=2), 7200.0), (timedelta(milliseconds=5), 0.005)],
)
def test_seconds_takes_numbers_and_timedeltas(given_: Any, expected: float) -> None:
    assert seconds("ttl", given_) == expected


@pytest.mark.parametrize(
    "bad",
    [0, -1, float("nan"), float("inf"), True, "60", timedelta(0), timedelta(seconds=-1), [60]],
)
def test_seconds_refuses_what_is_not_a_positive_finite_duration(bad: Any) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        seconds("ttl", bad)


def test_seconds_none_means_no_expiry_unless_refused() -> None:
    assert seconds("ttl", None) is None
    with pytest.raises(ConfigError, match="stale_ttl"):
        seconds("stale_ttl", None, allow_none=False)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 0, -5])
def test_configured_ttl_must_be_a_positive_finite_number(bad: float) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        CacheConfig(ttl=bad)


def test_decorator_ttl_and_stale_ttl_are_checked() -> None:
    async def f() -> None:
        return None

    with pytest.raises(ConfigError, match="stale_ttl"):
        ai_cached(stale_ttl=-1)(f)
    with pytest.raises(ConfigError, match="ttl"):
        ai_cached(ttl=float("inf"))(f)
    assert ai_cached(ttl=None)(f) is not None  # None: until evicted
