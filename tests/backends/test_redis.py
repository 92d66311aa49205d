"""The Redis tier against a real ``redis-server`` started for each test."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

import aicache
from aicache import ConfigError, ai_cached
from aicache.backends import EntryError, RedisBackend

KEY = "aicache:default:mod.fn:" + "cd" * 32


async def connected_clients(url: str) -> int:
    async with aioredis.Redis.from_url(url) as raw:
        info = await raw.info("clients")
        return int(info["connected_clients"]) - 1  # not counting this one


async def test_round_trip_overwrite_delete(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    assert await tier.get(KEY) is None
    await tier.set(KEY, b"\x00binary\xff", 60)
    assert await tier.get(KEY) == b"\x00binary\xff"
    await tier.set(KEY, b"second", None)
    assert await tier.get(KEY) == b"second"
    assert await tier.delete(KEY) is True
    assert await tier.delete(KEY) is False
    await tier.close()


async def test_ttl_is_set_in_redis_and_expires(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    raw = await tier.client()
    await tier.set("forever", b"v", None)
    await tier.set(KEY, b"v", 0.25)
    assert 0 < await raw.pttl("forever") <= tier.max_ttl * 1000  # never without an expiry
    assert 0 < await raw.pttl(KEY) <= 250
    await asyncio.sleep(0.4)
    assert await tier.get(KEY) is None
    await tier.set("forever", b"w", 0)  # no time left: gone
    assert await tier.get("forever") is None
    await tier.close()


async def test_clear_removes_only_the_prefix_and_never_foreign_keys(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)
    raw = await tier.client()
    for i in range(1_200):  # more than one SCAN/UNLINK batch
        await raw.set(f"aicache:app[1]:f:{i}", b"v")
    await raw.set("aicache:app1:f:0", b"glob lookalike")  # matched by an unescaped [1]
    await raw.set("aicache:app[1]x", b"shorter prefix")
    await raw.set("sessions:42", b"another application's key")
    await raw.hset("aicache:app[1]-hash", mapping={"a": "1"})
    assert len([k async for k in tier.keys("aicache:app[1]:")]) == 1_200
    assert await tier.clear("aicache:app[1]:") == 1_200
    assert [k async for k in tier.keys("aicache:app[1]:")] == []
    assert await raw.get("aicache:app1:f:0") == b"glob lookalike"
    assert await raw.get("aicache:app[1]x") == b"shorter prefix"
    assert await raw.get("sessions:42") == b"another application's key"
    assert await raw.dbsize() == 4
    await tier.close()


async def test_garbage_bytes_in_redis_are_a_miss(redis_server: Any) -> None:
    calls = 0

    @ai_cached(backend=[RedisBackend(redis_server.url)])
    async def answer(question: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"answer": question.upper()}

    key = answer.cache.key("why")
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        await raw.set(key, b"\x93not an envelope\x00\xff")
        assert await answer("why") == {"answer": "WHY"}
        assert calls == 1
        assert await raw.get(key) != b"\x93not an envelope\x00\xff"  # replaced
    assert await answer("why") == {"answer": "WHY"}
    assert calls == 1
    snap = aicache.stats.snapshot()
    assert snap["errors_by_tier"] == {"redis": 1}
    assert snap["hits_by_tier"] == {"redis": 1}


async def test_a_password_travels_in_the_url(redis_server: Any) -> None:
    redis_server.extra_args = ["--requirepass", "s3cret"]
    redis_server.restart()
    port = redis_server.port
    tier = RedisBackend(f"redis://:s3cret@127.0.0.1:{port}/0")
    await tier.set(KEY, b"v", 60)
    assert await tier.get(KEY) == b"v"
    assert "s3cret" not in repr(tier)
    await tier.close()
    wrong = RedisBackend(f"redis://:wrong@127.0.0.1:{port}/0")
    with pytest.raises(Exception, match=r"(?i)auth|password"):
        await wrong.get(KEY)  # the chain turns this into a miss; the tier just raises
    await wrong.close()


def test_bad_urls_and_options_name_the_argument() -> None:
    RedisBackend("rediss://user:pw@cache.example:6380/2")  # TLS: accepted, connects lazily
    with pytest.raises(ConfigError, match="url") as caught:
        RedisBackend("http://user:hunter2@example.com")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="timeout"):
        RedisBackend("redis://localhost", timeout=0)
    with pytest.raises(ConfigError, match="max_connections"):
        RedisBackend("redis://localhost", max_connections=0)


def test_missing_redis_package_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "try:\n"
        "    from aicache.backends import EntryError, RedisBackend\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'aicache[redis]'" in out.stdout


def test_each_event_loop_gets_its_own_pool_and_loses_nothing(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url)

    async def use(value: bytes) -> bytes | None:
        await tier.set(KEY, value, 60)
        return await tier.get(KEY)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i in range(3):  # a script calling asyncio.run() repeatedly
            assert asyncio.run(use(b"round %d" % i)) == b"round %d" % i
        # each loop's shutdown closed that loop's connections
        assert asyncio.run(connected_clients(redis_server.url)) == 0
        asyncio.run(tier.close())
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


async def test_close_disconnects_and_is_safe_twice(redis_server: Any) -> None:
    first = RedisBackend(redis_server.url)
    second = RedisBackend(redis_server.url)  # same URL and settings: shares the pool
    await asyncio.gather(*(first.get(f"k{i}") for i in range(20)))
    await second.get("k")
    assert (await first.client()) is (await second.client())
    await first.close()
    assert await second.get("k") is None  # still open for the other user
    await second.close()
    await second.close()
    assert await connected_clients(redis_server.url) == 0


async def test_a_burst_waits_for_connections_instead_of_failing(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=4, timeout=2.0)  # load is not the subject
    await tier.set(KEY, b"v" * 2048, 60)
    results = await asyncio.gather(*(tier.get(KEY) for _ in range(1_000)))
    assert results == [b"v" * 2048] * 1_000
    await tier.close()


async def test_reads_do_not_queue_behind_the_applications_use_of_client(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1, timeout=5.0)
    await tier.set(KEY, b"v", 60)
    app = await tier.client()
    blocked = asyncio.ensure_future(app.blpop(["aicache:test:empty"], timeout=2))
    await asyncio.sleep(0.05)  # the application holds client()'s one connection
    assert await tier.get(KEY) == b"v"
    assert not blocked.done()  # served without waiting for the application's command
    assert await blocked is None
    await tier.close()


async def test_a_cancelled_read_leaves_no_reply_behind_for_the_next(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1, timeout=5.0)  # one connection
    await tier.set(KEY + "a", b"a", 60)
    await tier.set(KEY + "b", b"b", 60)
    for _ in range(3):
        redis_server.freeze()
        read = asyncio.ensure_future(tier.get(KEY + "a"))
        await asyncio.sleep(0.05)  # sent; its reply not read yet
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        redis_server.thaw()
        assert await tier.get(KEY + "b") == b"b"
    await tier.close()


async def test_a_command_the_socket_takes_at_once_runs_no_task_of_its_own(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1)
    await tier.set(KEY, b"v", 60)  # connected
    loop = asyncio.get_running_loop()
    made = 0

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        nonlocal made
        made += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        for _ in range(10):
            await tier.set(KEY, b"v", 60)
            assert await tier.get(KEY) == b"v"
    finally:
        loop.set_task_factory(None)
    assert made == 0  # redis-py's own send runs each write in a task of its own (wait_for)
    await tier.close()


async def test_a_write_the_socket_cannot_take_at_once_still_times_out(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1, timeout=0.5)
    await tier.set(KEY, b"v", 60)  # connected
    redis_server.freeze()
    try:
        started = time.monotonic()
        # 3.11 times out draining the write; 3.12's transport takes the buffer and the reply's
        # read times out: either way the command fails within the timeout.
        with pytest.raises(RedisTimeoutError, match=r"writing|reading"):
            await tier.set(KEY, b"x" * (64 << 20), 60)  # more than the socket buffers hold
        assert time.monotonic() - started < 5.0
    finally:
        redis_server.thaw()
    assert await tier.get(KEY) == b"v"  # a fresh connection; the cut-off write never landed
    await tier.close()


async def test_an_error_reply_leaves_the_connection_in_step(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1)
    raw = await tier.client()
    await raw.rpush(KEY + "list", b"x")
    await tier.set(KEY, b"v", 60)
    for _ in range(3):
        with pytest.raises(EntryError):  # WRONGTYPE
            await tier.get(KEY + "list")
        assert await tier.get(KEY) == b"v"
    await tier.close()


async def test_a_slow_server_makes_waiting_callers_miss_not_fail(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1, timeout=5.0, pool_wait=0.05)
    await tier.set(KEY, b"v", 60)
    redis_server.freeze()
    slow = asyncio.ensure_future(tier.get(KEY))  # holds the only connection
    await asyncio.sleep(0.01)
    waiting = await asyncio.gather(*(tier.get(KEY) for _ in range(5)))
    assert waiting == [None] * 5  # gave up waiting for a connection: a miss, not an error
    redis_server.thaw()
    assert await slow == b"v"
    await tier.close()


async def test_callers_cancelled_in_the_queue_leave_the_slot_to_the_others(
    redis_server: Any,
) -> None:
    tier = RedisBackend(redis_server.url, max_connections=1, timeout=5.0, pool_wait=1.0)
    await tier.set(KEY, b"v", 60)
    redis_server.freeze()
    holder = asyncio.ensure_future(tier.get(KEY))  # holds the one slot
    await asyncio.sleep(0.05)
    queued = []
    for _ in range(3):  # one per loop turn: each its own round trip, queued for the slot
        queued.append(asyncio.ensure_future(tier.get(KEY)))
        await asyncio.sleep(0.02)
    queued[0].cancel()
    queued[1].cancel()
    redis_server.thaw()
    assert await holder == b"v"
    assert await queued[2] == b"v"  # the slot skipped the two that left
    for gone in queued[:2]:
        with pytest.raises(asyncio.CancelledError):
            await gone
    # none of them kept the slot: it still passes from caller to caller
    assert await asyncio.gather(*(tier.get(KEY) for _ in range(5))) == [b"v"] * 5
    await tier.close()


async def test_callers_queued_behind_a_hung_server_give_up_together(redis_server: Any) -> None:
    tier = RedisBackend(redis_server.url, max_connections=2, timeout=1.0, pool_wait=30.0)
    await tier.get(KEY)
    redis_server.freeze()
    started = time.monotonic()
    outcomes = await asyncio.gather(*(tier.get(KEY) for _ in range(20)), return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(o, Exception) for o in outcomes)
    # 10 rounds of 2 connections would take 10 s; the queue fails with the first round
    assert elapsed < 5.0
    redis_server.thaw()
    await tier.close()


EXIT_SCRIPT = r"""
import asyncio, sys, tempfile
from aicache import ai_cached, close
from aicache.backends import FileBackend, MemoryBackend, RedisBackend

@ai_cached(backend=[RedisBackend(sys.argv[1]), FileBackend(tempfile.mkdtemp()), MemoryBackend()])
async def echo(x: int) -> dict:
    return {"x": x}

async def main(closing: bool) -> None:
    for _ in range(2):
        assert await asyncio.gather(*(echo(i) for i in range(20))) == [{"x": i} for i in range(20)]
    if closing:
        await close()

asyncio.run(main(sys.argv[2] == "close"))
asyncio.run(main(False))  # a second loop, never closed explicitly
print("done")
"""


@pytest.mark.parametrize("ending", ["close", "no-close"])
def test_no_unclosed_connection_warnings_at_exit(redis_server: Any, ending: str) -> None:
    out = subprocess.run(
        [sys.executable, "-W", "always", "-c", EXIT_SCRIPT, redis_server.url, ending],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert "nclosed" not in out.stderr and "ResourceWarning" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("GET", KEY),
        ("GET", "aicache:ns:mödule.fünc:" + "ab" * 32),  # a function name may be any text
        ("SET", KEY, b"\r\n$3\r\n*\x00" + bytes(range(256)), "PX", 60_000),
        ("SET", KEY, b"v" * 100_000, "PX", 1),  # past redis-py's buffer cut-off
        ("UNLINK", KEY),
        ("MGET", KEY, KEY + "b", "aicache:x"),
    ],
)
def test_the_tiers_packing_is_redis_pys(args: tuple[Any, ...]) -> None:
    from aicache.backends._redis_wire import pack

    conn = aioredis.Connection()  # never connected: packing only
    assert pack(conn, args) == [b"".join(conn.pack_command(*args))]
