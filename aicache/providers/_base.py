"""What every provider adapter tells the cached client, and the helpers adapters share.

An adapter knows one SDK: which methods are cached, what of a call reaches the wire (the key),
what a response used (tokens) and whether it is worth keeping, and which errors are transient.
It knows nothing of how caching works; :mod:`aicache.providers._proxy` does that.

Nothing here imports an SDK or pydantic: ``import aicache`` must work with the core alone.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

__all__ = [
    "DROP",
    "Adapter",
    "Tokens",
    "Uncacheable",
    "headers_of",
    "host_of",
    "one_shot",
    "tokens",
    "wire",
]

#: Token counts of one call, as stored in an entry and summed by the stats registry.
#: ``input``: prompt tokens billed at the input rate (not read from or written to a prompt cache);
#: ``cached_input``: prompt tokens read from the provider's prompt cache; ``cache_write``: prompt
#: tokens written to it; ``output``: every output token, reasoning included; ``reasoning``: the
#: reasoning part of ``output``.
Tokens = dict[str, int]


class Uncacheable(Exception):
    """A call whose arguments cannot be keyed faithfully (callables, open files): passed through."""


def tokens(
    *,
    input: int = 0,
    output: int = 0,
    cached_input: int = 0,
    cache_write: int = 0,
    reasoning: int = 0,
) -> Tokens:
    """A :data:`Tokens` document; ``cache_write`` appears only when the provider reported some."""
    out = {
        "input": max(0, input),
        "output": output,
        "cached_input": cached_input,
        "reasoning": reasoning,
    }
    if cache_write:
        out["cache_write"] = cache_write
    return out


# Credentials, by name: left out of keys (who pays never changes the answer) and never stored.
_CREDENTIALS = re.compile(
    r"^(proxy-)?authorization$|^(set-)?cookie$|^key$|(^|[-_])api[-_]?key$|(^|[-_])token$"
    r"|(^|[-_])(access|auth|bearer|id|refresh|session)[-_]?token$|secret|password|passwd"
    r"|(^|[-_])signature$|^x-amz-security-token$|^x-goog-iam-authorization-token$",
    re.IGNORECASE,
)
# Tracing, transport and account bookkeeping: they never change an answer either.
_TRANSPORT_NAMES = re.compile(
    r"trace|^baggage$|^sentry-|^x-datadog-|^x-b3-|request-id$|session-id$|^idempotency-key$|^x-stainless-|^user-agent$|^accept|^content-"
    r"|^connection$|^host$|^x-goog-api-client$|^openai-(organization|project)$"
    r"|^x-goog-user-project$|^x-amzn-",
    re.IGNORECASE,
)


def headers_of(headers: Mapping[str, Any] | None, drop: tuple[type, ...] = ()) -> dict[str, str]:
    """The headers (or query parameters) that can change an answer, names lower-cased.

    Kept: every header that selects a provider, route, config or model, e.g. ``anthropic-beta``,
    ``anthropic-version``, ``api-version``, ``x-portkey-provider``, ``x-portkey-config``. Left
    out: credentials by name (``authorization``, ``x-api-key``, ``api-key``, ``x-goog-api-key``,
    ``cookie``, names ending in ``-api-key`` or ``-token``, anything naming a secret or password),
    tracing and transport headers, and the SDKs' "remove this header" sentinels (``drop``).
    """
    if not headers:
        return {}
    return {
        str(k).lower(): str(v)
        for k, v in headers.items()
        if v is not None
        and not isinstance(v, drop)
        and not _CREDENTIALS.search(str(k))
        and not _TRANSPORT_NAMES.search(str(k))
    }


def host_of(url: Any) -> str:
    """``scheme://host[:port]/path`` of an API base URL: no credentials, no query."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


#: What :func:`wire` returns for an SDK sentinel ("not given"): leave the argument out.
DROP: Any = object()


#: Whether values of a type are one-shot iterators, by type: the ABC check runs in a Python
#: frame (~0.3 µs), and a call carries 20-40 arguments, most of them one of the SDK's sentinels.
_one_shot: dict[type, bool] = dict.fromkeys(
    (str, int, float, bool, dict, list, tuple, type(None)), False
)


def one_shot(value: Any) -> bool:
    """``value`` is an iterator: reading it (to key it) uses it up."""
    kind = type(value)
    found = _one_shot.get(kind)
    if found is None:
        found = isinstance(value, Iterator)
        if len(_one_shot) < 512:  # classes made per call must not pile up here
            _one_shot[kind] = found
    return found


#: Values :func:`wire` hands back as they are; looked up inline in its loops, which saves a
#: call per string of a request's messages.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _is_model(value: Any) -> bool:
    return hasattr(type(value), "model_fields") and callable(getattr(value, "model_dump", None))


def wire(value: Any, drop: tuple[type, ...], dump: Callable[[Any], Any]) -> Any:
    """``value`` as the SDK sends it, for keying: sentinels (``drop``) left out, pydantic models
    dumped the way the SDK dumps them (``dump``), iterators listed.

    A pydantic class (a response schema) becomes its JSON schema. Other values are left for the
    canonical key encoder, which raises on anything it cannot encode faithfully. A function
    raises :class:`Uncacheable`: its behaviour, not its name, would decide the answer.
    """
    t = type(value)
    if t in _AS_IS:
        return value
    if t is not dict and t is not list and t is not tuple and isinstance(value, drop):
        return DROP
    if t is dict or (t is not list and t is not tuple and isinstance(value, Mapping)):
        out = {}
        for k, v in value.items():
            w = v if type(v) in _AS_IS else wire(v, drop, dump)
            if w is not DROP:
                out[k] = w
        return out
    if t is list or t is tuple or one_shot(value):
        out_list = []
        for v in value:
            w = v if type(v) in _AS_IS else wire(v, drop, dump)
            if w is not DROP:
                out_list.append(w)
        return out_list
    if _is_model(value):
        return wire(dump(value), drop, dump)
    schema_of = getattr(value, "model_json_schema", None)
    if isinstance(value, type) and callable(schema_of):
        return {"pydantic": value.__qualname__, "schema": schema_of()}
    if callable(value) and not isinstance(value, type):
        raise Uncacheable(f"a callable ({getattr(value, '__qualname__', value)!r})")
    return value


class Adapter(ABC):
    """One SDK's part of a cached client. One instance per wrapped client."""

    #: The provider name in stats labels and the price table.
    provider: ClassVar[str]
    #: Attribute paths (from the client) of the methods that go through the cache.
    cached: ClassVar[frozenset[str]]
    #: Paths that are refused, with what to call instead (sync twins of cached methods).
    refused: ClassVar[Mapping[str, str]] = {}
    #: Paths whose method returns a stream manager at once (``messages.stream``): called
    #: synchronously, recorded when the manager sends its request.
    managers: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scope = self.client_scope()

    def sync(self, path: str) -> bool:
        """Whether the method at ``path`` is synchronous (a sync client's, or google-genai's
        ``client.models``)."""
        return False

    def twin(self, path: str) -> str:
        """The path a call is keyed and counted under: the async twin's, so that the sync and
        async methods of one API share entries."""
        return path

    @abstractmethod
    def client_scope(self) -> dict[str, Any]:
        """The client's part of every key: API host, and headers and query that change answers."""

    def target(self, path: str, sdk_retries: bool) -> Callable[..., Awaitable[Any]]:
        """The real method behind ``path`` (on a copy of the client without the SDK's own
        retries when ``sdk_retries`` is false and the SDK allows it)."""
        obj: Any = self.client
        for name in path.split("."):
            obj = getattr(obj, name)
        return obj  # type: ignore[no-any-return]

    @abstractmethod
    def request(self, path: str, call: dict[str, Any]) -> dict[str, Any] | None:
        """What of ``call`` (bound arguments) reaches the wire, or ``None`` to pass it through
        uncached (a stream). May raise :class:`Uncacheable`."""

    @abstractmethod
    def model(self, call: dict[str, Any]) -> str:
        """The model a call asks for (the stats label's model)."""

    @abstractmethod
    def usage(self, response: Any) -> tuple[str, Tokens] | None:
        """``(model that answered, tokens)``, or ``None`` when the response reports no usage."""

    @abstractmethod
    def complete(self, response: Any) -> bool:
        """Worth storing by default: not empty and not cut off by a token limit."""

    @abstractmethod
    def transient(self, exc: BaseException) -> bool:
        """A failure worth retrying: rate limit, overload, 5xx, timeout, lost connection."""

    def retry_after(self, exc: BaseException) -> float | None:
        """Seconds the provider asked us to wait (``retry-after-ms`` / ``retry-after``)."""
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers is None:
            return None
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            raw = headers.get(name)
            if raw is not None:
                try:
                    return max(0.0, float(raw) * scale)
                except ValueError:
                    continue  # an HTTP date: leave the wait to the backoff
        return None

    def records(self, path: str, call: dict[str, Any]) -> bool:
        """Whether this call is recorded and replayed as a stream (see :meth:`recorded`)
        rather than cached as a value."""
        return False

    def recorded(self, path: str, sdk_retries: bool) -> Callable[..., Any]:
        """The method that makes a recorded call (``records`` is true), on a client that sends
        it through the recording transport."""
        raise NotImplementedError

    def marked(self, call: dict[str, Any], value: str) -> dict[str, Any]:
        """``call`` carrying the recording transport's mark (see :mod:`._wire`)."""
        raise NotImplementedError

    def shape(self, path: str) -> Any:
        """The :class:`~aicache.providers._streams.Shape` of a recorded call's answers."""
        raise NotImplementedError

    def items(self, path: str, call: dict[str, Any]) -> list[Any] | None:
        """The inputs of a call whose list input is cached per item (embeddings), or ``None``:
        the call is cached as one response. See :mod:`aicache.providers._batches`."""
        return None

    def with_items(self, path: str, call: dict[str, Any], items: list[Any]) -> dict[str, Any]:
        """``call`` sending only ``items`` (a per-item call, see :meth:`items`)."""
        raise NotImplementedError

    def split(self, path: str, response: Any) -> list[Any]:
        """Each input's answer in ``response`` as plain JSON data (a per-item call)."""
        raise NotImplementedError

    def join(self, path: str, call: dict[str, Any], answers: list[Any], billed: int) -> Any:
        """One response of the SDK's type with ``answers`` in order and ``billed`` input tokens
        as its usage (a per-item call)."""
        raise NotImplementedError

    def finish(self, value: Any, call: dict[str, Any]) -> Any:
        """Fix up a value rebuilt from the cache (e.g. fields the SDK derives from the request)."""
        return value

    @classmethod
    def new_client(cls, *, api_key: str | None, base_url: str | None, **extra: Any) -> Any:
        """A new async client of this SDK; ``None`` arguments are left to the SDK's variables."""
        raise NotImplementedError(f"{cls.__name__} does not build clients")
