"""SampleMind's AI manager: music analysis through Gemini, Claude or OpenAI, cached by aicache.

Routing: the providers whose API key is set, in the order Gemini, Claude, OpenAI; a provider that
still fails after the cached client's retries hands the request to the next one. With no key set
the manager starts a :class:`~aicache.simulator.ProviderSimulator` on 127.0.0.1 and talks to it
with the real OpenAI SDK, so every call still goes through ``cached_client``, the SDK's native
types and real prices. Results say ``simulated=True`` then.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson

from .. import _clock, _stats
from .._errors import AICacheError, ConfigError
from .._info import cache_info
from .._log import log
from ..backends import BackendSpec
from ..providers import PROVIDERS as TABLE
from ..providers import RetryOption, close_client
from ._prompts import SYSTEM, AnalysisType, normalise, prompt, schema, summary

__all__ = [
    "DEFAULT_MODELS",
    "KEY_VARIABLES",
    "PROVIDERS",
    "AnalysisError",
    "AnalysisResult",
    "SampleMindAIManager",
]

#: Routing order.
PROVIDERS = ("gemini", "anthropic", "openai")
#: The variables each provider's API key is read from (the provider table's).
KEY_VARIABLES: dict[str, tuple[str, ...]] = {p: TABLE.get(p).keys for p in PROVIDERS}
DEFAULT_MODELS = {
    "gemini": "gemini-2.5-flash",
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-4o",
}
#: The simulated provider speaks the OpenAI API and is priced as this model.
SIMULATED_MODEL = "gpt-4o"
SIMULATED_URL = "http://simulated-provider.invalid/v1"
MAX_TOKENS = 1024
DEFAULT_TTL = 7 * 24 * 3600.0
DEFAULT_LATENCY = (2.0, 5.0)
_DEFAULT_RETRY: Any = object()


class AnalysisError(Exception):
    """Every configured provider failed for one request (after its retries)."""


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis, and how aicache produced it."""

    analysis_type: AnalysisType
    text: str  # the model's answer (JSON for every analysis type)
    provider: str
    model: str
    cached: bool
    tier: str | None  # the tier that served a hit ("coalesced": shared an in-flight call)
    latency_s: float
    cost_usd: float | None  # what the call cost on a miss, what the hit saved; None: unknown
    simulated: bool
    key: str | None = None  # the cache key, when the call went through the cache

    @property
    def data(self) -> Any:
        """The answer parsed as JSON (``None`` if it is not JSON)."""
        try:
            return orjson.loads(self.text)
        except orjson.JSONDecodeError:
            return None

    @property
    def summary(self) -> str:
        return summary(self.analysis_type, self.text)


def _env_key(provider: str, environ: Mapping[str, str]) -> str | None:
    for var in KEY_VARIABLES[provider]:
        if environ.get(var, "").strip():
            return environ[var].strip()
    return None


_METHODS = {
    "gemini": "aio.models.generate_content",
    "anthropic": "messages.create",
    "openai": "chat.completions.create",
}


def _simulated_client(port: int) -> Any:
    """An OpenAI client for the simulator. It names a fixed host, which is part of every cache
    key, and its transport carries each request to the simulator's port, which changes on every
    run: so a second run finds the first run's entries."""
    import httpx2

    class Loopback(httpx2.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            return await super().handle_async_request(request)

    http = httpx2.AsyncClient(transport=Loopback(), timeout=httpx2.Timeout(120.0))
    return TABLE.get("openai").client(api_key="simulated", base_url=SIMULATED_URL, http_client=http)


def _provider_of(client: Any) -> str:
    found = TABLE.of_client(client)
    if found is None or not found[1] or found[0].name not in PROVIDERS:
        raise ConfigError(
            f"clients=: {type(client).__qualname__} is not a google.genai.Client, "
            "anthropic.AsyncAnthropic or openai.AsyncOpenAI"
        )
    return found[0].name


class _Route:
    """One provider: its cached client, its model, and how to ask it for a JSON analysis."""

    def __init__(self, provider: str, model: str, client: Any, simulated: bool) -> None:
        self.provider = provider
        self.model = model
        self.client = client
        self.simulated = simulated
        method = _METHODS[provider]
        # The stats label the cached client counts this route's calls under.
        self.label: _stats.Label = (f"{provider}.{method}", provider, model)

    async def ask(self, user: str, kind: AnalysisType, bypass: bool) -> tuple[str, Any]:
        """``(answer text, the SDK's response object)``."""
        shape = schema(kind)
        if self.provider == "gemini":
            response = await self.client.aio.models.generate_content(
                model=self.model,
                contents=user,
                config={
                    "system_instruction": SYSTEM,
                    "response_mime_type": "application/json",
                    "response_json_schema": shape,
                    "max_output_tokens": MAX_TOKENS,
                },
                bypass_cache=bypass,
            )
            return response.text or "", response
        if self.provider == "anthropic":
            response = await self.client.messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=SYSTEM,
                messages=[{"role": "user", "content": user}],
                output_config={"format": {"type": "json_schema", "schema": shape}},
                bypass_cache=bypass,
            )
            text = "".join(getattr(b, "text", "") for b in response.content)
            return text, response
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": kind.value, "schema": shape, "strict": True},
            },
            max_completion_tokens=MAX_TOKENS,
            bypass_cache=bypass,
        )
        return response.choices[0].message.content or "", response


def _cost(figures: dict[str, Any], hit: bool) -> float | None:
    if figures["cost_unknown"]:
        return None
    return float(figures["cost_saved_usd"] if hit else figures["cost_spent_usd"])


class SampleMindAIManager:
    """Analyse tracks' audio features with the configured providers, through aicache.

    ``clients``: SDK clients to use instead of those made from the API key variables, e.g.
    ``{"anthropic": AsyncAnthropic(...)}`` (routed in the order Gemini, Claude, OpenAI).
    ``simulate``: ``None`` uses the simulated provider only when no key and no client is given;
    ``True`` always uses it, ``False`` never. ``latency`` is the simulated provider's delay range
    in seconds. ``models`` replaces models of :data:`DEFAULT_MODELS`. ``ttl``, ``backend``,
    ``namespace`` and ``retry`` go to :func:`aicache.cached_client`; ``environ`` replaces
    ``os.environ`` when looking for keys.
    """

    def __init__(
        self,
        *,
        clients: Mapping[str, Any] | None = None,
        simulate: bool | None = None,
        models: Mapping[str, str] | None = None,
        latency: tuple[float, float] = DEFAULT_LATENCY,
        ttl: float | None = DEFAULT_TTL,
        backend: BackendSpec = None,
        namespace: str = "samplemind",
        retry: RetryOption = _DEFAULT_RETRY,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.models = {**DEFAULT_MODELS, **(models or {})}
        self.latency = latency
        self._cache_options: dict[str, Any] = {
            "ttl": ttl,
            "backend": backend,
            "namespace": namespace,
        }
        if retry is not _DEFAULT_RETRY:  # else cached_client's own default
            self._cache_options["retry"] = retry
        env = os.environ if environ is None else environ
        given = dict(clients or {})
        for name, client in given.items():
            if name not in PROVIDERS:
                raise ConfigError(f"clients=: unknown provider {name!r}; use one of {PROVIDERS}")
            if _provider_of(client) != name:
                raise ConfigError(f"clients=: {name!r} is given a {type(client).__qualname__}")
        if not given and simulate is not True:
            for name in PROVIDERS:
                key = _env_key(name, env)
                if key is not None:
                    try:
                        given[name] = TABLE.get(name).client(api_key=key)
                    except ImportError as exc:
                        log.warning("%s key is set but its SDK is not installed: %s", name, exc)
        if simulate is False and not given:
            names = ", ".join(v for p in PROVIDERS for v in KEY_VARIABLES[p])
            raise ConfigError(f"simulate=False needs clients= or an API key in one of {names}")
        self.simulated = simulate is True or not given
        self._raw = {} if self.simulated else {n: given[n] for n in PROVIDERS if n in given}
        self._routes: list[_Route] = []
        self._simulator: Any = None
        self._start_lock = asyncio.Lock()
        self._scope = _stats.scope("samplemind")

    @property
    def providers(self) -> list[str]:
        """The routing order in force (``["simulated"]`` in simulated mode)."""
        return ["simulated"] if self.simulated else list(self._raw)

    @property
    def description(self) -> str:
        if self.simulated:
            lo, hi = self.latency
            return (
                f"SIMULATED provider (OpenAI API on 127.0.0.1, {SIMULATED_MODEL} prices, "
                f"{lo:g}-{hi:g} s latency)"
            )
        return " -> ".join(f"{n} ({self.models[n]})" for n in self._raw)

    async def start(self) -> None:
        """Build the cached clients (and start the simulated provider). Called on first use."""
        async with self._start_lock:
            if self._routes:
                return
            from ..providers import cached_client

            if self.simulated:
                from ..simulator import ProviderSimulator

                self._simulator = await ProviderSimulator(latency=self.latency, seed=0).start()
                raw = _simulated_client(self._simulator.port)
                client = cached_client(raw, **self._cache_options)
                self._routes = [_Route("openai", SIMULATED_MODEL, client, simulated=True)]
                return
            self._routes = [
                _Route(name, self.models[name], cached_client(raw, **self._cache_options), False)
                for name, raw in self._raw.items()
            ]

    async def close(self) -> None:
        for route in self._routes:
            await close_client(route.client)
        self._routes = []
        if self._simulator is not None:
            await self._simulator.close()
            self._simulator = None

    async def __aenter__(self) -> SampleMindAIManager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def analyze_music(
        self,
        features: dict[str, Any],
        analysis_type: AnalysisType | str = AnalysisType.GENRE_CLASSIFICATION,
        bypass_cache: bool = False,
    ) -> AnalysisResult:
        """Analyse one track's audio features (tempo, key, mode, energy, danceability, ...).

        ``bypass_cache=True`` asks the provider again and refreshes the cached answer.
        Raises :class:`AnalysisError` when every provider fails.
        """
        kind = AnalysisType(analysis_type)
        user = prompt(normalise(features), kind)
        if not self._routes:
            await self.start()
        failures: list[str] = []
        with self._scope:
            for route in self._routes:
                started = _clock.monotonic()
                # A scope of its own tells what this one call cost or saved.
                with _stats.scope() as call:
                    try:
                        text, response = await route.ask(user, kind, bypass_cache)
                    except AICacheError:
                        raise
                    except Exception as exc:  # counted in stats as a failure by the cache
                        log.warning("%s failed, trying the next provider: %r", route.provider, exc)
                        failures.append(f"{route.provider}: {type(exc).__name__}: {exc}")
                        continue
                latency = _clock.monotonic() - started
                info = cache_info(response)
                figures = call.snapshot()
                hit = figures["hits"] > 0
                return AnalysisResult(
                    analysis_type=kind,
                    text=text,
                    provider=route.provider,
                    model=route.model,
                    cached=hit,
                    tier=info.tier if info is not None and hit else None,
                    latency_s=latency,
                    cost_usd=_cost(figures, hit),
                    simulated=route.simulated,
                    key=info.key if info is not None else None,
                )
        raise AnalysisError("every provider failed: " + "; ".join(failures))

    def get_global_stats(self) -> dict[str, Any]:
        """This manager's cache and provider figures, from its ``aicache.stats`` scope."""
        snap = self._scope.snapshot()
        providers = {
            name: {
                "calls": c["misses"] + c["bypasses"],
                "hits": c["hits"],
                "errors": c["failures"],
                "retries": c["retries"],
                "spend_usd": c["cost_spent_usd"],
                "saved_usd": c["cost_saved_usd"],
            }
            for name, c in snap["providers"].items()
        }
        return {
            "cache_hits": snap["hits"],
            "cache_misses": snap["misses"],
            "cache_hit_rate": snap["hit_rate"],
            "cache_cost_saved": snap["cost_saved_usd"],
            "cache_time_saved": snap["time_saved_s"],
            "cost_spent": snap["cost_spent_usd"],
            "simulated": self.simulated,
            "providers": providers,
        }
