"""The provider table's entry type and its look-ups.

One :class:`Provider` per SDK the cached client wraps. Everything else that names providers (the
CLI's ``warm``, the price table's model prefixes, the demo's clients, the simulator's routes) reads
this table instead of keeping a list of its own.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from .._errors import ConfigError
from ._base import Adapter

__all__ = ["Provider", "Registry", "close_client"]


@dataclass(frozen=True)
class Provider:
    """One SDK the cached client wraps.

    ``name``: the provider in stats labels and the price table. ``sdk``: the SDK's module
    prefix. ``classes``: its client classes that are wrapped (sync and async). ``adapter``: the
    adapter as ``"module:Class"`` inside :mod:`aicache.providers`, imported only when used.
    ``wire``: the simulator's wire format that answers it (``"openai"``, ``"anthropic"``,
    ``"gemini"``).
    ``price_prefixes``: vendor prefixes of model ids (``openai/gpt-4o``) the price look-up drops.
    ``keys``: the variables the SDK reads its API key from. ``clients``: whether
    :meth:`client` can build a client from a key and base URL (``warm`` and the demo need it).
    ``instead``: client classes of this SDK that are not wrapped, with what to wrap instead.
    """

    name: str
    sdk: str
    classes: tuple[str, ...]
    adapter: str
    wire: str
    price_prefixes: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    clients: bool = True
    instead: dict[str, str] = field(default_factory=dict)

    def adapter_class(self) -> type[Adapter]:
        """The adapter class (imports the SDK)."""
        module, _, attr = self.adapter.partition(":")
        loaded = importlib.import_module(f"{__package__}.{module}")
        return cast(type[Adapter], getattr(loaded, attr))

    def client(
        self, *, api_key: str | None = None, base_url: str | None = None, **extra: Any
    ) -> Any:
        """A new async SDK client. Without ``api_key`` / ``base_url`` the SDK reads its own
        variables (``keys``, and base URLs such as ``OPENAI_BASE_URL``). Raises ``ImportError``
        when the SDK is not installed."""
        if not self.clients:
            raise ConfigError(f"aicache cannot build a {self.sdk} client; make one yourself")
        return self.adapter_class().new_client(api_key=api_key, base_url=base_url, **extra)

    def owns(self, cls: type) -> bool:
        """Whether ``cls`` comes from this provider's SDK."""
        module = cls.__module__
        return module == self.sdk or module.startswith(self.sdk + ".")


class Registry:
    """The provider table: iterate it, or look an entry up by name or by client."""

    def __init__(self, *entries: Provider) -> None:
        self.entries = entries

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.entries)

    def names(self) -> tuple[str, ...]:
        """Provider names that :meth:`Provider.client` can build, in table order."""
        return tuple(dict.fromkeys(p.name for p in self.entries if p.clients))

    def get(self, name: str) -> Provider:
        """The entry that builds ``name``'s clients."""
        for entry in self.entries:
            if entry.name == name and entry.clients:
                return entry
        raise ConfigError(f"unknown provider {name!r}; use one of {', '.join(self.names())}")

    def of_client(self, client: Any) -> tuple[Provider, bool] | None:
        """``(entry, wrapped)`` for the SDK that made ``client``: ``wrapped`` is false for a class
        the cached client does not wrap (google-genai's ``client.aio``). ``None`` for a foreign
        object."""
        for cls in type(client).__mro__:
            for entry in self.entries:
                if not entry.owns(cls):
                    continue
                if cls.__name__ in entry.classes:
                    return entry, True
                if cls.__name__ in entry.instead:
                    return entry, False
        return None


async def close_client(client: Any) -> None:
    """Close an SDK client's connections (google-genai: its ``aio`` side); a cached client too."""
    aio = getattr(client, "aio", None)
    close = getattr(aio, "aclose", None) if aio is not None else getattr(client, "close", None)
    if close is not None:
        done = close()
        if inspect.isawaitable(done):
            await done
