"""Result types: what may be stored, how it comes back, and what a stored tag may never do."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import sys
from typing import Any

import pydantic
import pytest

from aicache import MemoryBackend, ai_cached, register_type
from aicache import stats as aistats
from aicache._codecs import UnstorableResult, dump_value, load_value
from aicache._envelope import Entry, encode


class Usage(pydantic.BaseModel):
    input_tokens: int
    output_tokens: int = 0


class Reply(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    text: str
    usage: Usage
    labels: list[str] = []
    kind: str = pydantic.Field(default="reply", alias="type")


class Plain:
    """A class nobody registered."""

    def __init__(self, x: int) -> None:
        self.x = x


@dataclasses.dataclass
class Box:
    x: int


class Mood(enum.Enum):
    HAPPY = "happy"


class Runs:
    def __init__(self) -> None:
        self.n = 0


def returning(value: Any, name: str) -> tuple[Runs, Any]:
    runs = Runs()

    @ai_cached(backend="memory", name=name)
    async def fn(x: int) -> Any:
        runs.n += 1
        return value() if callable(value) and not isinstance(value, type) else value

    return runs, fn


async def test_pydantic_models_come_back_as_their_own_class() -> None:
    runs, fn = returning(
        lambda: Reply(text="hi", usage=Usage(input_tokens=3), labels=["a"], type="x"),
        "types.reply",
    )
    first = await fn(1)
    second = await fn(1)
    assert runs.n == 1
    assert type(second) is Reply and type(second.usage) is Usage
    assert second == first
    assert second is not first
    assert second.model_fields_set == first.model_fields_set  # unset fields stay unset


async def test_a_model_in_a_list_result_is_not_stored_as_a_dict() -> None:
    runs, fn = returning(lambda: [Usage(input_tokens=1)], "types.model_list")
    assert await fn(1) == [Usage(input_tokens=1)]
    assert await fn(1) == [Usage(input_tokens=1)]
    assert runs.n == 2  # not stored, rather than given back as a dict


async def test_tuples_come_back_as_tuples() -> None:
    runs, fn = returning(lambda: ("a", 1, [2]), "types.tuple")
    await fn(1)
    again = await fn(1)
    assert again == ("a", 1, [2]) and type(again) is tuple
    assert runs.n == 1


async def test_unregistered_classes_are_returned_but_not_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs, fn = returning(lambda: Plain(1), "types.plain")
    with caplog.at_level(logging.WARNING, logger="aicache"):
        for _ in range(3):
            assert isinstance(await fn(1), Plain)
    assert runs.n == 3
    warnings = [r for r in caplog.records if "Plain" in r.getMessage()]
    assert len(warnings) == 1  # once, not once per call
    assert "register_type" in warnings[0].getMessage()
    counts = aistats.snapshot()["functions"]["types.plain"]
    assert (counts["not_stored"], counts["stores"]) == (3, 0)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda: Box(1), id="dataclass"),
        pytest.param(lambda: {"box": Box(1)}, id="nested-dataclass"),
        pytest.param(lambda: {"when": datetime.datetime(2024, 1, 1)}, id="nested-datetime"),
        pytest.param(lambda: {"mood": Mood.HAPPY}, id="nested-enum"),
        pytest.param(lambda: {"pair": (1, 2)}, id="nested-tuple"),
        pytest.param(lambda: ((1, 2), 3), id="tuple-in-tuple"),
        pytest.param(lambda: {"score": float("nan")}, id="nested-nan"),
        pytest.param(lambda: [float("inf")], id="nested-inf"),
        pytest.param(lambda: float("-inf"), id="minus-inf"),
        pytest.param(lambda: {"tags": {"a"}}, id="nested-set"),
        pytest.param(lambda: {1: "a"}, id="int-dict-key"),
        pytest.param(lambda: {None: "a"}, id="none-dict-key"),
        pytest.param(lambda: {"big": 10**30}, id="huge-int"),
        pytest.param(lambda: b"bytes", id="bytes"),
    ],
)
async def test_results_json_would_change_are_not_stored(value: Any) -> None:
    runs, fn = returning(value, "types.unfaithful")
    first = await fn(1)
    second = await fn(1)
    assert runs.n == 2
    assert type(second) is type(first)
    assert aistats.snapshot()["functions"]["types.unfaithful"]["not_stored"] == 2


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**63), 2**64 - 1, 1.5, -0.0, "", "text", [], {}, [{"a": [None, 1.0]}]],
)
def test_plain_json_results_round_trip_exactly(value: Any) -> None:
    tag, data = dump_value(value)
    back = load_value(tag, data)
    assert back == value and type(back) is type(value)


def test_dump_value_names_what_cannot_be_stored() -> None:
    with pytest.raises(UnstorableResult, match="Plain"):
        dump_value(Plain(1))
    with pytest.raises(UnstorableResult, match="tuple"):
        dump_value({"a": [{"b": (1,)}]})
    with pytest.raises(UnstorableResult, match="nan"):
        dump_value([float("nan")])


async def test_registered_classes_round_trip() -> None:
    class Point:
        def __init__(self, x: int, y: int) -> None:
            self.x, self.y = x, y

    register_type(Point, dump=lambda p: [p.x, p.y], load=lambda d: Point(*d))
    runs, fn = returning(lambda: Point(1, 2), "types.point")
    await fn(1)
    again = await fn(1)
    assert type(again) is Point and (again.x, again.y) == (1, 2)
    assert runs.n == 1


def test_register_type_needs_dump_and_load_for_other_classes() -> None:
    with pytest.raises(TypeError, match="dump= and load="):
        register_type(Plain)


async def test_an_entry_naming_an_unregistered_tag_is_a_miss_and_imports_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tier = MemoryBackend()

    @ai_cached(backend=tier, name="types.foreign")
    async def fn(x: int) -> dict[str, int]:
        return {"x": x}

    foreign = ["wave:Wave_read", "mailbox:Maildir", "aicache_no_such_module:Thing"]
    assert not any(tag.split(":")[0] in sys.modules for tag in foreign)
    for i, tag in enumerate(foreign):
        key = fn.cache.key(i)
        await tier.set(key, encode(key, Entry({"any": "data"}, tag, created=1.0)), None)
        with caplog.at_level(logging.WARNING, logger="aicache"):
            assert await fn(i) == {"x": i}  # a miss: the function ran
    assert not any(tag.split(":")[0] in sys.modules for tag in foreign)
    counts = aistats.snapshot()["functions"]["types.foreign"]
    assert (counts["misses"], counts["hits"]) == (3, 0)
    assert any("wave:Wave_read" in r.getMessage() for r in caplog.records)
    assert await fn(0) == {"x": 0}
    assert aistats.snapshot()["functions"]["types.foreign"]["hits"] == 1  # replaced by a good one


class Annotated(pydantic.BaseModel):
    value: int


async def test_the_return_annotation_is_allowed_before_any_result_is_seen() -> None:
    # A new process reading an entry an earlier process wrote: the decorated function's
    # annotation put the class on the allowlist, so the entry is rebuilt without a call.
    tier = MemoryBackend()
    runs = Runs()

    @ai_cached(backend=tier, name="types.annotated")
    async def fn(x: int) -> Annotated:
        runs.n += 1
        return Annotated(value=x)

    key = fn.cache.key(7)
    tag = f"{Annotated.__module__}:{Annotated.__qualname__}"
    await tier.set(key, encode(key, Entry({"value": 7}, tag, created=1.0)), None)
    got = await fn(7)
    assert type(got) is Annotated and got.value == 7
    assert runs.n == 0


async def test_a_result_that_contains_itself_is_returned_not_stored() -> None:
    import asyncio

    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop

    @ai_cached(backend=MemoryBackend())
    async def f() -> dict[str, Any]:
        return loop

    assert await asyncio.wait_for(f(), 2) is loop
    assert await asyncio.wait_for(f(), 2) is loop
    assert aistats.snapshot()["hits"] == 0
    shared = [1, 2]
    assert dump_value({"a": shared, "b": shared}) == (None, {"a": shared, "b": shared})
