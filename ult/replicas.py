"""Acknowledged means replicated: the scan service's pipeline waits for replicas.

When the masters have replicas, a scan is acknowledged to the phone only once
``ULT_REPLICA_ACKS`` replicas have it, so the death of a master loses no acknowledged scan:
its replica takes over with every write it confirmed. ``WAIT`` counts the writes of the
connection it is sent on, so it rides at the end of each batch's pipeline — one ``WAIT`` per
master per batch, in the same round trip, never one per scan.

On a cluster the batch is not retried or redirected behind our back (a redirected write
would go out on a connection the ``WAIT`` does not cover): a failed node, a moved slot or a
missing confirmation fails that batch's requests as :class:`Unconfirmed` — an
``unavailable`` ack; the page's retry carries the visit's nonce, so nothing counts twice —
and the next batch first reloads the cluster's layout. See docs/scaling.md.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot

from ult.ops import AutoPipeline, Call, script_source

# How often a single server is asked how many replicas it has (INFO replication).
REPLICA_CHECK_S = 5.0

# Replies that mean "the layout changed under this batch": reload it, fail the batch.
_LAYOUT_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.SlotNotCoveredError,
)


class Unconfirmed(redis.exceptions.ConnectionError):
    """A write that no (or not enough) replicas confirmed in time: answered ``unavailable``."""


def parse_acks(value: str | int) -> int | None:
    """``ULT_REPLICA_ACKS``: a count, or ``auto`` (None: 1 where replicas exist, else 0)."""
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return None
    acks = int(text)
    if acks < 0:
        raise ValueError("ULT_REPLICA_ACKS must be auto or a count >= 0")
    return acks


class ReplicatedPipeline(AutoPipeline):
    """:class:`AutoPipeline` that waits for replicas before replies go out.

    ``acks``: replicas that must confirm (None: one where the master has any). A master
    with fewer replicas than asked (say, a promoted replica whose old master is gone) is
    waited for by as many as it has, so scans resume after a failover by themselves.
    """

    def __init__(
        self,
        r: redis.asyncio.Redis | AsyncRedisCluster,
        acks: int | None = None,
        timeout_ms: int = 1000,
        check_every_s: float = REPLICA_CHECK_S,
    ) -> None:
        super().__init__(r)
        self.acks, self.timeout_ms, self.check_every_s = acks, timeout_ms, check_every_s
        self.cluster = isinstance(r, AsyncRedisCluster)
        self._replicas = 0  # single server: replicas seen at the last check
        self._checked = float("-inf")
        self._stale = False  # cluster: reload the layout before the next batch

    def wanted(self, replicas: int) -> int:
        """Confirmations to wait for from a master that has ``replicas`` replicas now."""
        asked = 1 if self.acks is None else self.acks
        return min(asked, replicas)

    async def execute(self, pipe: Any, calls: list[Call]) -> list[Any]:
        replies = await self._execute(pipe, calls)
        missing = [i for i, reply in enumerate(replies) if _no_script(reply)]
        if missing:  # first use on this master: load, then run those calls again, waited for
            for name in {calls[i].op.script for i in missing}:
                await self.r.script_load(script_source(name)[0])
            again = self.r.pipeline(transaction=False)
            for i in missing:
                calls[i].queue(again)
            redone = await self._execute(again, [calls[i] for i in missing])
            for i, reply in zip(missing, redone, strict=True):
                replies[i] = reply
        return replies

    async def _execute(self, pipe: Any, calls: list[Call]) -> list[Any]:
        if self.cluster:
            return await self._execute_cluster(pipe, calls)
        return await self._execute_single(pipe, calls)

    async def _execute_single(self, pipe: Any, calls: list[Call]) -> list[Any]:
        if time.monotonic() - self._checked >= self.check_every_s:
            info = await self.r.info("replication")
            self._replicas, self._checked = int(info.get("connected_slaves", 0)), time.monotonic()
        wanted = self.wanted(self._replicas)
        if not wanted:
            return await pipe.execute(raise_on_error=False)
        pipe.execute_command("WAIT", wanted, self.timeout_ms)
        replies = await pipe.execute(raise_on_error=False)
        confirmed = replies.pop()
        if isinstance(confirmed, Exception) or int(confirmed) < wanted:
            self._checked = float("-inf")  # a replica may be gone: ask again next time
            return [_unconfirmed(reply) for reply in replies]
        return replies

    async def _execute_cluster(self, pipe: Any, calls: list[Call]) -> list[Any]:
        r = self.r
        assert isinstance(r, AsyncRedisCluster)  # set in __init__: the client is a cluster's
        await r.initialize()
        if self._stale:  # a failure last time: reload the layout before this batch
            self._stale = False
            try:
                await r.nodes_manager.initialize()
            except Exception:
                self._stale = True
                raise
        slots = r.nodes_manager.slots_cache
        waits: dict[str, tuple[Any, int]] = {}  # node name → (node, confirmations wanted)
        op_node: list[str | None] = []
        for call in calls:
            key = call.first_key
            owners = slots.get(key_slot(r.encoder.encode(key))) if key else None
            if not owners:
                op_node.append(None)
                continue
            op_node.append(owners[0].name)
            waits[owners[0].name] = (owners[0], self.wanted(len(owners) - 1))
        waits = {name: nw for name, nw in waits.items() if nw[1] > 0}
        for node, wanted in waits.values():
            pipe.execute_command("WAIT", wanted, self.timeout_ms, target_nodes=node)
        try:
            replies = await pipe.execute(raise_on_error=False, allow_redirections=False)
        except _LAYOUT_ERRORS:
            self._stale = True
            raise
        confirmed = dict(zip(waits, replies[len(calls) :], strict=True))
        replies = replies[: len(calls)]
        failed = {
            name
            for name, reply in confirmed.items()
            if isinstance(reply, Exception) or int(reply) < waits[name][1]
        }
        if failed or any(isinstance(reply, _LAYOUT_ERRORS) for reply in replies):
            self._stale = True
        return [
            _unconfirmed(reply) if node in failed else _layout_error(reply)
            for reply, node in zip(replies, op_node, strict=True)
        ]


def _no_script(reply: Any) -> bool:
    return isinstance(reply, redis.exceptions.NoScriptError)


def _unconfirmed(reply: Any) -> Any:
    if isinstance(reply, Exception) and not _no_script(reply):
        return reply
    return Unconfirmed("No replica confirmed the write in time.")


def _layout_error(reply: Any) -> Any:
    if isinstance(reply, _LAYOUT_ERRORS) and not isinstance(
        reply, redis.exceptions.ConnectionError
    ):
        return Unconfirmed(f"The cluster's layout is changing: {reply}")
    return reply
