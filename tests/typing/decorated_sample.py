"""Checked by ``mypy --strict`` (see test_typing.py): decorated functions keep their signature.

Every ``# type: ignore[...]`` marks a call that must be an error: ``--strict`` reports an ignore
that is not needed, so the check fails if such a call ever type-checks.
"""

from __future__ import annotations

from datetime import timedelta

from typing_extensions import assert_type, reveal_type

from aicache import ai_cached


@ai_cached(ttl=timedelta(hours=1), backend="memory")
async def classify(features: dict[str, float], kind: str = "mood") -> list[str]:
    return [kind]


@ai_cached
async def bare(x: int) -> int | None:
    return x


@ai_cached(backend="memory")
def plain(text: str, *, n: int = 1) -> list[str]:
    return [text] * n


class Service:
    @ai_cached(ttl=60)
    async def label(self, text: str, *, strict: bool = False) -> dict[str, str]:
        return {"text": text}


async def main() -> None:
    assert_type(await classify({"tempo": 120.0}), list[str])
    assert_type(await classify(features={"tempo": 1.0}, kind="genre"), list[str])
    assert_type(await bare(1), int | None)
    assert_type(await Service().label("hi", strict=True), dict[str, str])
    assert_type(classify.cache.key({"tempo": 1.0}), str)
    assert_type(await classify.cache.refresh({"tempo": 1.0}), list[str])
    assert_type(await classify.cache.invalidate({"tempo": 1.0}), bool)
    assert_type(plain("hi", n=2), list[str])
    assert_type(plain.cache.invalidate("hi"), bool)
    assert_type(plain.cache.refresh("hi"), list[str])
    plain(1)  # type: ignore[arg-type]
    reveal_type(classify)
    reveal_type(Service().label)

    await classify("not a dict")  # type: ignore[arg-type]
    await classify({"tempo": 1.0}, kind=3)  # type: ignore[arg-type]
    await classify({"tempo": 1.0}, colour="red")  # type: ignore[call-arg]
    await classify()  # type: ignore[call-arg]
    await bare("1")  # type: ignore[arg-type]
    await Service().label(1)  # type: ignore[arg-type]
    await Service().label("hi", True)  # type: ignore[call-arg]
    classify.cache.key(1)  # type: ignore[arg-type]
    wrong: list[int] = await classify({})  # type: ignore[assignment]
    del wrong
