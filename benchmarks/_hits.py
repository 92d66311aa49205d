"""Hit cost: aicache on each tier, cashews, aiocache and the floors, interleaved in one run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

import aicache

from . import _workload
from ._common import Env, Mode, Results, Row, has_module
from ._floors import FileFloor, floor_decorator, floor_key
from ._peers import Fn, aiocache_factory, cashews_factory
from ._timing import Contender, measure

__all__ = ["aicache_tiers", "fresh_check", "run"]

RESULT_BYTES = _workload.RESULT_BYTES
NATIVE_FLOOR = "floor: key + dict lookup + Message.model_validate"
chat = _workload.chat


def chat_sync(
    model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int
) -> dict[str, Any]:
    """:func:`chat` as a plain function."""
    out: dict[str, Any] = orjson.loads(RESULT_BYTES)
    return out


def aicache_tiers(env: Env) -> list[tuple[str, str]]:
    """``(tier label, backend spec)`` of the aicache tiers this checkout and run can offer."""
    tiers = [("memory", "memory")]
    if has_module("aicache.backends._file"):
        tiers.append(("file", "file"))
    if env.redis_url and has_module("aicache.backends._redis"):
        tiers.append(("redis", "redis"))
        tiers.append(("chain", "auto"))
    elif has_module("aicache.backends._file"):
        tiers.append(("chain", "auto"))
    return tiers


async def fresh_check(fn: Fn) -> str:
    """Whether a hit hands out an object the caller may mutate without touching the cache."""
    req = _workload.request(variant=999)
    first = await fn(**req)
    if not isinstance(first, dict):
        return "not a dict"
    second = await fn(**req)
    if second is first:
        return "shared object"
    second["content"][0]["text"] = "mutated"
    third = await fn(**req)
    if third["content"][0]["text"] == "mutated":
        return "shallow copy"
    return "fresh"


@dataclass
class _Entry:
    name: str
    group: str
    tier: str
    fn: Callable[[], Any]
    is_async: bool = True
    fresh_of: Fn | None = None
    note: str = ""
    network: bool = False  # each call goes to Redis: fewer calls per block


@contextlib.asynccontextmanager
async def _contenders(env: Env, mode: Mode, results: Results) -> AsyncIterator[list[_Entry]]:
    req = _workload.request()
    key = floor_key(req)
    entries: list[_Entry] = []
    closers: list[Callable[[], Awaitable[Any]]] = []

    async def noop() -> None:
        return None

    entries.append(_Entry("harness: empty coroutine", "floor", "-", noop))
    entries.append(
        _Entry(
            "floor: key (orjson sort-keys + sha256)", "floor", "-", partial(floor_key, req), False
        )
    )
    shared = floor_decorator(chat, fresh=False)
    copying = floor_decorator(chat, fresh=True)
    entries.append(
        _Entry(
            "floor: hand-written decorator (key + dict lookup)",
            "floor",
            "memory",
            partial(shared, **req),
            fresh_of=shared,
            note="the targets' floor; returns the stored object itself",
        )
    )
    entries.append(
        _Entry(
            "floor: hand-written decorator + orjson.loads",
            "floor",
            "memory",
            partial(copying, **req),
            fresh_of=copying,
            note="keeps bytes, returns a fresh object",
        )
    )
    floor_file = FileFloor(env.tmp / "floor-files", key, RESULT_BYTES)
    entries.append(
        _Entry(
            "floor: read 2 KB sharded file + orjson.loads", "floor", "file", floor_file.read_inline
        )
    )
    entries.append(
        _Entry(
            "floor: file read + orjson.loads via to_thread", "floor", "file", floor_file.read_thread
        )
    )
    if env.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(env.redis_url)
        closers.append(client.aclose)
        raw_key = f"benchmarks:floor:{key}"
        await client.set(raw_key, RESULT_BYTES)

        async def get_loads() -> Any:
            data = await client.get(raw_key)
            assert isinstance(data, bytes)
            return orjson.loads(data)

        entries.append(
            _Entry(
                "floor: redis.asyncio GET 2 KB",
                "floor",
                "redis",
                partial(client.get, raw_key),
                network=True,
            )
        )
        entries.append(
            _Entry("floor: redis GET + orjson.loads", "floor", "redis", get_loads, network=True)
        )

    for tier, spec in aicache_tiers(env):
        fn: Fn = aicache.ai_cached(backend=spec, name=f"bench_hit_{tier}")(chat)
        note = ""
        if tier == "chain":
            note = "backend='auto': " + ("redis, file, memory" if env.redis_url else "file, memory")
        entries.append(
            _Entry(
                f"aicache {tier}",
                "aicache",
                tier,
                partial(fn, **req),
                fresh_of=fn,
                note=note,
                network=tier == "redis" or (tier == "chain" and env.redis_url is not None),
            )
        )

    for tier, spec in aicache_tiers(env):
        if tier in ("memory", "file"):  # the tiers a sync hit reads on the calling thread
            sync_fn = aicache.ai_cached(backend=spec, name=f"bench_sync_hit_{tier}")(chat_sync)
            entries.append(
                _Entry(
                    f"aicache {tier} (sync def)",
                    "aicache",
                    tier,
                    partial(sync_fn, **req),
                    is_async=False,
                    note="@ai_cached on a plain def; no event loop on a hit",
                )
            )

    peers: list[tuple[str, str, str, Any]] = [
        ("cashews mem (default, protected)", "cashews", "memory", cashews_factory(None)),
        (
            "cashews mem protected=False",
            "cashews",
            "memory",
            cashews_factory(None, protected=False),
        ),
        ("aiocache memory", "aiocache", "memory", aiocache_factory(None)),
    ]
    if env.redis_url:
        peers += [
            ("cashews redis (default)", "cashews", "redis", cashews_factory(env.redis_url)),
            (
                "cashews redis protected=False",
                "cashews",
                "redis",
                cashews_factory(env.redis_url, protected=False),
            ),
            ("aiocache redis", "aiocache", "redis", aiocache_factory(env.redis_url)),
        ]
    for name, group, tier, (decorate, close) in peers:
        closers.append(close)
        fn = decorate(chat)
        entries.append(
            _Entry(name, group, tier, partial(fn, **req), fresh_of=fn, network=tier == "redis")
        )

    if has_module("aicache.providers") and has_module("anthropic"):
        entries += await _native(closers)

    try:
        yield entries
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                await close()


def anthropic_request() -> dict[str, Any]:
    """The argument set in Anthropic's shape: system prompt, then alternating turns."""
    req = _workload.request()
    system, *turns = req["messages"]
    return {
        "model": req["model"],
        "max_tokens": req["max_tokens"],
        "system": system["content"],
        "messages": turns,
    }


async def _native(closers: list[Callable[[], Awaitable[Any]]]) -> list[_Entry]:
    """A cached_client hit returning ``anthropic.types.Message``, and its floor: key + dict
    lookup + ``orjson.loads`` + ``Message.model_validate`` of the stored JSON."""
    from anthropic import Anthropic, AsyncAnthropic
    from anthropic.types import Message

    from aicache.providers import cached_client
    from aicache.simulator import ProviderSimulator

    sim = ProviderSimulator()
    await sim.start()
    closers.append(sim.close)
    client = AsyncAnthropic(api_key="sk-bench-not-a-key", base_url=sim.base_url, max_retries=0)
    closers.append(client.close)
    req = anthropic_request()
    proxy = cached_client(client, backend="memory", namespace="bench")
    sync_client = Anthropic(api_key="sk-bench-not-a-key", base_url=sim.base_url, max_retries=0)

    async def close_sync() -> None:
        sync_client.close()

    closers.append(close_sync)
    sync_proxy = cached_client(sync_client, backend="memory", namespace="bench")
    first = await proxy.messages.create(**req)
    store = {floor_key(req): orjson.dumps(first.to_dict(mode="json"))}

    async def floor_native(**kwargs: Any) -> Message:
        data = store[floor_key(kwargs)]
        return Message.model_validate(orjson.loads(data))

    return [
        _Entry(
            NATIVE_FLOOR,
            "floor",
            "memory",
            partial(floor_native, **req),
            note="anthropic Message rebuilt from stored JSON",
        ),
        _Entry(
            "aicache cached_client memory",
            "aicache",
            "memory",
            partial(proxy.messages.create, **req),
            note="AsyncAnthropic.messages.create; returns anthropic.types.Message",
        ),
        _Entry(
            "aicache cached_client memory (sync Anthropic)",
            "aicache",
            "memory",
            partial(sync_proxy.messages.create, **req),
            is_async=False,
            note="Anthropic.messages.create, served from the entry the async client wrote",
        ),
    ]


async def run(env: Env, mode: Mode, results: Results) -> None:
    async with _contenders(env, mode, results) as entries:
        for e in entries:  # fill every cache, and prove each contender really hits
            if e.is_async:
                await e.fn()
                await e.fn()
            else:
                e.fn()
        fresh = {e.name: await fresh_check(e.fresh_of) for e in entries if e.fresh_of is not None}
        contenders = [
            Contender(e.name, e.fn, e.is_async, mode.redis_calls if e.network else None)
            for e in entries
        ]
        samples = await measure(contenders, blocks=mode.blocks, calls=mode.calls)
        for e in entries:
            results.hits.append(
                Row(e.name, e.group, e.tier, samples[e.name], fresh.get(e.name, ""), e.note)
            )
