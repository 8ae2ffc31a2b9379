"""Replica acknowledgement on one server with a replica: one WAIT per pipeline, an
`unavailable` answer while the replica cannot confirm, and recovery once it is gone."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from support.wait import wait_until

from ult import run
from ult.embedded import EmbeddedServer
from ult.replicas import ReplicatedPipeline, Unconfirmed, parse_acks
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.sponsors import register


@pytest.fixture
def primary_and_replica(tmp_path) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    # no 5-s wait before the first full sync of the replica
    primary_args = ["--repl-diskless-sync-delay", "0"]
    with EmbeddedServer(tmp_path / "primary", extra_args=primary_args) as primary:
        replica = EmbeddedServer(
            tmp_path / "replica",
            extra_args=["--replicaof", "127.0.0.1", str(primary.port)],
        ).start()
        try:
            with redis.Redis(port=replica.port, decode_responses=True) as c:
                wait_until(
                    lambda: c.info("replication").get("master_link_status") == "up",
                    20,
                    message="the replica did not sync",
                )
            yield primary, replica
        finally:
            replica.stop()


def test_parse_acks() -> None:
    assert parse_acks("auto") is None and parse_acks("") is None and parse_acks("2") == 2
    with pytest.raises(ValueError):
        parse_acks("-1")


async def test_waits_once_per_batch_then_fails_clearly_and_recovers(primary_and_replica) -> None:
    primary, replica = primary_and_replica
    with redis.Redis.from_url(primary.url, decode_responses=True) as r:
        reg = register(r, "Replikan", "Kopiegatan 1", "SE", "local:replica-1")
        run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
    ar = redis.asyncio.Redis.from_url(primary.url, decode_responses=True)
    rp = ReplicatedPipeline(ar, acks=None, timeout_ms=300, check_every_s=0)
    keys = [f"{i:043d}" for i in range(20)]
    try:
        results = await asyncio.gather(*(rp.run(scan(reg.sid, k)) for k in keys))
        assert [x.visits for x in results] == [1] * 20
        stats = await ar.info("commandstats")
        assert 1 <= stats["cmdstat_wait"]["calls"] <= 2  # one tick: one WAIT (+ a script load)

        replica.process.send_signal(signal.SIGSTOP)  # a stalled replica cannot confirm
        try:
            with pytest.raises(Unconfirmed):
                await rp.run(scan(reg.sid, keys[0]))
        finally:
            replica.process.send_signal(signal.SIGCONT)
        assert (await rp.run(scan(reg.sid, keys[1]))).visits == 2  # it confirms again

        replica.stop()  # gone for good: the primary has no replica, acks go out again
        await asyncio.sleep(0.2)
        assert (await rp.run(scan(reg.sid, keys[2]))).visits == 2
    finally:
        await ar.aclose()
