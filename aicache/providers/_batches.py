"""Per-item embedding hits: each input of a batch is its own entry.

A call looks every input up, sends only the inputs not cached (each once) in one request, stores
each answered input under its own key, and returns one response of the SDK's type with the items
in the caller's order and usage that says what this call was billed (zero tokens when every
input was a hit; ``cache_info`` says ``hit`` then, with tier ``"items"``). The provider reports
one token count per request; each input's share of it (for its entry's cost, and the dollars a
later hit saves) is apportioned by the input's length.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from .. import _clock, _stats
from .._cache import AICache
from .._controls import switches
from .._info import remember
from .._policy import Cost, Policy
from ._base import tokens

__all__ = ["BatchAdapter", "answer_batch", "apportion"]


class BatchAdapter(Protocol):
    """What an adapter tells about a method whose list input is cached per item."""

    def items(self, path: str, call: dict[str, Any]) -> list[Any] | None:
        """The inputs of a per-item call, or ``None``: cached as one response."""
        ...

    def with_items(self, path: str, call: dict[str, Any], items: list[Any]) -> dict[str, Any]:
        """``call`` sending only ``items``."""
        ...

    def split(self, path: str, response: Any) -> list[Any]:
        """Each input's answer in ``response``, as plain JSON data to store."""
        ...

    def join(self, path: str, call: dict[str, Any], answers: list[Any], billed: int) -> Any:
        """One response of the SDK's type holding ``answers`` in order, billed ``billed``."""
        ...


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders): the parts add up."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1] * len(weights), len(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: parts[i] - exact[i])
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _weight(item: Any) -> int:
    return len(item) if isinstance(item, str | list) else len(str(item))


async def answer_batch(
    cache: AICache,
    adapter: BatchAdapter,
    path: str,
    call: dict[str, Any],
    items: list[Any],
    *,
    key_of: Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None],
    invoke: Callable[[dict[str, Any]], Awaitable[Any]],
    cost: Callable[[Any], Cost],
    policy: Policy,
    bypass: bool,
) -> Any:
    """The response to a per-item call (see the module's docstring)."""
    label = policy.label
    read, write = switches()
    keyed: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        found = key_of(adapter.with_items(path, call, [item]))
        if found is None:  # an input that cannot be keyed: the whole call goes through
            _stats.count(label, "uncached")
            return await invoke(call)
        keyed.append(found)
    answers: dict[str, Any] = {}
    if read and not bypass:
        for key, _ in keyed:  # a repeated input is looked up (and counted) at each place
            hit = await cache.lookup(key, label, allow_stale=False)
            if hit is not None:
                answers[key] = hit[0]
    missing: dict[str, int] = {}  # key -> index of its first input
    for i, (key, _) in enumerate(keyed):
        if key not in answers and key not in missing:
            missing[key] = i
    billed = 0
    if missing:
        first = next(iter(missing.values()))
        cache.replay_miss(keyed[first][0], label, keyed[first][1])
        for _ in missing:
            _stats.miss(label, bypass=bypass or not read)
        sent = [items[i] for i in missing.values()]
        started = _clock.monotonic()
        try:
            response = await invoke(adapter.with_items(path, call, sent))
        except Exception:
            _stats.count(label, "failures")
            raise
        duration = _clock.monotonic() - started
        usd, usage = cost(response)
        counted = (usage or {}).get("tokens") or {}
        billed = int(counted.get("input", 0))
        _stats.spent(label, usd, counted or None)
        shares = apportion(billed, [_weight(item) for item in sent])
        for (key, index), answer, share in zip(
            missing.items(), adapter.split(path, response), shares, strict=True
        ):
            answers[key] = answer
            if not write:
                continue
            part = None if usd is None or not billed else usd * share / billed
            doc = None if usage is None else {**usage, "tokens": tokens(input=share)}
            await cache.store(
                key,
                answer,
                policy,
                duration * share / billed if billed else duration,
                (part, doc),
                request=keyed[index][1] if cache.recording else None,
            )
    result = adapter.join(path, call, [answers[key] for key, _ in keyed], billed)
    # A hit when nothing was sent; the dollars saved are counted per input in the stats.
    remember(
        result, keyed[0][0], "items" if not missing else None, _clock.now(), None, hit=not missing
    )
    return result
