"""Canonical cache keys: bound arguments → one canonical orjson document → SHA-256.

The document is canonical: equal calls give equal bytes in every process (dict keys sorted, sets
sorted, no ``repr()``/``id()``/``hash()``), and values that plain JSON would blur stay apart (NaN,
±Inf and None; ``1`` and ``"1"``; ``{1: x}`` and ``{"1": x}``; bytes and str). Values JSON has no
word for are written as a one-key object whose key starts with NUL, which no ordinary data holds.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import enum
import functools
import hashlib
import inspect
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from ._errors import ConfigError, KeyBuildError

__all__ = [
    "KEY_PREFIX",
    "KEY_VERSION",
    "ArgumentBinder",
    "KeyBuilder",
    "canonical",
    "canonical_bytes",
    "check_function",
    "check_name",
    "function_name",
    "make_key",
]

KEY_VERSION = 1
KEY_PREFIX = "aicache"
_TAG = "\x00"
_SORT = orjson.OPT_SORT_KEYS
# orjson writes dataclass fields in declaration order, whatever OPT_SORT_KEYS says: pass them to
# _fast_default, which hands their fields back as a dict that is sorted like any other.
_FAST_OPTS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
#: A function's name in keys: no ':' (it ends the prefix ``clear`` matches, so no function's
#: prefix can start another's), no glob characters, no spaces or control characters.
_FUNCTION_RE = re.compile(r"[^:*?\[\]\\\s\x00-\x1f\x7f]+")


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {_TAG + tag: value}


def _float(x: float, digits: int | None) -> Any:
    if math.isfinite(x):
        if digits is None:
            return x
        rounded = round(x, digits)
        return 0.0 if rounded == 0 else rounded  # -0.0 and 0.0 are one value
    return _tagged("float", "nan" if x != x else ("inf" if x > 0 else "-inf"))


def _sort_by_encoding(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda v: orjson.dumps(v, option=_SORT))


def _model_dump(value: Any) -> Any:
    """Pydantic v2 models (``model_dump``) and v1 models (``dict``), else ``NotImplemented``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return dump()
    return NotImplemented


def canonical(value: Any, path: str = "value", round_floats: int | None = None) -> Any:
    """Return ``value`` as plain JSON data in canonical form, or raise :class:`KeyBuildError`.

    ``path`` names the value in error messages, e.g. ``features['tempo']``.
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is dict:  # the usual containers first: no ABC check on the way to them
        return _canonical_mapping(value, path, round_floats)
    if t is list or t is tuple:
        return [canonical(v, f"{path}[{i}]", round_floats) for i, v in enumerate(value)]
    if t is int:
        return value if -(2**63) <= value < 2**64 else _tagged("int", _digits(value, path))
    if t is float:
        return _float(value, round_floats)
    if isinstance(value, enum.Enum):
        return canonical(value.value, f"{path}.value", round_floats)
    if isinstance(value, Mapping):
        return _canonical_mapping(value, path, round_floats)
    if isinstance(value, list | tuple):
        return [canonical(v, f"{path}[{i}]", round_floats) for i, v in enumerate(value)]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool | int):
        return canonical(int(value) if not isinstance(value, bool) else value, path, round_floats)
    if isinstance(value, float):
        return _float(float(value), round_floats)
    if isinstance(value, set | frozenset):
        items = [canonical(v, f"{path}{{item}}", round_floats) for v in value]
        return _tagged("set", _sort_by_encoding(items))
    if isinstance(value, bytes | bytearray | memoryview):
        return _tagged("bytes", base64.b64encode(bytes(value)).decode("ascii"))
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return _tagged(type(value).__name__ if t in _DT_TYPES else "datetime", value.isoformat())
    if isinstance(value, decimal.Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    dumped = _model_dump(value)
    if dumped is not NotImplemented:
        return canonical(dumped, path, round_floats)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: canonical(getattr(value, f.name), f"{path}.{f.name}", round_floats)
            for f in dataclasses.fields(value)
        }
    numpy_value = _numpy(value, path, round_floats)
    if numpy_value is not NotImplemented:
        return numpy_value
    raise KeyBuildError(
        f"cannot build a cache key: {path} is a {t.__module__}.{t.__qualname__}, which aicache "
        "cannot encode canonically (it never keys on repr() or id()). Pass plain data (dict, list, "
        f"str, number, enum, dataclass, pydantic model, numpy array) instead, {_leave_out(path)}"
        "or build the key yourself with key=..."
    )


# The parameter a path starts from: ``features`` in ``features['tempo']`` or ``features key 1``.
_ARGUMENT_RE = re.compile(r"([A-Za-z_]\w*)(?:$|[\[.{]| key )")


_DT_TYPES = (_dt.datetime, _dt.date, _dt.time)


def _digits(value: int, path: str) -> str:
    try:
        return str(value)
    except ValueError:  # past sys.get_int_max_str_digits()
        raise KeyBuildError(
            f"cannot build a cache key: {path} is an integer too long to write in decimal "
            f"({value.bit_length()} bits); pass it as bytes or a hash, {_leave_out(path)}"
            "or build the key yourself with key=..."
        ) from None


def _shown(value: Any) -> str:
    """``repr(value)`` for a message, or a stand-in when that ``__repr__`` raises."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object>"


def _leave_out(path: str) -> str:
    argument = _ARGUMENT_RE.match(path)
    return f"leave the argument out with ignore=({argument[1]!r},), " if argument else ""


def _canonical_mapping(value: Mapping[Any, Any], path: str, digits: int | None) -> Any:
    out: dict[str, Any] = {}
    pairs: list[list[Any]] = []
    for k, v in value.items():
        shown = _shown(k)
        ck = canonical(k, f"{path} key {shown:.40}", digits)
        cv = canonical(v, f"{path}[{shown}]", digits)
        if type(ck) is str:
            out[ck] = cv
        pairs.append([ck, cv])
    if len(out) == len(pairs):
        return out
    return _tagged("map", _sort_by_encoding(pairs))


def _numpy(value: Any, path: str, digits: int | None) -> Any:
    module = type(value).__module__
    if not module.startswith("numpy"):
        return NotImplemented
    import numpy as np

    if isinstance(value, np.ndarray):
        data = canonical(value.tolist(), path, digits)
        return _tagged(
            "ndarray", {"dtype": str(value.dtype), "shape": list(value.shape), "data": data}
        )
    if isinstance(value, np.generic):
        return canonical(value.item(), path, digits)
    return NotImplemented


def _finite(value: Any) -> bool:
    """Whether no float that orjson writes itself (in dicts, lists, tuples, enums) is NaN or ±Inf.

    Values orjson hands to ``default`` are canonicalised there, so they need no look.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is dict:
        return all(map(_finite, value.values()))
    if t is list:
        return all(map(_finite, value))
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, list | tuple):
        return all(map(_finite, value))
    if isinstance(value, enum.Enum):
        return _finite(value.value)
    return True


#: Output size above which walking the document for NaN/Inf costs less than searching the
#: output for ``null`` (measured: the walk is ~5 µs for a chat request, the search 0.6 ns a byte).
_SEARCH_LIMIT = 8192


def canonical_bytes(
    document: Any, round_floats: int | None = None, path: str | None = "value"
) -> bytes:
    """Canonical bytes of ``document`` (normally the dict of bound arguments).

    ``path`` names the document in error messages; ``None`` says it is the dict of bound
    arguments, so each value is named by its parameter (``features['tempo']``).

    Fast path: orjson writes the document directly, handing what it cannot write to
    :func:`canonical`. That is exact unless a float became ``null`` (orjson writes NaN and ±Inf
    as ``null``, like ``None``). A small result is kept when it has no ``null``, or as many as
    top-level ``None`` arguments, or when :func:`_finite` finds no such float (a ``None`` deeper
    down, a text holding "null"); a large one when :func:`_finite` does. Otherwise, and when
    floats are rounded, the document is canonicalised in Python first.
    """
    if round_floats is None:
        out = _direct(document)
        if out is not None:
            return out
    if path is None and type(document) is dict:
        # The same document canonical() builds for a dict with str keys, named per argument.
        named = {name: _bounded(v, name, round_floats) for name, v in document.items()}
        return orjson.dumps(named, option=_SORT)
    return orjson.dumps(_bounded(document, path or "value", round_floats), option=_SORT)


#: ``null`` in canonical bytes: searched with ``re``, which skips through text faster than
#: ``bytes.find`` (measured: 0.5 against 0.9 µs in a 1.7 KB chat request).
_NULL = re.compile(b"null")


def _direct(document: Any) -> bytes | None:
    """orjson's bytes of ``document`` when they are exactly the canonical ones, else ``None``
    (see :func:`canonical_bytes`)."""
    try:
        out = orjson.dumps(document, default=canonical, option=_FAST_OPTS)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(out) > _SEARCH_LIMIT:
        return out if _finite(document) else None
    if _NULL.search(out) is None:
        return out
    nones = sum(v is None for v in document.values()) if type(document) is dict else 0
    if out.count(b"null") == nones + (document is None) or _finite(document):
        return out  # a None or a "null" in a text deeper down: still no NaN/Inf
    return None


def _bounded(value: Any, path: str, digits: int | None) -> Any:
    """:func:`canonical`, with a value that contains itself (or nests past Python's recursion
    limit) reported as the caller's mistake."""
    try:
        return canonical(value, path, digits)
    except RecursionError:
        raise KeyBuildError(
            f"cannot build a cache key: {path} contains itself, or is nested too deeply to "
            f"encode; pass data without cycles, {_leave_out(path)}"
            "or build the key yourself with key=..."
        ) from None


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function: the middle part of its keys."""
    return f"{getattr(fn, '__module__', None) or '?'}.{fn.__qualname__}"


def check_function(kind: str, value: str) -> str:
    """A function's name as given by ``name=``: usable in keys and in ``clear`` prefixes."""
    if not isinstance(value, str) or not _FUNCTION_RE.fullmatch(value):
        raise ConfigError(
            f"{kind} {value!r} is not usable: leave out ':', spaces and the characters * ? [ ] \\ "
            "(':' ends the prefix clear() matches, so 'a' would also match 'a:b')"
        )
    return value


def check_name(kind: str, value: str) -> str:
    """Namespaces appear inside keys and Redis patterns: keep them to a safe alphabet."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ConfigError(
            f"{kind} {value!r} is not usable: use letters, digits, '_', '-' and '.' only"
        )
    return value


def _header(namespace: str, function: str | list[str]) -> bytes:
    """The hashed document's opening: format version, namespace and function, then the args.

    A function is hashed as ``[module, qualname]``: joined with dots, module ``a.b`` with method
    ``c.d`` would read like module ``a.b.c`` with function ``d``.
    """
    header = {"v": KEY_VERSION, "ns": namespace, "fn": function}
    return orjson.dumps(header, option=_SORT)[:-1] + b',"args":'


@functools.lru_cache(maxsize=256)
def _opened(namespace: str, function: str) -> Any:
    """A hasher that has read the header: copied per key, never updated itself."""
    return hashlib.sha256(_header(namespace, function))


def make_key(namespace: str, function: str, document: Any) -> str:
    """The key of ``document`` under ``namespace`` and ``function`` (no signature binding)."""
    hasher = _opened(namespace, function).copy()
    hasher.update(canonical_bytes(document, path="<key parts>"))
    return f"{KEY_PREFIX}:{namespace}:{function}:{hasher.hexdigest()}"


class ArgumentBinder:
    """Binds call arguments to parameter names as ``inspect.Signature.bind`` would, with
    defaults applied, several times faster for the usual signature (no ``*args``/``**kwargs``)."""

    def __init__(self, signature: inspect.Signature) -> None:
        self.signature = signature
        params = list(signature.parameters.values())
        kinds = {p.kind for p in params}
        self.simple = not kinds & {
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        }
        self.positional = tuple(
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        )
        self.keyword = frozenset(p.name for p in params if p.kind != p.POSITIONAL_ONLY)
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self.count = len(params)
        #: Every parameter's name, when each may be passed by keyword: a call that names them
        #: all binds to its keywords as they are.
        self.every = (
            frozenset(p.name for p in params)
            if self.simple and len(self.keyword) == self.count
            else None
        )

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not args and kwargs.keys() == self.every:
            return dict(kwargs)
        if self.simple and len(args) <= len(self.positional):
            bound = dict(self.defaults)
            bound.update(zip(self.positional, args, strict=False))
            for name, value in kwargs.items():
                if name not in self.keyword or name in self.positional[: len(args)]:
                    break
                bound[name] = value
            else:
                if len(bound) == self.count:
                    return bound
        # Unusual shapes and wrong calls: let inspect bind, or raise the TypeError Python would.
        ba = self.signature.bind(*args, **kwargs)
        ba.apply_defaults()
        return dict(ba.arguments)


class KeyBuilder:
    """Builds the keys of one function. Everything that does not depend on the call is
    computed once, here."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        namespace: str,
        ignore: Iterable[str] = (),
        key: Callable[..., Any] | None = None,
        round_floats: int | None = None,
        name: str | None = None,
    ) -> None:
        if name is None and not isinstance(getattr(fn, "__qualname__", None), str):
            # Its repr() would put a memory address into every key.
            raise ConfigError(
                f"{type(fn).__name__} objects have no __qualname__ to name their cache keys by; "
                "pass name='...' (for a functools.partial, a name that includes the bound "
                "arguments)"
            )
        if name is not None:
            check_function("name=", name)
        self._fn = fn
        self._name = name
        self._given_ignore = tuple(ignore)
        self.namespace = check_name("namespace", namespace)
        self.function = name or function_name(fn)
        self.signature = inspect.signature(fn)
        self._binder = ArgumentBinder(self.signature)
        names = list(self.signature.parameters)
        self.ignore = frozenset(self._given_ignore)
        unknown = self.ignore - set(names)
        if unknown:
            raise ConfigError(
                f"ignore= names {sorted(unknown)} that {self.function} does not have; "
                f"its parameters are {names}"
            )
        if names and names[0] in ("self", "cls"):
            self.ignore |= {names[0]}
        if round_floats is not None and (
            not isinstance(round_floats, int) or isinstance(round_floats, bool)
        ):
            raise ConfigError(f"round_floats must be an int (digits) or None, not {round_floats!r}")
        self.round_floats = round_floats
        self.key_fn = key
        self.prefix = f"{KEY_PREFIX}:{self.namespace}:{self.function}:"
        # A call naming every parameter by keyword is its own document: nothing to bind or drop.
        self._whole = self._binder.every if key is None and not self.ignore else None
        hashed = name or [getattr(fn, "__module__", None) or "?", fn.__qualname__]
        self._hasher = hashlib.sha256(_header(self.namespace, hashed))

    def renamed(self, namespace: str) -> KeyBuilder:
        """The same builder under another namespace."""
        return KeyBuilder(
            self._fn,
            namespace=namespace,
            ignore=self._given_ignore,
            key=self.key_fn,
            round_floats=self.round_floats,
            name=self._name,
        )

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The document that is hashed: bound arguments less the ignored ones, or ``key(...)``."""
        if self.key_fn is not None:
            return self.key_fn(*args, **kwargs)
        bound = self._binder.bind(args, kwargs)
        for name in self.ignore:
            bound.pop(name, None)
        return bound

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        whole = not args and kwargs.keys() == self._whole
        document = kwargs if whole else self.arguments(args, kwargs)
        out = _direct(document) if self.round_floats is None else None
        hasher = self._hasher.copy()
        hasher.update(self.canonical_bytes(document) if out is None else out)
        return self.prefix + hasher.hexdigest()

    def canonical_bytes(self, document: Any) -> bytes:
        """The canonical bytes of ``document``; an error names this function."""
        try:
            path = None if self.key_fn is None else "key(...)"
            return canonical_bytes(document, self.round_floats, path)
        except KeyBuildError as exc:
            raise KeyBuildError(f"{self.function}: {exc}") from None

    def explain(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The canonical document behind :meth:`key`, as plain data."""
        document = self.arguments(args, kwargs)
        self.canonical_bytes(document)  # raises the same KeyBuildError key() would
        return {
            "key": self.key(args, kwargs),
            "version": KEY_VERSION,
            "namespace": self.namespace,
            "function": self.function,
            "arguments": orjson.loads(self.canonical_bytes(document)),
        }
