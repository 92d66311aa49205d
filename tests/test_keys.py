"""Canonical keys: equal calls share a key, different calls never do, in every process."""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import math
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aicache import KeyBuildError, ai_cached
from aicache._errors import ConfigError
from aicache._keys import KEY_PREFIX, KeyBuilder, canonical, canonical_bytes, function_name

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- sample argument types --------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    ONE = 1
    HALF = 0.5


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    # Declared out of alphabetical order: field order must not leak into the key.
    y: Any
    x: Any


class Features(pydantic.BaseModel):
    tempo: Any
    key: Any = None


# -- a reference model of "the same call" --------------------------------------------------------


def model(v: Any) -> Any:
    """A hashable description of what a value means to a key. Two values are the same call
    exactly when their models are equal (enums stand for their value, dataclasses and pydantic
    models for their fields, tuples for lists, numpy scalars for Python numbers)."""
    if v is None:
        return ("none",)
    if isinstance(v, enum.Enum):
        return model(v.value)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, np.ndarray):
        return ("ndarray", str(v.dtype), v.shape, model(v.tolist()))
    if isinstance(v, np.generic):
        return model(v.item())
    if isinstance(v, int):
        return ("int", int(v))
    if isinstance(v, float):
        if math.isnan(v):
            return ("nan",)
        return ("float", repr(float(v)))  # repr keeps -0.0 apart from 0.0, as orjson does
    if isinstance(v, str):
        return ("str", str(v))
    if isinstance(v, bytes | bytearray):
        return ("bytes", bytes(v))
    if isinstance(v, list | tuple):
        return ("list", tuple(model(x) for x in v))
    if isinstance(v, set | frozenset):
        return ("set", frozenset(model(x) for x in v))
    if isinstance(v, dict):
        return ("dict", frozenset((model(k), model(x)) for k, x in v.items()))
    if isinstance(v, pydantic.BaseModel):
        return model(v.model_dump())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return model({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    raise AssertionError(f"no model for {type(v)}")


ints = st.integers() | st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30])
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.0, float("nan"), float("inf"), float("-inf")]
)
texts = st.text(max_size=8) | st.sampled_from(["", "1", "true", "None", "null", "a:b", "nan"])
scalars = (
    st.none()
    | st.booleans()
    | ints
    | floats
    | texts
    | st.binary(max_size=8)
    | st.sampled_from(list(Color) + list(Level))
    | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1))
    | st.builds(np.float64, st.floats(allow_nan=True))
    | st.builds(np.bool_, st.booleans())
)
arrays = hnp.arrays(
    st.sampled_from([np.dtype("float64"), np.dtype("int64"), np.dtype("float32")]),
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=3),
)
dict_keys = texts | st.integers(-5, 5)
set_items = st.integers(-5, 5) | st.text(max_size=3)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(dict_keys, children, max_size=4)
        | st.sets(set_items, max_size=4)
        | st.frozensets(set_items, max_size=3)
        | st.builds(Point, children, children)
        | st.builds(Features, tempo=children, key=children)
    )


values = st.recursive(scalars | arrays, _extend, max_leaves=12)


async def _sample(x: Any, y: Any = "default") -> None:
    return None


# A fixed name: the cross-process test imports this module under another module name.
BUILDER = KeyBuilder(_sample, namespace="t", name="tests.sample")


def key_of(*args: Any, **kwargs: Any) -> str:
    return BUILDER.key(args, kwargs)


def slow_bytes(document: Any, round_floats: int | None = None) -> bytes:
    return orjson.dumps(canonical(document, "value", round_floats), option=orjson.OPT_SORT_KEYS)


# -- properties ----------------------------------------------------------------------------------


@SETTINGS
@given(values)
def test_equal_calls_share_a_key_however_the_arguments_are_passed(x: Any) -> None:
    expected = key_of(x)
    assert key_of(x=x) == expected
    assert key_of(x, y="default") == expected
    assert key_of(x, "default") == expected
    assert key_of(y="default", x=x) == expected
    assert key_of(copy.deepcopy(x)) == expected


def test_variadic_and_keyword_only_parameters_are_bound_too() -> None:
    async def f(a: int, /, *args: int, b: int = 2, **kw: int) -> None:
        return None

    builder = KeyBuilder(f, namespace="t")
    assert builder.key((1, 5), {"c": 4}) == builder.key((1, 5), {"c": 4, "b": 2})
    assert builder.key((1, 5), {"c": 4, "d": 5}) == builder.key((1, 5), {"d": 5, "c": 4})
    assert builder.key((1, 5, 6), {}) != builder.key((1, 5), {})
    assert builder.key((1,), {"c": 1}) != builder.key((1,), {"d": 1})
    assert builder.explain((1, 5), {"c": 4})["arguments"] == {
        "a": 1,
        "args": [5],
        "b": 2,
        "kw": {"c": 4},
    }


def test_a_call_that_does_not_fit_the_signature_raises_pythons_type_error() -> None:
    with pytest.raises(TypeError, match="x"):
        BUILDER.key((), {"y": 1})
    with pytest.raises(TypeError):
        BUILDER.key((1, 2, 3), {})


@settings(SETTINGS, max_examples=50)
@given(st.dictionaries(dict_keys, values, max_size=5), st.randoms())
def test_dict_key_order_does_not_change_the_key(d: dict[Any, Any], rnd: Any) -> None:
    items = list(d.items())
    rnd.shuffle(items)
    assert key_of(dict(items)) == key_of(d)


@SETTINGS
@given(st.lists(set_items, max_size=8, unique=True), st.randoms())
def test_set_order_does_not_change_the_key(items: list[Any], rnd: Any) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert key_of(set(shuffled)) == key_of(set(items))
    assert key_of(frozenset(shuffled)) == key_of(set(items))


@SETTINGS
@given(values, values)
def test_calls_share_a_key_exactly_when_they_mean_the_same(a: Any, b: Any) -> None:
    assert (key_of(a) == key_of(b)) == (model(a) == model(b))


@settings(SETTINGS, max_examples=50)
@given(values, values)
def test_second_argument_changes_the_key(a: Any, b: Any) -> None:
    assert (key_of(1, a) == key_of(1, b)) == (model(a) == model(b))


@SETTINGS
@given(values | st.dictionaries(texts, values, max_size=4))
def test_fast_path_writes_the_same_bytes_as_the_canonicaliser(x: Any) -> None:
    # canonical_bytes() tries orjson directly and keeps that result only when it is exact;
    # whatever path it takes, its bytes must be those of the slow canonical form.
    for document in ({"x": x, "y": "default"}, {"x": x, "y": None}, x):
        assert canonical_bytes(document) == slow_bytes(document)


@SETTINGS
@given(values | st.dictionaries(texts, values, max_size=4))
def test_large_documents_take_the_same_bytes_as_the_canonicaliser(x: Any) -> None:
    # Above a few KB canonical_bytes() walks the document for NaN/Inf instead of searching its
    # output.
    padding = "p" * 10_000
    for document in ({"x": x, "pad": padding}, {"x": x, "pad": padding, "y": None}):
        assert len(slow_bytes(document)) > 8192
        assert canonical_bytes(document) == slow_bytes(document)


class Tempo(float, enum.Enum):
    SLOW = float("nan")
    FAST = 140.0


def test_nan_deep_in_a_large_document_is_not_none() -> None:
    long_text = "x" * 20_000
    for holder in (
        lambda v: {"messages": [{"content": long_text, "score": v}]},
        lambda v: {"content": long_text, "pair": (1, v)},
        lambda v: {"content": long_text, "model": Features(tempo=v, key=[v])},
        lambda v: {"content": long_text, "array": np.array([1.0, v])},
    ):
        assert canonical_bytes(holder(float("nan"))) != canonical_bytes(holder(None))
        assert canonical_bytes(holder(float("inf"))) != canonical_bytes(holder(float("-inf")))
    big = {"content": long_text, "tempo": Tempo.SLOW}
    assert (
        canonical_bytes(big)
        == slow_bytes(big)
        != canonical_bytes({"content": long_text, "tempo": None})
    )


def test_fast_path_sorts_dataclass_fields_like_the_canonicaliser() -> None:
    document = {"p": Point(y=1, x=2)}
    assert canonical_bytes(document) == slow_bytes(document) == b'{"p":{"x":2,"y":1}}'


def test_a_dataclass_and_the_dict_of_its_fields_are_the_same_argument() -> None:
    # Same meaning, same key - and the same whichever encoding path each call takes.
    assert key_of(Point(y=1, x=2)) == key_of({"x": 2, "y": 1})
    assert key_of(Point(y=1, x=2), float("nan")) == key_of({"x": 2, "y": 1}, float("nan"))


# -- stability across processes --------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    from test_keys import key_of, stable_cases
    print(json.dumps({{
        "keys": [key_of(v) for v in stable_cases()],
        "order": [list(s) for s in stable_cases() if isinstance(s, set)],
    }}))
    """
)


def stable_cases() -> list[Any]:
    return [
        {"b", "a", "c", "tempo", "mood", "energy", "valence"},
        {"z": 1, "a": [1, 2.5, None], "m": {"q": b"\x00\xff"}},
        frozenset({"x", "y"}),
        Point(y={"q", "r"}, x=float("nan")),
        Features(tempo=120.0, key="C#"),
        np.arange(6, dtype="float64").reshape(2, 3),
        {1: "a", "1": "b"},
        [float("inf"), float("-inf"), float("nan"), None],
        Color.RED,
        10**40,
    ]


def _keys_in_subprocess(seed: str) -> dict[str, Any]:
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(tests=tests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_keys_are_stable_across_processes_with_different_hash_seeds() -> None:
    first = _keys_in_subprocess("1")
    second = _keys_in_subprocess("2")
    # The seeds really do change set iteration order, so equal keys are not luck.
    assert first["order"] != second["order"]
    assert first["keys"] == second["keys"] == [key_of(v) for v in stable_cases()]


# -- the collisions the peers have ------------------------------------------------------------

COLLISIONS = [
    pytest.param(1, "1", id="int-vs-str"),
    pytest.param(True, "true", id="true-vs-str"),
    pytest.param(True, 1, id="true-vs-1"),
    pytest.param("true", 1, id="str-true-vs-1"),
    pytest.param(None, "None", id="none-vs-str"),
    pytest.param(None, "null", id="none-vs-null-str"),
    pytest.param(["a:b"], ["a", "b"], id="joined-list"),
    pytest.param({1: "x"}, {"1": "x"}, id="int-vs-str-dict-key"),
    pytest.param(b"abc", "abc", id="bytes-vs-str"),
    pytest.param(b"abc", "YWJj", id="bytes-vs-its-base64"),
    pytest.param(1, 1.0, id="int-vs-float"),
    pytest.param({"a"}, ["a"], id="set-vs-list"),
    pytest.param(10**30, str(10**30), id="bigint-vs-str"),
    pytest.param(0.1, "0.1", id="float-vs-str"),
]


@pytest.mark.parametrize(("a", "b"), COLLISIONS)
def test_values_the_peers_confuse_have_different_keys(a: Any, b: Any) -> None:
    assert key_of(a) != key_of(b)


def test_nan_inf_minus_inf_and_none_are_four_keys() -> None:
    keys = {key_of(v) for v in (float("nan"), float("inf"), float("-inf"), None)}
    assert len(keys) == 4
    nested = {key_of([v]) for v in (float("nan"), float("inf"), float("-inf"), None)}
    assert len(nested) == 4
    in_array = {key_of(np.array([v])) for v in (float("nan"), float("inf"), float("-inf"), 0.0)}
    assert len(in_array) == 4


def _fn_in(module: str, qualname: str) -> Any:
    async def fn(x: int) -> None:
        return None

    fn.__module__ = module
    fn.__qualname__ = qualname
    return fn


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("a.b", "cd"), ("a.bc", "d"), id="no-separator"),
        pytest.param(("a.b", "c.d"), ("a.b.c", "d"), id="method-vs-module-function"),
    ],
)
def test_module_and_qualname_never_run_together(a: tuple[str, str], b: tuple[str, str]) -> None:
    first = KeyBuilder(_fn_in(*a), namespace="t").key((1,), {})
    second = KeyBuilder(_fn_in(*b), namespace="t").key((1,), {})
    assert first != second


def test_namespaces_and_functions_separate_keys() -> None:
    assert KeyBuilder(_sample, namespace="a", name="tests.sample").key((1,), {}) != key_of(1)

    async def other(x: Any, y: Any = "default") -> None:
        return None

    assert KeyBuilder(other, namespace="t").key((1,), {}) != KeyBuilder(_sample, namespace="t").key(
        (1,), {}
    )


def test_key_reads_prefix_namespace_function_and_sha256() -> None:
    key = KeyBuilder(_sample, namespace="t").key((1,), {})
    prefix, namespace, function, digest = key.split(":")
    assert (prefix, namespace, function) == (KEY_PREFIX, "t", function_name(_sample))
    assert function == f"{__name__}._sample"
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_a_key_never_holds_the_repr_or_id_of_an_object() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    with pytest.raises(KeyBuildError):
        key_of(Opaque())
    with pytest.raises(KeyBuildError):
        key_of([1, {"deep": Opaque()}])
    with pytest.raises(KeyBuildError):
        key_of({Opaque(): 1})
    # And the arguments it does hold are plain data.
    document = json.dumps(KeyBuilder(_sample, namespace="t").explain((Point(1, 2),), {}))
    assert "0x" not in document and "Point" not in document


def test_a_function_without_a_qualname_needs_a_name() -> None:
    partial = functools.partial(_sample, 1)
    with pytest.raises(ConfigError, match="name="):
        ai_cached(backend="memory")(partial)
    named = ai_cached(backend="memory", name="sample_with_1")(partial)
    key = named.cache.key("default")
    assert ":sample_with_1:" in key and "0x" not in key


# -- self, cls, ignore, key=, round_floats ---------------------------------------------------


class Service:
    def __init__(self, name: str) -> None:
        self.name = name

    @ai_cached(backend="memory")
    async def run(self, prompt: str) -> str:
        return f"{self.name}:{prompt}"

    @classmethod
    @ai_cached(backend="memory")
    async def build(cls, prompt: str) -> str:
        return prompt


def test_self_is_left_out_of_the_key() -> None:
    a, b = Service("a"), Service("b")  # neither could be encoded
    assert a.run.cache.key("hi") == b.run.cache.key("hi") == Service.run.cache.key(a, "hi")
    assert a.run.cache.key("hi") != a.run.cache.key("ho")
    assert "self" not in a.run.cache.explain("hi")["arguments"]


@pytest.mark.skipif(
    sys.version_info >= (3, 13),
    reason="Python 3.13 no longer lets classmethod wrap a descriptor: Cls.m.cache cannot see Cls",
)
def test_cls_is_left_out_of_the_key() -> None:
    class Sub(Service):
        pass

    assert Service.build.cache.key("hi") == Sub.build.cache.key("hi")
    assert "cls" not in Service.build.cache.explain("hi")["arguments"]


def test_ignore_leaves_named_arguments_out() -> None:
    async def fn(prompt: str, client: object, trace_id: str = "") -> None:
        return None

    builder = KeyBuilder(fn, namespace="t", ignore=("client", "trace_id"))
    assert builder.key(("hi", object()), {"trace_id": "1"}) == builder.key(("hi", object()), {})
    assert builder.key(("hi", None), {}) != builder.key(("ho", None), {})


def test_ignore_of_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="clinet"):
        KeyBuilder(_sample, namespace="t", ignore=("clinet",))


def test_key_callable_replaces_the_argument_document() -> None:
    async def fn(prompt: str, client: object) -> None:
        return None

    builder = KeyBuilder(fn, namespace="t", key=lambda prompt, client: prompt.lower())
    assert builder.key(("Hi", object()), {}) == builder.key(("HI",), {"client": None})
    assert builder.key(("hi", None), {}) != builder.key(("ho", None), {})
    assert builder.explain(("Hi", None), {})["arguments"] == "hi"


def test_round_floats_lets_near_equal_features_share_a_key() -> None:
    builder = KeyBuilder(_sample, namespace="t", round_floats=3)
    tempo = builder.key(({"tempo": 120.0001, "energy": [0.50004]},), {})
    assert tempo == builder.key(({"tempo": 120.0, "energy": [0.5]},), {})
    assert tempo != builder.key(({"tempo": 120.01, "energy": [0.5]},), {})
    assert builder.key((-0.0,), {}) == builder.key((0.0,), {}) == builder.key((-0.00001,), {})
    assert builder.key((float("nan"),), {}) != builder.key((None,), {})
    # Without rounding those are different calls.
    assert key_of(120.0001) != key_of(120.0)


def test_round_floats_must_be_a_digit_count() -> None:
    with pytest.raises(ConfigError, match="round_floats"):
        KeyBuilder(_sample, namespace="t", round_floats=0.5)  # type: ignore[arg-type]


# -- KeyBuildError -----------------------------------------------------------------------------


class Tensor:
    """Something a key cannot be built from."""


async def analyse(features: dict[str, Any], messages: list[Any], kind: str = "x") -> None:
    return None


ANALYSE = KeyBuilder(analyse, namespace="t")


@pytest.mark.parametrize(
    ("args", "path", "argument"),
    [
        (({"tempo": Tensor()}, []), "features['tempo']", "features"),
        (({}, [{}, {}, {"content": Tensor()}]), "messages[2]['content']", "messages"),
        (({}, [], Tensor()), "kind", "kind"),
        (({"bpm": {1, Tensor()}}, []), "features['bpm']", "features"),
    ],
)
def test_key_build_error_names_the_argument_path_its_type_and_the_fix(
    args: tuple[Any, ...], path: str, argument: str
) -> None:
    with pytest.raises(KeyBuildError) as info:
        ANALYSE.key(args, {})
    message = str(info.value)
    assert isinstance(info.value, TypeError)
    assert path in message
    assert "Tensor" in message
    assert f"ignore=({argument!r},)" in message
    assert "key=" in message
    assert "value[" not in message  # paths start at the argument's own name


def test_key_build_error_from_a_key_callable_does_not_suggest_ignore() -> None:
    builder = KeyBuilder(analyse, namespace="t", key=lambda *a, **k: {"t": Tensor()})
    with pytest.raises(KeyBuildError) as info:
        builder.key(({}, []), {})
    assert "Tensor" in str(info.value)
    assert "ignore=" not in str(info.value)


def test_explain_raises_the_same_key_build_error_as_key() -> None:
    with pytest.raises(KeyBuildError, match=r"features\['tempo'\]"):
        ANALYSE.explain(({"tempo": Tensor()}, []), {})


# -- f.cache.key and f.cache.explain -----------------------------------------------------------


@ai_cached(backend="memory", namespace="docs")
async def classify(features: dict[str, Any], kind: str = "mood") -> dict[str, Any]:
    return {"kind": kind}


def test_cache_key_and_explain_are_plain_synchronous_calls() -> None:
    key = classify.cache.key({"tempo": 120.0})
    assert isinstance(key, str) and key.startswith("aicache:docs:")
    assert key == classify.cache.key(features={"tempo": 120.0}, kind="mood")
    explained = classify.cache.explain({"tempo": 120.0, "tags": {"b", "a"}})
    assert isinstance(explained, dict)
    assert explained["key"] == classify.cache.key({"tempo": 120.0, "tags": {"b", "a"}})
    assert explained["namespace"] == "docs"
    assert explained["function"] == f"{__name__}.classify"
    # The canonical arguments: defaults applied, sets sorted, tagged where JSON would blur.
    assert explained["arguments"] == {
        "features": {"tags": {"\x00set": ["a", "b"]}, "tempo": 120.0},
        "kind": "mood",
    }


def test_explain_shows_why_two_calls_missed() -> None:
    one = classify.cache.explain({"tempo": float("nan")})["arguments"]
    other = classify.cache.explain({"tempo": None})["arguments"]
    assert one != other
    assert one["features"]["tempo"] == {"\x00float": "nan"}


# -- the binder's fast paths against inspect ----------------------------------------------------


def _plain(a: Any, b: Any = 2, c: Any = None) -> None: ...


def _keyword_only(a: Any, *, b: Any, c: Any = 3.5) -> None: ...


def _positional_only(a: Any, b: Any, /, c: Any = "c") -> None: ...


def _variadic(a: Any, /, b: Any = 1, *args: Any, c: Any, d: Any = 4, **kw: Any) -> None: ...


class _Owner:
    def method(self, x: Any, y: Any = 1.5) -> None: ...


_SHAPES: list[tuple[Any, dict[str, Any]]] = [
    (_plain, {}),
    (_plain, {"ignore": ("b",)}),
    (_plain, {"round_floats": 2}),
    (_keyword_only, {}),
    (_keyword_only, {"ignore": ("c",)}),
    (_positional_only, {}),
    (_variadic, {}),
    (_Owner.method, {}),
    (_plain, {"key": lambda a, b=2, c=None: [c, a]}),
]


def _reference_key(fn: Any, options: dict[str, Any], args: tuple[Any, ...], kw: Any) -> str:
    """The key written out the slow way: ``inspect`` binding, the canonicaliser, then the
    documented header (a change here would orphan every stored entry)."""
    if options.get("key") is not None:
        document = options["key"](*args, **kw)
    else:
        bound = inspect.signature(fn).bind(*args, **kw)
        bound.apply_defaults()
        document = dict(bound.arguments)
        for name in (*options.get("ignore", ()), "self"):
            document.pop(name, None)
    name = [fn.__module__, fn.__qualname__]
    header = orjson.dumps({"v": 1, "ns": "t", "fn": name}, option=orjson.OPT_SORT_KEYS)
    body = header[:-1] + b',"args":' + slow_bytes(document, options.get("round_floats"))
    return f"{KEY_PREFIX}:t:{fn.__module__}.{fn.__qualname__}:{hashlib.sha256(body).hexdigest()}"


@settings(SETTINGS, max_examples=200)
@given(
    st.sampled_from(range(len(_SHAPES))),
    st.lists(values, min_size=5, max_size=5),
    st.integers(0, 4),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.randoms(),
)
def test_every_binding_path_gives_the_key_inspect_and_the_canonicaliser_give(
    shape: int, vals: list[Any], positional: int, named: list[bool], rnd: Any
) -> None:
    fn, options = _SHAPES[shape]
    params = list(inspect.signature(fn).parameters.values())
    args: list[Any] = []
    kw: dict[str, Any] = {}
    for i, p in enumerate(params):
        value = vals[i % len(vals)]
        if p.kind is p.VAR_POSITIONAL:
            args += vals[: positional % 3] if len(args) == i else []
        elif p.kind is p.VAR_KEYWORD:
            kw.update({"extra": value} if named[i % 5] else {})
        elif p.kind is p.POSITIONAL_ONLY or (
            p.kind is p.POSITIONAL_OR_KEYWORD and i < positional and len(args) == i
        ):
            if p.default is p.empty or named[i % 5]:
                args.append(value)
        elif p.default is p.empty or named[i % 5]:
            kw[p.name] = value
    items = list(kw.items())
    rnd.shuffle(items)
    kw = dict(items)
    builder = KeyBuilder(fn, namespace="t", **options)
    try:
        expected = _reference_key(fn, options, tuple(args), kw)
    except TypeError:  # a call that does not fit: the builder raises too
        with pytest.raises(TypeError):
            builder.key(tuple(args), kw)
        return
    given_kw = dict(kw)
    assert builder.key(tuple(args), kw) == expected
    assert kw == given_kw  # the caller's keywords are left as they were


@settings(SETTINGS, max_examples=100)
@given(st.sampled_from(range(len(_SHAPES))), st.lists(values, min_size=4, max_size=4), st.randoms())
def test_a_call_naming_every_parameter_gives_the_key_inspect_and_the_canonicaliser_give(
    shape: int, vals: list[Any], rnd: Any
) -> None:
    # The shape the binder and the builder take without binding: every parameter by keyword.
    fn, options = _SHAPES[shape]
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return
    names = [p.name for p in params]
    rnd.shuffle(names)
    kw = {name: vals[i] for i, name in enumerate(names)}
    builder = KeyBuilder(fn, namespace="t", **options)
    expected = _reference_key(fn, options, (), kw)
    assert builder.key((), dict(kw)) == expected
    assert builder.explain((), dict(kw))["key"] == expected
    positional = tuple(kw[p.name] for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    rest = {p.name: kw[p.name] for p in params if p.kind is p.KEYWORD_ONLY}
    assert builder.key(positional, rest) == expected
