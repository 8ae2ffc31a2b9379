"""Whether Redis can take writes: for ``/healthz`` and the customer's error message.

A Redis that answers PING may still refuse every write: out of memory (``OOM``), a read-only
replica (``READONLY``) or a disk it cannot write (``MISCONF``). Scripts are atomic, so such a
refusal writes nothing; the customer is asked to try again later and ``/healthz`` says why.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio
import redis.exceptions
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from ult.messages import customer_error

STORAGE_FAULTS = {
    "OOM": "Redis is out of memory",
    "READONLY": "Redis is read-only",
    "MISCONF": "Redis cannot write to its disk",
}
RECENT_S = 30.0  # a refused write keeps /healthz degraded this long
MASTER_SILENT = "a Redis Cluster master does not answer"
MASTER_TIMEOUT_S = 2.0  # a cluster master slower than this to answer INFO does not answer
STORAGE_FULL = customer_error("storage_full")
UNREACHABLE = customer_error("unavailable")


def storage_fault(error: redis.exceptions.ResponseError) -> str | None:
    """Why Redis refused a write, or None when ``error`` is not a storage fault.

    redis-py turns ``OOM`` and ``READONLY`` replies into their own classes (and drops the
    prefix from the message); ``MISCONF`` stays a plain ResponseError.
    """
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        return STORAGE_FAULTS["OOM"]
    if isinstance(error, redis.exceptions.ReadOnlyError):
        return STORAGE_FAULTS["READONLY"]
    text = str(error)
    for prefix, reason in STORAGE_FAULTS.items():
        if text.startswith(prefix) or f" {prefix} " in text[:80]:
            return reason
    return None


class StorageHealth:
    """Remembers the last storage fault a request met and checks Redis's own state."""

    def __init__(self) -> None:
        self._fault: tuple[str, float] | None = None

    def fault(self, reason: str) -> None:
        self._fault = (reason, time.monotonic())

    def clear(self) -> None:
        self._fault = None

    async def problem(self, r: redis.asyncio.Redis | AsyncRedisCluster) -> str | None:
        """Why writes fail now (None: they should not); raises when Redis is unreachable.
        On a cluster every master is asked (a master that does not answer is a problem)."""
        if isinstance(r, AsyncRedisCluster):
            found = await cluster_problem(r)
        else:
            found = write_problem(await r.info())
        if found:
            return found
        if self._fault and time.monotonic() - self._fault[1] < RECENT_S:
            return self._fault[0]
        return None


def write_problem(info: dict) -> str | None:
    """Why the server whose ``INFO`` is ``info`` refuses writes, or None."""
    if info.get("role", "master") != "master":
        return STORAGE_FAULTS["READONLY"]
    maxmemory = int(info.get("maxmemory", 0) or 0)
    full = maxmemory and int(info.get("used_memory", 0)) >= maxmemory
    if full and info.get("maxmemory_policy") == "noeviction":
        return STORAGE_FAULTS["OOM"]
    if info.get("aof_last_write_status", "ok") != "ok":
        return STORAGE_FAULTS["MISCONF"]
    return None


async def cluster_problem(r: AsyncRedisCluster) -> str | None:
    """Why some master of the cluster refuses writes or does not answer (its slots' scans
    fail), or None; raises when no master answers."""
    await r.initialize()  # the layout: loaded once, reloaded after a node failed
    masters = r.get_primaries()
    replies = await asyncio.gather(*(_master_info(r, m) for m in masters), return_exceptions=True)
    if all(isinstance(reply, BaseException) for reply in replies):
        raise redis.exceptions.ConnectionError("no Redis Cluster master answers")
    for master, reply in zip(masters, replies, strict=True):
        if isinstance(reply, BaseException):
            return f"{MASTER_SILENT} ({master.name})"
        found = write_problem(reply)
        if found:
            return f"{found} ({master.name})"
    return None


async def _master_info(r: AsyncRedisCluster, master: ClusterNode) -> dict:
    async with asyncio.timeout(MASTER_TIMEOUT_S):
        return await r.info(target_nodes=master)
