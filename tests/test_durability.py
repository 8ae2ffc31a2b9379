"""Acknowledged scans survive the embedded server being killed and started again."""

import asyncio

import redis
import redis.asyncio
from support.wait import wait_until_async

from ult import arun, keys, run
from ult.cards import read_card
from ult.embedded import EmbeddedServer
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.sponsors import register


def test_acked_scans_survive_a_kill_and_restart(tmp_path):
    server = EmbeddedServer(tmp_path / "data").start()
    sync = redis.Redis.from_url(server.url, decode_responses=True)
    reg = register(sync, "Fika", "Storgatan 1", "SE", "place-1")
    run(sync, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
    sync.close()
    acked: list[str] = []

    async def scan_until_killed() -> None:
        client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)

        async def one_card(n: int) -> None:
            key = f"{n:02d}" + "k" * 41
            for i in range(1000):
                try:
                    res = await arun(client, scan(reg.sid, key, nonce=f"n{i}"))
                except (redis.exceptions.ConnectionError, OSError):
                    return
                acked.append(res.entry_id)

        async def killer() -> None:
            await wait_until_async(
                lambda: len(acked) >= 500, 60, interval=0.01, message="500 scans not acked"
            )
            server.process.kill()  # SIGKILL mid-write: no chance to flush anything

        await asyncio.gather(killer(), *(one_card(n) for n in range(10)))
        await client.aclose()

    asyncio.run(scan_until_killed())
    server.process.wait()
    assert len(acked) >= 500

    restarted = EmbeddedServer(tmp_path / "data", port=server.port).start()
    try:
        r = redis.Redis.from_url(restarted.url, decode_responses=True)
        stored = {eid for eid, f in r.xrange(keys.sponsor_keys(reg.sid).events) if f["t"] == "scan"}
        missing = set(acked) - stored
        assert not missing, f"{len(missing)} acknowledged scans lost"
        total = sum(run(r, read_card(reg.sid, f"{n:02d}" + "k" * 41)).visits for n in range(10))
        assert total == len(stored)
        r.close()
    finally:
        restarted.stop()
