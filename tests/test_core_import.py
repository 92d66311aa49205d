"""The core needs only its own dependencies: ``import aicache`` and a cached function work in a
process where no provider SDK, HTTP client, Redis client or CLI extra can be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

OPTIONAL = (
    "httpx2",
    "httpx",
    "openai",
    "anthropic",
    "google",
    "redis",
    "rich",
    "prometheus_client",
)

PROBE = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is not installed (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    before = set(sys.modules)  # namespace packages a .pth file set up at start-up
    import aicache
    import aicache.simulator

    @aicache.ai_cached(backend="memory")
    async def f(x: int) -> dict[str, int]:
        return {{"double": x * 2}}

    async def main() -> None:
        assert await f(21) == {{"double": 42}}
        assert aicache.cache_info(await f(21)).hit

    asyncio.run(main())
    loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in BLOCKED)
    print("loaded:", loaded)
    """
)


def test_the_core_imports_and_caches_without_any_optional_package() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE.format(blocked=OPTIONAL)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "loaded: []"
