"""What the figures were measured on: CPU, cores, Python, OS, load, and every version involved."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from ._server import redis_server_version

__all__ = ["load_average", "machine", "versions"]

_PACKAGES = (
    "aicache",
    "orjson",
    "redis",
    "hiredis",
    "cashews",
    "aiocache",
    "anthropic",
    "matplotlib",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "load average at start (1/5/15 min)": load_average(),
    }


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            out[name if name != "redis" else "redis-py"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["redis-server"] = redis_server_version() or "not found"
    return out
