"""SampleMind in a few lines: analyse one track twice and see what the cache saved.

    python examples/samplemind.py

With GEMINI_API_KEY, ANTHROPIC_API_KEY or OPENAI_API_KEY set it asks that provider (and spends
real money, once); without, a simulated provider on 127.0.0.1 answers through the real OpenAI SDK.
"""

from __future__ import annotations

import asyncio

import aicache
from aicache.demo import TRACKS, AnalysisType, SampleMindAIManager


async def main() -> None:
    track = TRACKS[0]
    async with SampleMindAIManager(latency=(0.5, 1.0)) as ai:
        print(f"provider: {ai.description}; track: {track['title']}")
        for attempt in (1, 2):
            result = await ai.analyze_music(track["features"], AnalysisType.GENRE_CLASSIFICATION)
            source = f"hit from the {result.tier} tier" if result.cached else "provider call"
            print(f"{attempt}. {result.summary}  [{source}, {result.latency_s:.3f}s]")
        stats = ai.get_global_stats()
        print(
            f"hits {stats['cache_hits']}, misses {stats['cache_misses']}, "
            f"saved ${stats['cache_cost_saved']:.6f} and {stats['cache_time_saved']:.2f}s"
        )
    await aicache.close()


if __name__ == "__main__":
    asyncio.run(main())
