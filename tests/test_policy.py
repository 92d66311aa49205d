"""The cache's decisions (freshness, serving, refreshing, copying up, storing, lifetimes): pure
functions of an entry, a policy and the time, tested without an event loop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import CacheConfig, ConfigError, ai_cached
from aicache._envelope import Entry
from aicache._policy import (
    Freshness,
    Policy,
    backfill_ttl,
    freshness,
    lifetimes,
    refresh_in_background,
    seconds,
    servable,
    worth_storing,
)

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


LABEL = ("f", "", "")


@pytest.mark.parametrize(
    ("state", "allow_stale", "expected"),
    [
        (Freshness.FRESH, False, True),
        (Freshness.FRESH, True, True),
        (Freshness.STALE, True, True),
        (Freshness.STALE, False, False),
        (Freshness.EXPIRED, True, False),
        (Freshness.EXPIRED, False, False),
    ],
)
def test_servable_serves_fresh_and_only_allowed_stale_entries(
    state: Freshness, allow_stale: bool, expected: bool
) -> None:
    assert servable(state, allow_stale) is expected


@pytest.mark.parametrize(
    ("write", "in_flight", "expected"),
    [
        (True, False, True),
        (False, False, False),  # cache_control(write=False): a refresh could not store
        (True, True, False),  # a call for the key is already on its way
    ],
)
def test_refresh_in_background_only_when_it_can_store_and_nothing_is_on_its_way(
    write: bool, in_flight: bool, expected: bool
) -> None:
    assert refresh_in_background(write, in_flight) is expected


def test_backfill_ttl_is_what_is_left_of_the_entry_stale_window_included() -> None:
    expires, stale_until, _ = lifetimes(NOW, 100.0, 50.0)
    entry = Entry("v", created=NOW, expires=expires, stale_until=stale_until)
    assert backfill_ttl(entry, NOW + 30) == (True, 120.0)
    assert backfill_ttl(entry, NOW + 120) == (True, 30.0)  # stale, still worth a copy
    assert backfill_ttl(entry, NOW + 150)[0] is False  # gone: no copy
    without_stale = Entry("v", created=NOW, expires=NOW + 10)
    assert backfill_ttl(without_stale, NOW + 4) == (True, 6.0)


def test_backfill_ttl_of_an_entry_without_expiry_is_until_evicted() -> None:
    assert backfill_ttl(Entry("v", created=NOW), NOW + 1e9) == (True, None)


def test_worth_storing_follows_should_cache() -> None:
    assert worth_storing("anything", Policy(LABEL, 60.0)) is True
    picky = Policy(LABEL, 60.0, should_cache=lambda v: v != "refusal")
    assert worth_storing("answer", picky) is True
    assert worth_storing("refusal", picky) is False
    assert worth_storing(0, Policy(LABEL, 60.0, should_cache=lambda v: v)) is False  # falsy


def test_worth_storing_lets_should_cache_errors_through_for_the_core_to_log() -> None:
    def broken(value: Any) -> bool:
        raise RuntimeError("bug in predicate")

    with pytest.raises(RuntimeError, match="bug in predicate"):
        worth_storing("x", Policy(LABEL, 60.0, should_cache=broken))
