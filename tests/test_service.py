"""The scan service over a real Socket.IO websocket, against a real `ult serve` process."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import socketio

from ult import keys

KEY = "k" * 43


@pytest.fixture
async def client(service_url, r):
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(service_url, transports=["websocket"])
    yield c
    if c.connected:
        await c.disconnect()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_scan_ack_and_card(client, make_sponsor, r):
    s = make_sponsor(cooldown_min=0, points_needed=5, reward="A free bun")
    ack = await client.call("scan", {"sid": s["sid"], "key": KEY, "nonce": "n1", "at": "till"})
    assert ack["ok"] is True
    assert (ack["visits"], ack["points"], ack["points_needed"]) == (1, 1, 5)
    assert ack["reward"] == "A free bun" and ack["message"] == "Visit 1 recorded — 1 point"
    card = await client.call("card", {"sid": s["sid"], "key": KEY})
    assert card["ok"] and card["visits"] == 1 and card["history"][0]["tag"] == "till"
    assert card["rule"]["reward"] == "A free bun"
    assert r.xlen(keys.sponsor_keys(s["sid"]).events) == 3


async def test_cooldown_refusal_is_an_error_ack_with_the_balance(client, make_sponsor):
    s = make_sponsor(cooldown_min=30)
    assert (await client.call("scan", {"sid": s["sid"], "key": KEY}))["ok"]
    ack = await client.call("scan", {"sid": s["sid"], "key": KEY})
    assert ack["ok"] is False and ack["error"]["code"] == "cooldown"
    assert ack["visits"] == 1 and 1790 <= ack["next_scan_in"] <= 1800
    assert "30 minutes" in ack["error"]["message"]


async def test_sponsor_room_receives_the_scan(service_url, client, make_sponsor):
    s = make_sponsor()
    watcher = socketio.AsyncClient(reconnection=False)
    seen: asyncio.Queue = asyncio.Queue()
    watcher.on("scan", seen.put_nowait)
    await watcher.connect(service_url, transports=["websocket"])
    try:
        ack = await watcher.call("watch", {"sid": s["sid"], "owner_key": s["owner_key"]})
        assert ack == {"ok": True, "sid": s["sid"], "biz": "Fika Sisters"}
        await client.call("scan", {"sid": s["sid"], "key": KEY, "at": "table-3"})
        event = await asyncio.wait_for(seen.get(), 2)
        assert event["sid"] == s["sid"] and event["visits"] == 1 and event["tag"] == "table-3"
        assert len(event["cid"]) == 12 and KEY not in json.dumps(event)
    finally:
        await watcher.disconnect()


async def test_wrong_owner_key_cannot_watch(service_url, client, make_sponsor):
    s = make_sponsor()
    other = make_sponsor("Other Place")
    seen = []
    client.on("scan", seen.append)
    ack = await client.call("watch", {"sid": s["sid"], "owner_key": other["owner_key"]})
    assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"
    scanner = socketio.AsyncClient(reconnection=False)
    await scanner.connect(service_url, transports=["websocket"])
    await scanner.call("scan", {"sid": s["sid"], "key": KEY})
    await scanner.disconnect()
    await asyncio.sleep(0.3)
    assert seen == []


BAD_SCANS = {
    "no payload": (),
    "null payload": (None,),
    "a list": ([1, 2],),
    "a string": ("fika-sisters",),
    "a number": (42,),
    "missing key": ({"sid": "SID"},),
    "missing sid": ({"key": KEY},),
    "extra field": ({"sid": "SID", "key": KEY, "name": "Alice"},),
    "sid wrong type": ({"sid": 123, "key": KEY},),
    "key wrong type": ({"sid": "SID", "key": ["x"]},),
    "key too short": ({"sid": "SID", "key": "abc"},),
    "key with spaces": ({"sid": "SID", "key": "a b" * 20},),
    "sid upper case": ({"sid": "FIKA", "key": KEY},),
    "unknown sid": ({"sid": "no-such-cafe", "key": KEY},),
    "lone surrogate in key": ({"sid": "SID", "key": "\ud800" * 40},),
    "lone surrogate field name": ({"sid": "SID", "key": KEY, "\udfff": 1},),
    "script tag in at": ({"sid": "SID", "key": KEY, "at": "<script>alert(1)</script>"},),
    "script tag in sid": ({"sid": "<script>", "key": KEY},),
    "nonce too long": ({"sid": "SID", "key": KEY, "nonce": "n" * 65},),
    "nested object": ({"sid": {"$ne": ""}, "key": KEY},),
    "two arguments": ({"sid": "SID", "key": KEY}, {"sid": "SID", "key": KEY}),
}


@pytest.mark.parametrize("args", BAD_SCANS.values(), ids=BAD_SCANS.keys())
async def test_bad_input_gets_an_error_ack_and_writes_nothing(client, make_sponsor, r, args):
    s = make_sponsor()
    args = tuple(
        {k: (s["sid"] if v == "SID" else v) for k, v in a.items()} if isinstance(a, dict) else a
        for a in args
    )
    before = {k: r.dump(k) for k in r.keys("*")}
    ack = (
        await client.call("scan", args[0] if len(args) == 1 else args)
        if args
        else await client.call("scan")
    )
    assert ack["ok"] is False
    assert ack["error"]["code"] in ("bad_request", "unknown_sponsor")
    assert ack["error"]["message"] and "Traceback" not in ack["error"]["message"]
    assert {k: r.dump(k) for k in r.keys("*")} == before


async def test_bad_card_and_watch_payloads(client):
    for event, payload in [
        ("card", {"sid": "x"}),
        ("card", "nope"),
        ("watch", {"sid": "fika-1234"}),
        ("watch", {"sid": "fika-1234", "owner_key": "short"}),
    ]:
        ack = await client.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request"


async def test_a_4mb_payload_closes_the_connection_and_writes_nothing(service_url, make_sponsor, r):
    s = make_sponsor()
    before = {k: r.dump(k) for k in r.keys("*")}
    c = socketio.AsyncClient(reconnection=False)
    closed = asyncio.Event()
    c.on("disconnect", lambda *args: closed.set())
    await c.connect(service_url, transports=["websocket"])
    await c.emit("scan", {"sid": s["sid"], "key": KEY, "at": "x" * (4 * 1024 * 1024)})
    await asyncio.wait_for(closed.wait(), 5)
    assert {k: r.dump(k) for k in r.keys("*")} == before
    # the service is still fine for everyone else
    ok = socketio.AsyncClient(reconnection=False)
    await ok.connect(service_url, transports=["websocket"])
    assert (await ok.call("scan", {"sid": s["sid"], "key": KEY}))["ok"]
    await ok.disconnect()


async def test_a_flood_from_one_connection_is_rate_limited(client, make_sponsor):
    s = make_sponsor()
    acks = await asyncio.gather(
        *(client.call("card", {"sid": s["sid"], "key": KEY}) for _ in range(80))
    )
    limited = [a for a in acks if not a["ok"]]
    assert limited and all(a["error"]["code"] == "rate_limited" for a in limited)
    assert sum(a["ok"] for a in acks) >= 40


def test_healthz(service_url):
    status, body = get(f"{service_url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_scan_page_escapes_the_name_and_unknown_sid_is_404(service_url, make_sponsor):
    s = make_sponsor("<img src=x onerror=alert(1)>")
    status, body = get(f"{service_url}/s/{s['sid']}")
    assert status == 200
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body
    status, body = get(f"{service_url}/s/no-such-cafe")
    assert status == 404 and "no-such-cafe" in body
    status, _ = get(f"{service_url}/s/%3Cscript%3E")
    assert status == 404


def test_pwa_files_are_served(service_url):
    for path in ("/wallet", "/sw.js", "/manifest.webmanifest", "/static/vendor/socket.io.min.js"):
        status, _ = get(f"{service_url}{path}")
        assert status == 200, path


async def test_scans_publish_to_the_room_only_while_a_sponsor_watches(
    service_url, client, make_sponsor, r
):
    """Live events cost a Redis publish only when someone watches (the scan hot path)."""
    s = make_sponsor(cooldown_min=0)
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("ult-socketio")

    def published() -> int:
        count = 0
        while pubsub.get_message(timeout=0.3) is not None:
            count += 1
        return count

    await client.call("scan", {"sid": s["sid"], "key": KEY})
    assert published() == 0
    watcher = socketio.AsyncClient(reconnection=False)
    await watcher.connect(service_url, transports=["websocket"])
    await watcher.call("watch", {"sid": s["sid"], "owner_key": s["owner_key"]})
    assert r.ttl(keys.sponsor_keys(s["sid"]).watched) > 0
    await client.call("scan", {"sid": s["sid"], "key": KEY})
    assert published() == 1
    await watcher.disconnect()
    pubsub.close()


def test_rate_limit_buckets():
    from ult.service.ratelimit import ConnectionLimits, TokenBucket

    bucket = TokenBucket(rate=10, burst=2, tokens=2, stamp=0.0)
    assert [bucket.take(now=0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(now=0.1) is True  # one token back after 1/rate seconds
    unlimited = ConnectionLimits(rate=0)
    assert all(unlimited.allow("conn") for _ in range(1000))
