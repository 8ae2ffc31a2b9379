"""Claims, staff decisions, voids and rotating counter codes, on the embedded server."""

import asyncio
import time

import pytest

from ult import arun, counter_code, keys, run
from ult.cards import read_card
from ult.claims import claim, decide, list_claims, pending, void_scan
from ult.errors import UltError
from ult.scans import scan
from ult.sponsors import get_profile

KEY = "k" * 43
DAY = 86_400_000
T0 = (int(time.time() * 1000) // DAY + 2) * DAY + 9 * 3600_000


def earn(r, sid, n, key=KEY, start=T0):
    for i in range(n):
        run(r, scan(sid, key, now_ms=start + i * DAY))


def test_not_enough_points_says_how_many_are_missing(r, make_sponsor):
    s = make_sponsor(points_needed=5)
    earn(r, s["sid"], 3)
    with pytest.raises(UltError) as e:
        run(r, claim(s["sid"], KEY, now_ms=T0 + 3 * DAY))
    assert e.value.code == "not_enough_points" and "2 more points" in e.value.message
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + 3 * DAY)).points == 3


def test_instant_claim_deducts_and_gives_a_voucher(r, make_sponsor):
    s = make_sponsor(points_needed=3, voucher_min=15, reward="10% off")
    earn(r, s["sid"], 4)
    now = T0 + 4 * DAY
    c, created = run(r, claim(s["sid"], KEY, now_ms=now))
    assert created and c.status == "approved" and c.reward == "10% off"
    assert c.expires_at == now + 15 * 60_000 and len(c.code) == 4
    card = run(r, read_card(s["sid"], KEY, now_ms=now))
    assert card.points == 1 and card.claim["id"] == c.id and card.claim["status"] == "approved"
    # a second tap shows the same voucher, deducts nothing
    again, created = run(r, claim(s["sid"], KEY, now_ms=now + 1000))
    assert not created and again.id == c.id
    assert run(r, read_card(s["sid"], KEY, now_ms=now)).points == 1
    assert c.state == "approved" and c.open and card.claim["state"] == "approved"
    # after its time the scripts answer the voucher as expired (its stored status stays)
    late = run(r, read_card(s["sid"], KEY, now_ms=now + 15 * 60_000))
    assert (late.claim["status"], late.claim["state"]) == ("approved", "expired")
    [listed] = run(r, list_claims(s["sid"], now_ms=now + 15 * 60_000))
    assert listed.state == "expired" and not listed.open
    assert run(r, list_claims(s["sid"], now_ms=now + 15 * 60_000 - 1))[0].state == "approved"
    events = [f for _, f in r.xrange(keys.sponsor_keys(s["sid"]).events) if f["t"] == "claim"]
    assert events == [{"t": "claim", "c": c.cid, "id": c.id, "s": "approved", "p": "-3"}]


async def test_50_concurrent_claims_spend_the_points_once(ar, r, make_sponsor):
    s = make_sponsor(points_needed=5, cooldown_min=0)
    for i in range(5):
        await arun(ar, scan(s["sid"], KEY, nonce=f"n{i}"))
    results = await asyncio.gather(
        *(arun(ar, claim(s["sid"], KEY)) for _ in range(50)), return_exceptions=True
    )
    created = [c for c, new in results if new]
    assert len(created) == 1 and created[0].status == "approved"
    assert {c.id for c, _ in results} == {created[0].id}
    claims = await arun(ar, list_claims(s["sid"]))
    assert len(claims) == 1
    assert (await arun(ar, read_card(s["sid"], KEY))).points == 0


async def test_one_open_claim_per_card_under_concurrent_taps(ar, make_sponsor):
    """Two phones holding the same key (restored from a backup) tap at once: one claim."""
    s = make_sponsor(points_needed=2, cooldown_min=0, approval="staff")
    for i in range(5):
        await arun(ar, scan(s["sid"], KEY, nonce=f"n{i}"))
    first = await asyncio.gather(*(arun(ar, claim(s["sid"], KEY)) for _ in range(20)))
    assert sum(new for _, new in first) == 1  # one open claim per card
    assert len(pending(await arun(ar, list_claims(s["sid"])))) == 1
    assert (await arun(ar, read_card(s["sid"], KEY))).points == 3


def test_staff_approve_and_reject(r, make_sponsor):
    s = make_sponsor(points_needed=2, approval="staff", voucher_min=10)
    earn(r, s["sid"], 4)
    now = T0 + 4 * DAY
    c, _ = run(r, claim(s["sid"], KEY, now_ms=now))
    assert c.status == "requested" and c.expires_at == 0
    assert [p.id for p in pending(run(r, list_claims(s["sid"])))] == [c.id]
    with pytest.raises(UltError) as e:
        run(r, decide(s["sid"], "x" * 43, c.id, "approve", now_ms=now))
    assert e.value.code == "unauthorized"
    approved = run(r, decide(s["sid"], s["owner_key"], c.id, "approve", now_ms=now + 5000))
    assert approved.status == "approved" and approved.expires_at == now + 5000 + 10 * 60_000
    with pytest.raises(UltError) as e:
        run(r, decide(s["sid"], s["owner_key"], c.id, "reject", now_ms=now + 6000))
    assert e.value.code == "already_decided"
    assert run(r, read_card(s["sid"], KEY, now_ms=now)).points == 2

    second, created = run(r, claim(s["sid"], KEY, now_ms=now + 11 * 60_000))
    assert created and second.id != c.id
    rejected = run(
        r, decide(s["sid"], s["owner_key"], second.id, "reject", now_ms=now + 11 * 60_000)
    )
    assert rejected.status == "rejected"
    assert run(r, read_card(s["sid"], KEY, now_ms=now)).points == 2  # given back


def test_void_a_claim_and_a_scan(r, make_sponsor):
    s = make_sponsor(points_needed=2, points_per_scan=1, cooldown_min=0)
    earn(r, s["sid"], 3)
    c, _ = run(r, claim(s["sid"], KEY, now_ms=T0 + 3 * DAY))
    run(r, decide(s["sid"], s["owner_key"], c.id, "void", now_ms=T0 + 3 * DAY))
    card = run(r, read_card(s["sid"], KEY, now_ms=T0 + 3 * DAY))
    assert card.points == 3 and card.claim["status"] == "void"

    scan_id = card.history[0]["id"]
    run(r, void_scan(s["sid"], s["owner_key"], scan_id, now_ms=T0 + 3 * DAY))
    card = run(r, read_card(s["sid"], KEY, now_ms=T0 + 3 * DAY))
    assert (card.visits, card.points) == (2, 2)
    with pytest.raises(UltError) as e:
        run(r, void_scan(s["sid"], s["owner_key"], scan_id))
    assert e.value.code == "already_void"
    with pytest.raises(UltError) as e:
        run(r, void_scan(s["sid"], "x" * 43, card.history[1]["id"]))
    assert e.value.code == "unauthorized"
    voids = [f for _, f in r.xrange(keys.sponsor_keys(s["sid"]).events) if f["t"] == "void"]
    assert [v.get("ref") for v in voids] == [None, scan_id]


def test_rotating_code_current_and_previous_accepted_older_and_forged_refused():
    secret, sid, now = "s3cret", "fika-1234", 1_800_000_015.0
    current = counter_code.current_code(secret, sid, now)
    previous = counter_code.current_code(secret, sid, now - 30)
    older = counter_code.current_code(secret, sid, now - 60)
    assert counter_code.check(secret, sid, current, now) == "ok"
    assert counter_code.check(secret, sid, previous, now) == "ok"
    assert counter_code.check(secret, sid, older, now) == "bad"
    assert counter_code.check(secret, sid, "A" * 16, now) == "bad"
    assert counter_code.check("another-secret", sid, current, now) == "bad"
    assert counter_code.check(secret, "other-sid", current, now) == "bad"
    assert counter_code.check(secret, sid, None, now) == "none"


def test_required_code_refuses_scans_without_a_fresh_code(r, make_sponsor):
    s = make_sponsor(require_code=True, cooldown_min=0)
    with pytest.raises(UltError) as e:
        run(r, scan(s["sid"], KEY, code_state="none"))
    assert e.value.code == "code_required" and "counter" in e.value.message
    with pytest.raises(UltError) as e:
        run(r, scan(s["sid"], KEY, code_state="bad"))
    assert e.value.code == "code_invalid"
    assert run(r, scan(s["sid"], KEY, code_state="ok")).visits == 1
    assert run(r, get_profile(s["sid"])).code_secret


def test_velocity_alerts_for_a_hammered_card_and_a_rush(r, make_sponsor):
    from ult.velocity import Thresholds, velocity_alerts

    s = make_sponsor(cooldown_min=0)
    now = T0 + 3600_000
    # a quiet hour: 6 scans from 6 cards, then one card scans 5 times in 5 minutes
    for i in range(6):
        run(r, scan(s["sid"], f"{i:02d}" + "q" * 41, now_ms=T0 + i * 300_000))
    for i in range(5):
        run(r, scan(s["sid"], KEY, now_ms=now - 300_000 + i * 60_000))
    alerts = velocity_alerts(r, s["sid"], now_ms=now)
    assert [(a.kind, a.count) for a in alerts] == [("card_scans", 5)]
    assert alerts[0].cid == run(r, read_card(s["sid"], KEY)).cid[:12]
    # a rush: 30 cards in the last 10 minutes
    for i in range(30):
        run(r, scan(s["sid"], f"{i:02d}" + "r" * 41, now_ms=now - 500_000 + i * 1000))
    kinds = [a.kind for a in velocity_alerts(r, s["sid"], now_ms=now)]
    assert "shop_rate" in kinds
    quiet = velocity_alerts(
        r, s["sid"], now_ms=now, th=Thresholds(shop_min_scans=1000, card_scans=99)
    )
    assert quiet == []


def test_done_when_five_visits_over_five_days_staff_approve_sixth_scan_refused(r, make_sponsor):
    """The loyalty card scenario: 5 visits → 10% off, staff approval, one visit a day."""
    s = make_sponsor(
        points_needed=5, reward="10% off", approval="staff", daily_cap=1, cooldown_min=0
    )
    for day in range(5):
        res = run(r, scan(s["sid"], KEY, now_ms=T0 + day * DAY))
        assert res.visits == day + 1
    last_day = T0 + 4 * DAY
    with pytest.raises(UltError) as e:  # a sixth scan the same day
        run(r, scan(s["sid"], KEY, now_ms=last_day + 3600_000))
    assert e.value.code == "daily_cap"
    assert e.value.message.startswith("That's all the visits for today.")
    assert e.value.extra["visits"] == 5

    c, _ = run(r, claim(s["sid"], KEY, now_ms=last_day + 7200_000))
    assert (c.status, c.reward) == ("requested", "10% off")
    approved = run(r, decide(s["sid"], s["owner_key"], c.id, "approve", now_ms=last_day + 7300_000))
    card = run(r, read_card(s["sid"], KEY, now_ms=last_day + 7400_000))
    assert card.claim["status"] == "approved" and card.claim["code"] == approved.code
    assert card.points == 0


def test_an_expired_voucher_cannot_be_voided_back_into_points(r, make_sponsor):
    s = make_sponsor(points_needed=1, cooldown_min=0, voucher_min=5)
    earn(r, s["sid"], 1)
    c, _ = run(r, claim(s["sid"], KEY, now_ms=T0 + DAY))
    with pytest.raises(UltError) as e:
        run(r, decide(s["sid"], s["owner_key"], c.id, "void", now_ms=T0 + DAY + 5 * 60_000))
    assert e.value.code == "already_decided"
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + DAY)).points == 0
