"""What the numbers were measured on: cores, CPU, Python, the Redis-compatible server."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import psutil

from ult.connection import Client


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's word for it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def server_info(r: Client) -> dict[str, Any]:
    """Name and version of the Redis-compatible server, and its persistence settings."""
    info = r.info("server")
    persistence = r.info("persistence")
    fsync = r.config_get("appendfsync").get("appendfsync")
    name = info.get("server_name") or "redis"
    version = info.get("valkey_version") or info.get("redis_version")
    return {
        "server": name,
        "server_version": str(version),
        "redis_version": str(info.get("redis_version")),
        "aof": bool(persistence.get("aof_enabled")),
        "appendfsync": fsync,
    }


def describe_machine(r: Client) -> dict[str, Any]:
    """The ``machine`` object of the JSON results."""
    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_model": cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        **server_info(r),
    }
