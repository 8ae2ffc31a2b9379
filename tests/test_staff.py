"""Staff keys and single-use vouchers: the `ult staff` command, and `watch`, `decide` and
`claims` over real Socket.IO websockets against a real `ult serve`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import socketio
from support.service import service_env
from support.wait import wait_until_async

from ult import run
from ult.claims import claim, decide
from ult.errors import UltError
from ult.keys import sponsor_keys
from ult.scans import scan
from ult.sponsors import key_failures
from ult.staff import list_staff_keys, revoke_staff_key

KEY = "c" * 43
MINUTE = 60_000
T0 = 1_800_000_000_000


def ult(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ult", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def connected(url: str) -> socketio.AsyncClient:
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(url, transports=["websocket"])
    return c


def claimed(r, sid: str, key: str = KEY, now_ms: int | None = None):
    """A claim of ``key``'s card (the rule needs one point)."""
    run(r, scan(sid, key, now_ms=now_ms))
    found, created = run(r, claim(sid, key, now_ms=now_ms))
    assert created
    return found


def test_redeem_once_and_each_refusal_has_its_code(r, make_sponsor) -> None:
    s = make_sponsor(points_needed=1, cooldown_min=0, approval="staff", voucher_min=15)
    sid, owner = s["sid"], s["owner_key"]
    c = claimed(r, sid, now_ms=T0)
    with pytest.raises(UltError) as e:
        run(r, decide(sid, owner, c.id, "redeem", now_ms=T0 + 1))
    assert e.value.code == "not_approved" and e.value.extra["claim"]["status"] == "requested"
    run(r, decide(sid, owner, c.id, "approve", now_ms=T0 + 2))
    used = run(r, decide(sid, owner, c.id, "redeem", now_ms=T0 + 3))
    assert (used.status, used.redeemed_ms, used.by) == ("redeemed", T0 + 3, "owner")
    codes = []
    for decision in ("redeem", "void", "reject"):
        with pytest.raises(UltError) as e:
            run(r, decide(sid, owner, c.id, decision, now_ms=T0 + 4))
        codes.append(e.value.code)
    assert codes == ["already_redeemed", "already_decided", "already_decided"]

    late = claimed(r, sid, "d" * 43, now_ms=T0)
    run(r, decide(sid, owner, late.id, "approve", now_ms=T0))
    rejected = claimed(r, sid, "e" * 43, now_ms=T0)
    run(r, decide(sid, owner, rejected.id, "reject", now_ms=T0))
    voided = claimed(r, sid, "f" * 43, now_ms=T0)
    run(r, decide(sid, owner, voided.id, "void", now_ms=T0))
    refusals = {}
    for cl, at in ((late, T0 + 15 * MINUTE), (rejected, T0 + 1), (voided, T0 + 1)):
        with pytest.raises(UltError) as e:
            run(r, decide(sid, owner, cl.id, "redeem", now_ms=at))
        refusals[cl.id] = e.value.code
    assert list(refusals.values()) == ["voucher_expired", "claim_rejected", "claim_void"]
    events = [f for _, f in r.xrange(sponsor_keys(sid).events) if f.get("s") == "redeemed"]
    assert len(events) == 1 and events[0]["by"] == "owner" and events[0]["p"] == "0"


async def test_staff_key_lifecycle(service_url, redis_url, r, make_sponsor, tmp_path) -> None:
    s = make_sponsor(points_needed=1, cooldown_min=0, approval="staff")
    sid, owner = s["sid"], s["owner_key"]
    env = service_env(redis_url, tmp_path)
    made = ult(env, "staff", sid, f"--owner-key={owner}", "--name", "Till 1")
    assert made.returncode == 0, made.stderr
    staff_key = json.loads(made.stdout)["staff_key"]
    assert staff_key not in json.dumps(r.hgetall(sponsor_keys(sid).staff))  # stored hashed
    assert [x.name for x in run(r, list_staff_keys(sid, owner))] == ["Till 1"]

    # a staff key cannot change the rule, nor make, list or revoke staff keys
    for args in (
        ("rule", sid, f"--owner-key={staff_key}", "--points-needed", "1000"),
        ("staff", sid, f"--owner-key={staff_key}", "--name", "Mallory"),
    ):
        refused = ult(env, *args)
        assert refused.returncode == 2 and "owner key does not match" in refused.stderr
    for op in (list_staff_keys(sid, staff_key), revoke_staff_key(sid, staff_key, "Till 1")):
        with pytest.raises(UltError) as e:
            run(r, op)
        assert e.value.code == "unauthorized"
    assert r.hget(sponsor_keys(sid).rule, "points_needed") == "1"

    till = await connected(service_url)
    live: asyncio.Queue = asyncio.Queue()
    till.on("claim", live.put_nowait)
    try:
        both = await till.call("watch", {"sid": sid, "owner_key": owner, "staff_key": staff_key})
        assert both["error"]["code"] == "bad_request"
        wrong = await till.call("watch", {"sid": sid, "staff_key": "w" * 43})
        assert wrong["error"]["code"] == "unauthorized"
        as_owner = await till.call("watch", {"sid": sid, "owner_key": staff_key})
        assert as_owner["error"]["code"] == "unauthorized"  # a staff key is no owner key
        ack = await till.call("watch", {"sid": sid, "staff_key": staff_key})
        assert ack == {"ok": True, "sid": sid, "biz": s["biz"], "staff": "Till 1"}
        c = claimed(r, sid)
        listed = await till.call("claims", {"sid": sid, "staff_key": staff_key})
        assert [x["id"] for x in listed["claims"]] == [c.id]
        assert listed["claims"][0]["status"] == "requested"
        ack = await till.call(
            "decide", {"sid": sid, "staff_key": staff_key, "claim_id": c.id, "decision": "approve"}
        )
        assert ack["ok"] and ack["claim"]["status"] == "approved" and ack["claim"]["by"] == "Till 1"
        seen = await asyncio.wait_for(live.get(), 10)
        assert (seen["id"], seen["status"], seen["by"]) == (c.id, "approved", "Till 1")
        void = await till.call(
            "decide", {"sid": sid, "staff_key": staff_key, "claim_id": c.id, "decision": "void"}
        )
        assert void["error"]["code"] == "bad_request"  # voiding stays with the owner

        revoked = ult(env, "staff", sid, f"--owner-key={owner}", "--revoke", "Till 1")
        assert revoked.returncode == 0, revoked.stderr
        # the watching till is dropped from the live room at once
        dropped = "the revoked till is still connected"
        await wait_until_async(lambda: not till.connected, 10, interval=0.1, message=dropped)
        till = await connected(service_url)
        redeem = {"sid": sid, "staff_key": staff_key, "claim_id": c.id, "decision": "redeem"}
        assert (await till.call("decide", redeem))["error"]["code"] == "unauthorized"
        again = await till.call("claims", {"sid": sid, "staff_key": staff_key})
        assert again["error"]["code"] == "unauthorized"
        watch = await till.call("watch", {"sid": sid, "staff_key": staff_key})
        assert watch["error"]["code"] == "unauthorized"
        assert run(r, key_failures(sid)) == 5  # each wrong key over Socket.IO, counted
        assert r.hget(sponsor_keys(sid).claims, c.id).count('"approved"') == 1
    finally:
        if till.connected:
            await till.disconnect()


async def test_twenty_concurrent_redeems_one_succeeds(service_url, r, make_sponsor) -> None:
    s = make_sponsor(points_needed=1, cooldown_min=0, approval="instant")
    sid = s["sid"]
    c = claimed(r, sid)
    phone = await connected(service_url)
    updates: asyncio.Queue = asyncio.Queue()
    phone.on("claim_update", updates.put_nowait)
    tills = [await connected(service_url) for _ in range(20)]
    try:
        assert (await phone.call("card", {"sid": sid, "key": KEY}))["ok"]  # joins the card room
        redeem = {"sid": sid, "staff_key": s["owner_key"], "claim_id": c.id, "decision": "redeem"}
        acks = await asyncio.gather(*(t.call("decide", redeem, timeout=30) for t in tills))
        assert sum(a["ok"] for a in acks) == 1
        codes = {a["error"]["code"] for a in acks if not a["ok"]}
        assert codes == {"already_redeemed"}
        update = await asyncio.wait_for(updates.get(), 10)
        assert (update["id"], update["status"]) == (c.id, "redeemed")
        redeemed = [f for _, f in r.xrange(sponsor_keys(sid).events) if f.get("s") == "redeemed"]
        assert len(redeemed) == 1
    finally:
        for client in [phone, *tills]:
            await client.disconnect()
