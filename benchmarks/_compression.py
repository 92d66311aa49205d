"""A 1 MB entry stored with and without compression: its size and the hit it costs, and the
codecs that were weighed (zlib, stdlib, against zstd, the one the envelope uses).

A hit here is the Redis tier's GET plus :func:`aicache._envelope.decode`: the part of a hit that
compression changes. Without compression means ``compress_over`` above the entry's size.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import zstandard

from aicache._envelope import Entry, decode, encode
from aicache.backends import RedisBackend

from ._common import Env, Mode, Results
from ._timing import Contender, measure

__all__ = ["run"]

_KEY = "aicache:bench:compression:"


def _document(size: int) -> list[dict[str, Any]]:
    """Chat-like JSON of about ``size`` bytes: text, numbers, repeated field names."""
    turn = {"role": "assistant", "content": "The answer, step by step: ", "tokens": 0}
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) * 120 < size:
        out.append({**turn, "content": f"{turn['content']}{i} of many lines " * 2, "tokens": i})
        i += 1
    return out


def _best_ms(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


async def run(env: Env, mode: Mode, results: Results) -> None:
    doc = _document(1024 * 1024)
    raw = encode(_KEY, Entry(doc), compress_over=1 << 40)
    packed = encode(_KEY, Entry(doc))
    body = raw[5:]
    n = 3 if mode.name == "smoke" else 20
    zc = zstandard.ZstdCompressor(level=3)
    zd = zstandard.ZstdDecompressor()
    codecs: list[tuple[str, Callable[[], bytes], Callable[[bytes], bytes]]] = [
        ("zlib level 1", lambda: zlib.compress(body, 1), zlib.decompress),
        ("zlib level 6", lambda: zlib.compress(body, 6), zlib.decompress),
        ("zstd level 3 (used)", lambda: zc.compress(body), zd.decompress),
    ]
    for name, comp, decomp in codecs:
        small = comp()
        results.compression.append(
            {
                "what": name,
                "bytes": len(small),
                "compress_ms": _best_ms(comp, n),
                "decompress_ms": _best_ms(partial(decomp, small), n),
            }
        )
    results.compression.append(
        {
            "what": "decode of the uncompressed entry (orjson; every hit pays it)",
            "bytes": len(body),
            "compress_ms": None,
            "decompress_ms": _best_ms(partial(decode, _KEY, raw), n),
        }
    )
    if env.redis_url is None:
        return
    tier = RedisBackend(env.redis_url, name="redis")
    try:
        await tier.set(_KEY + "raw", raw, 600)
        await tier.set(_KEY + "packed", packed, 600)

        def hit(key: str) -> Callable[[], Any]:
            async def once() -> Any:
                data = await tier.get(key)
                assert data is not None
                return decode(_KEY, data)

            return once

        samples = await measure(
            [
                Contender("1 MB entry, uncompressed", hit(_KEY + "raw"), calls=max(5, n)),
                Contender("1 MB entry, zstd", hit(_KEY + "packed"), calls=max(5, n)),
            ],
            blocks=mode.blocks,
            calls=n,
            warmup=3,
        )
        for name, data in (
            ("1 MB entry, uncompressed", raw),
            ("1 MB entry, zstd", packed),
        ):
            s = samples[name]
            results.compression_hits.append(
                {"name": name, "stored_bytes": len(data), "p50_us": s.p50_us, "p99_us": s.p99_us}
            )
    finally:
        await tier.delete(_KEY + "raw")
        await tier.delete(_KEY + "packed")
        await tier.close()
