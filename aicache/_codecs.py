"""Which result types a cache entry may hold, and how each is written and rebuilt.

A stored entry names its type by a tag. Only tags on this allowlist are rebuilt: a tag read from
a cache never makes aicache import a module or call anything that was not registered in this
process (by :func:`register_type`, by a provider module, or by a decorated function's return
annotation). The one exception is aicache's own provider modules, from a fixed table (see
:func:`codecs_in`), for the types of an SDK that is installed.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TypeCodec", "UnstorableResult", "dump_value", "load_value", "register_type"]

_JSON_TYPES = (dict, list, str, int, float, bool, type(None))
_SCALARS = (str, bool, type(None))


class UnstorableResult(Exception):
    """A result aicache cannot store faithfully; it is returned to the caller but not cached."""


class UnknownType(Exception):
    """A stored entry names a type this process has not registered; the entry counts as a miss."""


@dataclass(frozen=True, slots=True)
class TypeCodec:
    """How to store one result type: ``dump`` turns it into JSON data, ``load`` rebuilds it."""

    tag: str
    cls: type[Any]
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


_by_tag: dict[str, TypeCodec] = {}
_by_class: dict[type[Any], TypeCodec] = {}
_lock = threading.Lock()


def _tag_of(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _pydantic_dump(value: Any) -> Any:
    # The SDKs' own to_dict(mode="json") writes only what was received; model_dump() can write
    # None into fields that model_validate then rejects.
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return to_dict(mode="json")
        except TypeError:
            pass
    return value.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _is_pydantic(cls: type[Any]) -> bool:
    return hasattr(cls, "model_validate") and hasattr(cls, "model_fields")


def register_type(
    cls: type[Any],
    *,
    dump: Callable[[Any], Any] | None = None,
    load: Callable[[Any], Any] | None = None,
    tag: str | None = None,
) -> TypeCodec:
    """Allow results of type ``cls`` to be cached and rebuilt on a hit.

    Pydantic models need no arguments. Any other class needs ``dump`` (object → JSON data) and
    ``load`` (JSON data → object). Registering the same class again replaces its codec.
    """
    if dump is None or load is None:
        if not _is_pydantic(cls):
            raise TypeError(
                f"register_type({cls.__qualname__}) needs dump= and load= "
                "(only pydantic models can be registered without them)"
            )
        dump = dump or _pydantic_dump
        load = load or cls.model_validate
    codec = TypeCodec(tag or _tag_of(cls), cls, dump, load)
    with _lock:
        _by_tag[codec.tag] = codec
        _by_class[cls] = codec
    return codec


# aicache modules that register the codecs of an SDK's types, by the SDK's module prefix.
_codec_modules: dict[str, str] = {}


def codecs_in(prefix: str, module: str) -> None:
    """Name the aicache ``module`` that registers the codecs of the types under ``prefix``
    (an SDK's package), so that its types are rebuilt by their own codec in any process."""
    _codec_modules[prefix] = module


def _import_codecs(module_name: str) -> bool:
    """Import the provider module serving ``module_name``'s types; whether there was one."""
    for prefix, provider in _codec_modules.items():
        if module_name == prefix or module_name.startswith(prefix + "."):
            try:
                importlib.import_module(provider)
            except ImportError:  # the SDK is not installed: nothing to rebuild with
                return False
            return True
    return False


def codec_for(cls: type[Any]) -> TypeCodec | None:
    """The registered codec of ``cls``; pydantic classes are registered on first sight."""
    codec = _by_class.get(cls)
    if codec is None and _import_codecs(cls.__module__):
        codec = _by_class.get(cls)
    if codec is None and _is_pydantic(cls):
        codec = register_type(cls)
    return codec


_FINE: Any = object()


def _odd_part(value: Any) -> Any:
    """The first part of plain data that JSON would not give back as it was, else ``_FINE``.

    orjson writes tuples as lists, NaN and ±Inf as null, and dataclasses, enums, datetimes and
    UUIDs as dicts and strings, so a hit would return another value than the call did.
    """
    stack = [value]
    seen: set[int] = set()  # containers looked at: one held twice, or holding itself, is done
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict or t is list:
            if id(v) in seen:
                continue  # a value that contains itself fails to encode: "cannot store"
            seen.add(id(v))
            if t is dict:
                for k in v:
                    if type(k) is not str:
                        return k
                v = v.values()
            for part in v:  # strings, the bulk of a result, need no look of their own
                tp = type(part)
                if tp is not str and tp is not bool and part is not None:
                    stack.append(part)
        elif t is float:
            if not math.isfinite(v):
                return v
        elif t is int:
            if not -(2**63) <= v < 2**64:
                return v
        elif t not in _SCALARS:
            return v
    return _FINE


def _plain(value: Any) -> Any:
    odd = _odd_part(value)
    if odd is not _FINE:
        t = type(odd)
        what = repr(odd) if t in (int, float) else f"a {t.__module__}.{t.__qualname__}"
        raise UnstorableResult(
            f"a result holding {what} cannot be stored faithfully as JSON (a hit would return "
            "another value); return plain JSON data (dict with str keys, list, str, finite "
            "number, bool, None) or a pydantic model"
        )
    return value


def dump_value(value: Any) -> tuple[str | None, Any]:
    """``(tag, JSON data)`` for a result; raise :class:`UnstorableResult` if it cannot be kept."""
    cls = type(value)
    if cls in _JSON_TYPES:
        return None, _plain(value)
    codec = codec_for(cls)
    if codec is not None:
        return codec.tag, codec.dump(value)
    raise UnstorableResult(
        f"a result of type {cls.__module__}.{cls.__qualname__} cannot be stored faithfully; "
        "return plain JSON data or a pydantic model, or call aicache.register_type("
        f"{cls.__qualname__}, dump=..., load=...)"
    )


def load_value(tag: str | None, data: Any) -> Any:
    """Rebuild a stored result; raise :class:`UnknownType` for a tag not on the allowlist."""
    if tag is None:
        return data
    codec = _by_tag.get(tag)
    if codec is None and _import_codecs(tag.partition(":")[0]):
        codec = _by_tag.get(tag)
    if codec is None:
        raise UnknownType(tag)
    return codec.load(data)


register_type(tuple, dump=lambda t: _plain(list(t)), load=tuple, tag="tuple")
