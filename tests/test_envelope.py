"""The stored entry format: round trips, and every kind of bad or tampered bytes is a BadEntry."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicache._envelope import (
    COMPRESS_OVER,
    VERSION,
    BadEntry,
    Entry,
    EntryTooLarge,
    TamperedEntry,
    decode,
    encode,
    payload_at,
    reload,
)

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KEY = "aicache:default:mod.fn:" + "ab" * 32
SECRET = b"a secret of some length"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=8,
)
numbers = st.floats(min_value=0, max_value=2e9, allow_nan=False)
entries = st.builds(
    Entry,
    payload=json_values,
    tag=st.none() | st.text(max_size=20),
    created=numbers,
    expires=st.none() | numbers,
    stale_until=st.none() | numbers,
    duration=numbers,
    cost=st.none() | numbers,
    usage=st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)

FULL = Entry(
    payload={"text": "hi", "items": [1, 2.5, None, True]},
    tag="openai:ChatCompletion",
    created=1_700_000_000.5,
    expires=1_700_003_600.5,
    stale_until=1_700_007_200.5,
    duration=1.25,
    cost=0.0031,
    usage={"provider": "openai", "model": "gpt-x", "tokens": {"input": 10, "output": 5}},
)


@pytest.mark.parametrize("secret", [None, SECRET], ids=["plain", "signed"])
def test_an_entry_round_trips(secret: bytes | None) -> None:
    assert decode(KEY, encode(KEY, FULL, secret), secret) == FULL
    assert decode(KEY, encode(KEY, Entry(None), secret), secret) == Entry(None)


@SETTINGS
@given(entries, st.sampled_from([None, SECRET]))
def test_any_entry_round_trips(entry: Entry, secret: bytes | None) -> None:
    assert decode(KEY, encode(KEY, entry, secret), secret) == entry


def test_the_format_is_versioned() -> None:
    data = encode(KEY, FULL)
    assert data.startswith(b"aic1:")
    assert orjson.loads(data[5:])[0] == VERSION == 1


def _body(*fields: Any) -> bytes:
    return b"aic1:" + orjson.dumps(list(fields))


GOOD = [1, None, 1.0, None, None, 0.0, None, None, {"p": 1}]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage that is long enough", id="garbage"),
        pytest.param(b"aic2:" + orjson.dumps(GOOD), id="next-prefix"),
        pytest.param(_body(2, *GOOD[1:]), id="wrong-version"),
        pytest.param(_body("1", *GOOD[1:]), id="version-as-text"),
        pytest.param(_body(*GOOD[:-1]), id="field-missing"),
        pytest.param(_body(*GOOD, {"request": 1}, "extra"), id="field-extra"),
        pytest.param(
            b"aic1:" + orjson.dumps(dict(enumerate(GOOD)), option=orjson.OPT_NON_STR_KEYS),
            id="object",
        ),
        pytest.param(b"aic1:" + orjson.dumps("x" * 9), id="nine-char-string"),
        pytest.param(_body(1, None, "yesterday", *GOOD[3:]), id="created-not-a-number"),
        pytest.param(_body(1, None, True, *GOOD[3:]), id="created-a-bool"),
        pytest.param(_body(1, None, 1.0, "soon", *GOOD[4:]), id="expires-not-a-number"),
        pytest.param(_body(1, 5, *GOOD[2:]), id="tag-not-text"),
        pytest.param(_body(*GOOD[:7], [1], GOOD[8]), id="usage-not-a-dict"),
        pytest.param(_body(*GOOD[:6], "free", *GOOD[7:]), id="cost-not-a-number"),
        pytest.param(b"aic1:[1, null, 1.0, nul", id="broken-json"),
        pytest.param(b"aic1:\xff\xfe\x00", id="not-utf8"),
        pytest.param(b"\x80\x04\x95pickle", id="pickle"),
    ],
)
def test_bytes_that_are_not_an_entry_are_bad_entries(data: bytes) -> None:
    assert decode(KEY, _body(*GOOD)) == Entry({"p": 1}, None, 1.0, None, None, 0.0)
    with pytest.raises(BadEntry):
        decode(KEY, data)


@pytest.mark.parametrize("secret", [None, SECRET], ids=["plain", "signed"])
def test_every_truncation_is_a_bad_entry(secret: bytes | None) -> None:
    data = encode(KEY, FULL, secret)
    for end in range(len(data)):
        with pytest.raises(BadEntry):
            decode(KEY, data[:end], secret)


def test_tampered_payload_is_a_tampered_entry() -> None:
    data = encode(KEY, Entry({"answer": "yes"}), SECRET)
    forged = data.replace(b'"yes"', b'"no!"')
    assert forged != data
    with pytest.raises(TamperedEntry):
        decode(KEY, forged, SECRET)


def test_an_entry_moved_to_another_key_is_a_tampered_entry() -> None:
    data = encode(KEY, FULL, SECRET)
    with pytest.raises(TamperedEntry):
        decode(KEY.replace("ab", "cd"), data, SECRET)


def test_an_unsigned_entry_in_a_signed_cache_is_a_tampered_entry() -> None:
    with pytest.raises(TamperedEntry):
        decode(KEY, encode(KEY, FULL), SECRET)


def test_an_entry_signed_with_another_secret_is_a_tampered_entry() -> None:
    with pytest.raises(TamperedEntry):
        decode(KEY, encode(KEY, FULL, b"other secret"), SECRET)


def test_a_tampered_entry_is_a_bad_entry() -> None:
    assert issubclass(TamperedEntry, BadEntry)


def test_the_signature_covers_the_metadata_too() -> None:
    data = encode(KEY, Entry("x", created=1.0, expires=2.0), SECRET)
    forged = data.replace(b",2.0,", b",9.0,")
    assert forged != data
    with pytest.raises(TamperedEntry):
        decode(KEY, forged, SECRET)


def _decodes_or_is_bad(data: bytes, secret: bytes | None) -> None:
    try:
        entry = decode(KEY, data, secret)
    except BadEntry:
        return
    assert isinstance(entry, Entry)


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from([None, SECRET]))
def test_random_bytes_are_always_a_bad_entry(data: bytes, secret: bytes | None) -> None:
    with pytest.raises(BadEntry):
        decode(KEY, data, secret)


@SETTINGS
@given(st.sampled_from([b"aic1:", b"aic1s"]), st.binary(max_size=200))
def test_random_bytes_behind_a_valid_header_never_raise_anything_else(
    head: bytes, rest: bytes
) -> None:
    _decodes_or_is_bad(head + rest, None)
    with pytest.raises(BadEntry):
        decode(KEY, head + rest, SECRET)


near_entries = st.tuples(
    st.sampled_from([1, 1.0, True, "1", 2, None]),
    st.lists(st.none() | numbers | st.text(max_size=3) | json_values, min_size=7, max_size=9),
).map(lambda t: [t[0], *t[1]])


@SETTINGS
@given(near_entries | json_values)
def test_any_json_document_behind_the_header_is_an_entry_or_a_bad_entry(doc: Any) -> None:
    _decodes_or_is_bad(b"aic1:" + orjson.dumps(doc), None)


@SETTINGS
@given(entries, st.data())
def test_corrupting_a_stored_entry_never_raises_anything_but_bad_entry(
    entry: Entry, data: st.DataObject
) -> None:
    stored = bytearray(encode(KEY, entry))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(stored) - 1))
        stored[i] = data.draw(st.integers(0, 255))
    _decodes_or_is_bad(bytes(stored), None)


# -- compression ---------------------------------------------------------------------------------

BIG = {"text": "a long and repetitive model answer " * 30_000}  # about 1 MB of JSON


@pytest.mark.parametrize("secret", [None, SECRET])
def test_large_entries_are_compressed_and_the_envelope_says_so(secret: bytes | None) -> None:
    data = encode(KEY, Entry(BIG), secret)
    assert data[:5] == (b"aic1z" if secret is None else b"aic1Z")
    assert len(data) < len(orjson.dumps(BIG)) // 20
    assert decode(KEY, data, secret).payload == BIG


def test_small_entries_are_stored_as_before() -> None:
    small = {"text": "x" * (COMPRESS_OVER - 200)}
    assert encode(KEY, Entry(small))[:5] == b"aic1:"
    assert encode(KEY, Entry(small), SECRET)[:5] == b"aic1s"


def test_a_small_entry_that_expands_to_gigabytes_is_a_bad_entry_not_an_allocation() -> None:
    body = zstandard.ZstdCompressor().compress(b"[" + b" " * (2 << 30) + b"]")
    bomb = b"aic1z" + body
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(BadEntry, match="over the limit"):
            decode(KEY, bomb, limit=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_compressed_entry_over_the_limit_is_refused_both_ways() -> None:
    data = encode(KEY, Entry(BIG))
    with pytest.raises(BadEntry, match="over the limit"):
        decode(KEY, data, limit=100_000)
    with pytest.raises(EntryTooLarge) as told:
        encode(KEY, Entry(BIG), limit=100_000)
    assert told.value.size > 100_000


@pytest.mark.parametrize("secret", [None, SECRET])
def test_every_cut_of_a_compressed_entry_is_a_bad_entry(secret: bytes | None) -> None:
    data = encode(KEY, Entry(BIG), secret)
    for end in (5, 6, 40, len(data) // 2, len(data) - 1):
        with pytest.raises(BadEntry):
            decode(KEY, data[:end], secret)


def test_a_tampered_compressed_entry_is_caught_before_it_is_inflated() -> None:
    data = bytearray(encode(KEY, Entry(BIG), SECRET))
    data[-3] ^= 1
    with pytest.raises(TamperedEntry):
        decode(KEY, bytes(data), SECRET)


def test_an_entry_keeps_its_request_as_a_tenth_item() -> None:
    asked = {"function": "f", "arguments": {"x": 1}}
    entry = Entry({"p": 1}, None, 1.0, None, None, 0.0, request=asked)
    data = encode(KEY, entry)
    assert orjson.loads(data[5:])[9] == asked
    assert decode(KEY, data).request == asked
    assert decode(KEY, encode(KEY, Entry({"p": 1}))).request is None
    assert len(orjson.loads(encode(KEY, Entry({"p": 1}))[5:])) == 9  # as before without one


@given(entry=entries, secret=st.sampled_from([None, SECRET]))
@SETTINGS
def test_reload_parses_the_payload_of_an_accepted_entry_again(
    entry: Entry, secret: bytes | None
) -> None:
    data = encode(KEY, entry, secret)
    at = payload_at(data)
    assert at is not None
    first = reload(data, at)
    assert first == decode(KEY, data, secret).payload
    if isinstance(first, dict | list) and first:
        assert reload(data, at) is not first


def test_a_compressed_entry_has_no_payload_offset() -> None:
    big = Entry(payload="x" * (COMPRESS_OVER + 1))
    assert payload_at(encode(KEY, big)) is None
    assert payload_at(encode(KEY, big, SECRET)) is None
