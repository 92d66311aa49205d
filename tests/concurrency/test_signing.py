"""Signed entries, hostile stored bytes and oversized entries, through real tiers."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aicache
from aicache import AICache, Policy, ai_cached
from aicache import stats as aistats
from aicache._envelope import BadEntry, Entry, decode, encode
from aicache.backends import MemoryBackend

from .conftest import PATIENT

SECRET = "correct horse battery staple"


def _analyse() -> tuple[list[int], Any]:
    runs = [0]

    @ai_cached(backend="redis")
    async def analyse(text: str) -> dict[str, Any]:
        runs[0] += 1
        return {"label": "positive", "text": text}

    return runs, analyse


async def test_a_redis_value_edited_by_hand_is_a_miss_counted_as_tampered(
    redis_server: Any, raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    aicache.configure(redis_url=redis_server.url, secret=SECRET, **PATIENT)
    runs, analyse = _analyse()
    key = analyse.cache.key("great film")
    assert await analyse("great film") == {"label": "positive", "text": "great film"}

    stored = await raw.get(key)
    assert stored is not None and b'"positive"' in stored
    await raw.set(key, stored.replace(b'"positive"', b'"negative"'))

    with caplog.at_level(logging.WARNING, logger="aicache"):
        cache = AICache(backend="redis")
        assert await cache.lookup(key, ("t", "", ""), allow_stale=True) is None
        assert await raw.exists(key) == 0  # deleted, so it cannot be served later either
        await cache.close()
    assert "tampered" in caplog.text
    assert aistats.snapshot()["tampered"] == 1

    await raw.set(key, stored.replace(b'"positive"', b'"negative"'))
    assert await analyse("great film") == {"label": "positive", "text": "great film"}
    assert runs[0] == 2  # the forged value was never returned: the function ran again
    assert aistats.snapshot()["tampered"] == 2


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda key, e: encode(key, e), id="unsigned"),
        pytest.param(lambda key, e: encode(key, e, b"another secret"), id="wrong-secret"),
        pytest.param(lambda key, e: encode("aicache:other:key", e, SECRET.encode()), id="moved"),
    ],
)
async def test_entries_not_signed_for_this_key_with_this_secret_are_tampered(
    redis_server: Any, raw: aioredis.Redis, forge: Any
) -> None:
    aicache.configure(redis_url=redis_server.url, secret=SECRET, **PATIENT)
    runs, analyse = _analyse()
    key = analyse.cache.key("x")
    await raw.set(key, forge(key, Entry({"label": "forged", "text": "x"}, None, 0.0)))

    assert await analyse("x") == {"label": "positive", "text": "x"}
    assert runs[0] == 1
    assert aistats.snapshot()["tampered"] == 1


async def test_signed_entries_round_trip_and_unsigned_caches_still_read_them(
    redis_server: Any, raw: aioredis.Redis
) -> None:
    aicache.configure(redis_url=redis_server.url, secret=SECRET, **PATIENT)
    runs, analyse = _analyse()
    await analyse("x")
    assert (await raw.get(analyse.cache.key("x")) or b"").startswith(b"aic1s")
    assert await analyse("x") == {"label": "positive", "text": "x"}
    assert runs[0] == 1
    assert aistats.snapshot()["tampered"] == 0


# -- hostile bytes ----------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@st.composite
def _entry_like(draw: st.DrawFn) -> bytes:
    """An entry that is valid but for a few fields, which hold any JSON (or near misses)."""
    fields = [
        st.sampled_from([1, 1.0, True]),  # version
        st.sampled_from([None, "tuple", "no.such:Type"]),  # tag
        st.floats(0, 2e9),  # created
        st.none() | st.floats(allow_nan=False),  # expires
        st.none() | st.floats(allow_nan=False),  # stale_until
        st.floats(0, 1e6) | st.integers(0, 2**53),  # duration
        st.none() | st.floats(allow_nan=False, allow_infinity=False),  # cost
        st.none() | st.fixed_dictionaries({"tokens": _json}, optional={"provider": _json}),
        _json,  # payload
    ]
    broken = draw(st.sets(st.integers(0, 8), max_size=2))
    doc = [draw(_json if i in broken else f) for i, f in enumerate(fields)]
    return b"aic1:" + orjson.dumps(doc)


_hostile = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=80).map(lambda b: b"aic1:" + b),
    st.binary(max_size=80).map(lambda b: b"aic1s" + b),
    _entry_like(),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_hostile, signed=st.booleans())
def test_any_stored_bytes_are_a_miss_or_a_valid_hit_never_an_exception(
    redis_server: Any, data: bytes, signed: bool
) -> None:
    """Bytes written into the memory or Redis tier (when ``signed``, signed with the right
    secret, as a buggy writer holding it could): the call returns the function's own result
    unless the bytes are a valid entry, and nothing raises."""
    secret = SECRET.encode() if signed else None
    key = "aicache:fuzz:f:0"
    if signed and data.startswith(b"aic1:"):
        data = (
            b"aic1s" + hmac.digest(secret, key.encode() + b"\x00" + data[5:], "sha256") + data[5:]
        )
    try:
        decode(key, data, secret)
        valid = True
    except BadEntry:
        valid = False

    async def scenario() -> None:
        config = aicache.get_config().replace(redis_url=redis_server.url, secret=secret, **PATIENT)
        cache = AICache(config, backend=[MemoryBackend(), "redis"])
        try:
            for tier in cache.chain.tiers:
                await cache.chain.set(key, data, 60.0, [tier])
                result = await cache.call(key, _fresh, Policy(("fuzz", "", ""), 60.0))
                assert result == {"fresh": True} or valid
                await cache.chain.delete(key)
        finally:
            await cache.close()

    asyncio.run(scenario())


async def _fresh() -> dict[str, bool]:
    return {"fresh": True}


async def test_an_entry_over_max_entry_bytes_is_returned_but_not_stored(
    tier: str, caplog: pytest.LogCaptureFixture
) -> None:
    aicache.configure(max_entry_bytes=2_000)
    runs = 0

    @ai_cached(backend=tier)
    async def essay(size: int) -> str:
        nonlocal runs
        runs += 1
        return "x" * size

    with caplog.at_level(logging.WARNING, logger="aicache"):
        assert await essay(5_000) == "x" * 5_000
        assert await essay(5_000) == "x" * 5_000
    assert runs == 2
    assert "max_entry_bytes=2000" in caplog.text
    assert caplog.text.count("not storing it") == 1  # logged once, not per call
    snap = aistats.snapshot()
    assert (snap["not_stored"], snap["stores"]) == (2, 0)

    assert await essay(100) == "x" * 100
    assert await essay(100) == "x" * 100
    assert runs == 3
