"""SampleMind, the music-analysis app aicache comes from: its AI manager and demo tracks.

    from aicache.demo import SampleMindAIManager, AnalysisType, TRACKS

    async with SampleMindAIManager() as ai:      # simulated provider when no API key is set
        result = await ai.analyze_music(TRACKS[0]["features"], AnalysisType.GENRE_CLASSIFICATION)
        result.cached, result.tier, result.summary
        ai.get_global_stats()["cache_cost_saved"]

``aicache demo`` runs :func:`run` over the bundled tracks.
"""

from ._manager import AnalysisError, AnalysisResult, SampleMindAIManager
from ._prompts import AnalysisType
from ._run import run
from ._tracks import TRACKS

__all__ = [
    "TRACKS",
    "AnalysisError",
    "AnalysisResult",
    "AnalysisType",
    "SampleMindAIManager",
    "run",
]
