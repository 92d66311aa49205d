"""Public stats API: ``snapshot()``, ``scope()`` and ``reset()``, as ``aicache.stats.*``.

Counters are shared by ``@ai_cached`` functions and cached provider clients. ``snapshot()`` returns
a dict: ``hits``, ``misses``, ``bypasses``, ``stores``, ``errors``, ``hit_rate`` (hits / (hits +
misses), 0.0 when nothing happened), ``cost_saved_usd``, ``cost_spent_usd``, ``time_saved_s``,
token counts, hits per tier, and the same figures per function, provider and model.
"""

from __future__ import annotations

from ._stats import Counters, Scope, current, reset, scope, snapshot

__all__ = ["Counters", "Scope", "current", "reset", "scope", "snapshot"]
