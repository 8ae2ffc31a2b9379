"""Redis faults heal by themselves: a restart is ridden out, a full Redis says "try again later"."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
import socketio
from support.service import service_env

from ult import run
from ult.embedded import EmbeddedServer, free_port
from ult.keys import sponsor_keys
from ult.launcher import stop_process, wait_http
from ult.rules import Rule, set_rule
from ult.sponsors import register

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of our own: these tests kill it and fill it up."""
    server = EmbeddedServer(tmp_path_factory.mktemp("faults-data")).start()
    yield server
    if server.process and server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def service(own_redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(
        own_redis.url,
        tmp_path_factory.mktemp("var"),
        ULT_NEW_CARDS_PER_MINUTE="0",
        ULT_EVENT_RATE="0",
    )
    proc = subprocess.Popen([sys.executable, "-m", "ult", "serve", "--port", str(port)], env=env)
    try:
        assert wait_http(f"{url}/healthz", timeout=30, proc=proc)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def sponsor(own_redis) -> dict:
    r = redis.Redis.from_url(own_redis.url, decode_responses=True)
    n = r.incr("test:n")
    reg = register(r, "Fika", f"Storgatan {n}", "SE", f"place-{n}")
    run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
    r.close()
    return {"sid": reg.sid}


def healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_scans_after_redis_is_killed_and_restarted_all_succeed(own_redis, service, sponsor):
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(8)]
    for c in clients:
        await c.connect(service, transports=["websocket"])

    async def scans(tag: str) -> list[dict]:
        """Concurrent scans from all clients: the service's pool opens several connections."""
        calls = [
            c.call("scan", {"sid": sponsor["sid"], "key": f"{i}{n:02d}{tag}" + "k" * 39})
            for n in range(10)
            for i, c in enumerate(clients)
        ]
        return await asyncio.gather(*calls)

    try:
        assert all(a["ok"] for a in await scans("a"))
        own_redis.process.kill()  # every pooled connection is now dead
        own_redis.process.wait()
        own_redis.start()  # same port, same data directory
        acks = await scans("b")
        assert [a["error"] for a in acks if not a["ok"]] == []
    finally:
        for c in clients:
            await c.disconnect()
    assert healthz(service) == (200, {"status": "ok", "redis": "ok"})


async def test_a_full_redis_says_try_again_later_and_writes_nothing(own_redis, service, sponsor):
    r = redis.Redis.from_url(own_redis.url)
    k = sponsor_keys(sponsor["sid"])
    returning = "r" * 43
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(service, transports=["websocket"])
    try:
        assert (await c.call("scan", {"sid": sponsor["sid"], "key": returning}))["ok"]
        before = {key: r.dump(key) for key in (k.cards, k.events, k.profile)}
        r.config_set("maxmemory", 1)  # every write is now refused with OOM
        try:
            for key in (returning, "n" * 43):
                ack = await c.call("scan", {"sid": sponsor["sid"], "key": key, "nonce": "x1"})
                assert ack["ok"] is False and ack["error"]["code"] == "storage_full"
                message = ack["error"]["message"]
                assert "try again later" in message and "busy" not in message
            assert {key: r.dump(key) for key in before} == before  # nothing half-written
            # reading a card still works, /healthz says what is wrong
            card = await c.call("card", {"sid": sponsor["sid"], "key": returning})
            assert card["ok"] and card["visits"] == 1
            status, body = healthz(service)
            assert status == 503 and body["status"] == "degraded"
            assert body["reason"] == "Redis is out of memory"
        finally:
            r.config_set("maxmemory", 0)
        ack = await c.call("scan", {"sid": sponsor["sid"], "key": returning, "nonce": "x1"})
        assert ack["ok"] and ack["visits"] == 2
        assert healthz(service)[0] == 200
    finally:
        await c.disconnect()
        r.close()
