"""Promotions: points multiplied while one runs, checked at their boundaries with an injected
clock, through the real scan script on the embedded server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from support.service import service_env

from ult import promotions as pr
from ult import run
from ult.clock import now_ms
from ult.errors import UltError
from ult.identity import hash_owner_key
from ult.keys import sponsor_keys
from ult.promotions.parsing import parse_days
from ult.promotions.plan import parse_plan
from ult.promotions.storage import MAX_PROMOTIONS
from ult.promotions.zones import guess_zone
from ult.scans import scan
from ult.schema import F

MIN = 60_000
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def ms(text: str, tz: ZoneInfo = STOCKHOLM) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


@pytest.fixture
def cafe(make_sponsor) -> dict:
    """A Stockholm café, 1 point a scan, no cooldown (each test scan counts)."""
    return make_sponsor(points_per_scan=1, cooldown_min=0, points_needed=100)


def add(r, cafe, now, **kw) -> pr.Promotion:
    name, m = kw.pop("name", "Double points"), kw.pop("m", 2)
    promo = pr.new_promotion(name, m, zone=STOCKHOLM, now_ms=now, **kw)
    return pr.add_promotion(r, cafe["sid"], cafe["owner_key"], promo, now_ms=now)


def gained(r, cafe, at: int, key: str = "k" * 43):
    result = run(r, scan(cafe["sid"], key, now_ms=at))
    return result.gained, result.to_ack()


def test_the_sponsor_zone_comes_from_its_country(r, cafe) -> None:
    assert pr.sponsor_zone(r, cafe["sid"]) == "Europe/Stockholm"
    assert guess_zone("US", -300) == "Etc/GMT+5"  # several zones: the offset, no DST
    assert guess_zone("ZZ", 0) == "UTC"


def test_one_off_window_counts_from_start_up_to_but_not_at_its_end(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    start, end = ms("2026-12-24T14:00"), ms("2026-12-24T17:00")
    promo = add(r, cafe, now, start="2026-12-24T14:00", end="2026-12-24T17:00")  # local time
    assert (promo.start_ms, promo.end_ms) == (start, end)
    assert gained(r, cafe, start - 1)[0] == 1
    points, ack = gained(r, cafe, start)
    assert points == 2
    assert ack["promotion"] == {"id": promo.id, "name": "Double points", "multiplier": 2.0}
    assert ack["gained"] == 2 and ack["points"] == 3
    assert ack["promotions"]["active"]["until_ms"] == end
    assert gained(r, cafe, end - 1)[0] == 2
    points, ack = gained(r, cafe, end)
    assert points == 1 and ack["promotion"] is None and ack["promotions"]["active"] is None
    entries = r.xrange(sponsor_keys(cafe["sid"]).events)
    scans = [e for _, e in entries if e[F.KIND] == "scan"]
    assert [e.get(F.PROMO) for e in scans] == [None, promo.id, promo.id, None]
    assert [e[F.POINTS] for e in scans] == ["1", "2", "2", "1"]


def test_the_next_promotion_is_announced_before_it_starts(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    promo = add(
        r, cafe, now, name="Happy hour", m=1.5, days="tue-thu", from_time="14:00", to_time="17:00"
    )
    _, ack = gained(r, cafe, now)  # Tuesday 09:00
    assert ack["promotions"]["active"] is None
    nxt = ack["promotions"]["next"]
    assert nxt["id"] == promo.id and nxt["start_ms"] == ms("2026-12-01T14:00")
    assert nxt["end_ms"] == ms("2026-12-01T17:00") and nxt["multiplier"] == 1.5


def test_weekday_hours_across_midnight(r, cafe) -> None:
    now = ms("2026-12-01T09:00")  # a Tuesday
    add(r, cafe, now, name="Late night", m=3, days="fri", from_time="22:00", to_time="02:00")
    fri, sat = "2026-12-04", "2026-12-05"
    assert gained(r, cafe, ms(f"{fri}T21:59"))[0] == 1
    assert gained(r, cafe, ms(f"{fri}T22:00"))[0] == 3
    assert gained(r, cafe, ms(f"{sat}T01:59"))[0] == 3  # Saturday night-time belongs to Friday
    assert gained(r, cafe, ms(f"{sat}T02:00"))[0] == 1
    assert gained(r, cafe, ms(f"{sat}T22:30"))[0] == 1  # Saturday itself is not a promo day
    assert gained(r, cafe, ms("2026-12-03T23:00"))[0] == 1  # nor Thursday


def test_weekday_hours_follow_daylight_saving(r, cafe) -> None:
    """Stockholm moves to UTC+2 on 2027-03-28: 14:00 local is 13:00 UTC before, 12:00 after."""
    now = ms("2027-03-01T09:00")
    add(r, cafe, now, days="sat-sun", from_time="14:00", to_time="15:00")
    before, after = ms("2027-03-27T14:00"), ms("2027-03-28T14:00")
    assert before == ms("2027-03-27T13:00", ZoneInfo("UTC"))
    assert after == ms("2027-03-28T12:00", ZoneInfo("UTC"))
    for start in (before, after):
        assert gained(r, cafe, start - 1)[0] == 1
        assert gained(r, cafe, start)[0] == 2
        assert gained(r, cafe, start + 60 * MIN - 1)[0] == 2
        assert gained(r, cafe, start + 60 * MIN)[0] == 1


def test_a_window_across_the_dst_night_is_an_hour_shorter(r, cafe) -> None:
    now = ms("2027-03-01T09:00")
    add(r, cafe, now, days="sat", from_time="23:00", to_time="04:00")
    start = ms("2027-03-27T23:00")
    end = ms("2027-03-28T04:00")
    assert end - start == 4 * 60 * MIN  # 02:00 → 03:00 is skipped
    assert gained(r, cafe, end - 1)[0] == 2
    assert gained(r, cafe, end)[0] == 1
    plan = parse_plan(r.hget(sponsor_keys(cafe["sid"]).profile, "promo_plan"))
    assert plan.status(start)["active"]["until_ms"] == end


def test_overlapping_promotions_the_largest_multiplier_wins(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    add(r, cafe, now, name="Double", m=2, start="2026-12-01T10:00", end="2026-12-01T12:00")
    big = add(r, cafe, now, name="Triple", m=3, days="tue", from_time="11:00", to_time="11:30")
    points, ack = gained(r, cafe, ms("2026-12-01T11:10"))
    assert points == 3 and ack["promotion"]["id"] == big.id
    assert ack["promotions"]["active"]["name"] == "Triple"
    assert gained(r, cafe, ms("2026-12-01T11:40"))[0] == 2


def test_multiplied_points_round_half_up_and_a_refused_scan_gains_nothing(r, make_sponsor) -> None:
    cafe = make_sponsor(points_per_scan=3, cooldown_min=60, points_needed=100)
    now = ms("2026-12-01T09:00")
    add(r, cafe, now, m=1.5, start="2026-12-01T09:00", end="2026-12-01T18:00")
    assert gained(r, cafe, now + MIN)[0] == 5  # 4.5 → 5
    with pytest.raises(UltError) as refused:
        run(r, scan(cafe["sid"], "k" * 43, now_ms=now + 2 * MIN))
    assert refused.value.code == "cooldown" and refused.value.extra["points"] == 5
    assert refused.value.extra["promotions"]["active"]["multiplier"] == 1.5


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"start": "2026-12-02T10:00", "end": "2026-12-02T09:00"}, "after the start"),
        ({"m": 0, "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"}, "more than 0"),
        ({"m": -2, "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"}, "more than 0"),
        ({"m": 10.5, "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"}, "at most 10"),
        ({"m": "lots", "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"}, "a number"),
        ({"days": "tue-funday", "from_time": "14:00", "to_time": "17:00"}, "Unknown weekday"),
        ({"days": "tuesX", "from_time": "14:00", "to_time": "17:00"}, "Unknown weekday"),
        ({"start": "0001-01-01T00:00", "end": "2099-01-01T00:00"}, "between the years"),
        ({"days": "tue", "from_time": "25:00", "to_time": "17:00"}, "time of day"),
        ({"days": "tue", "from_time": "14:00", "to_time": "14:00"}, "must differ"),
        ({"start": "yesterday", "end": "2026-12-02T11:00"}, "ISO 8601"),
        ({"start": "2026-11-02T10:00", "end": "2026-11-02T11:00"}, "already be over"),
        ({"name": "", "start": "2026-12-02T10:00", "end": "2026-12-02T11:00"}, "required"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(r, cafe, kw, words) -> None:
    now = ms("2026-12-01T09:00")
    before = r.hgetall(sponsor_keys(cafe["sid"]).profile), r.xlen(sponsor_keys(cafe["sid"]).events)
    with pytest.raises(UltError) as refused:
        add(r, cafe, now, **kw)
    assert refused.value.code == "bad_promotion" and words in refused.value.message
    after = r.hgetall(sponsor_keys(cafe["sid"]).profile), r.xlen(sponsor_keys(cafe["sid"]).events)
    assert after == before and not r.exists(sponsor_keys(cafe["sid"]).promos)


def test_weekday_spellings() -> None:
    assert parse_days("tue-thu") == (1, 2, 3)
    assert parse_days("Friday-Monday") == (0, 4, 5, 6)
    assert parse_days("sat,sun") == (5, 6)


def test_at_most_twenty_promotions_to_come(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    for n in range(MAX_PROMOTIONS):
        add(r, cafe, now, name=f"P{n}", days="mon", from_time="10:00", to_time="11:00")
    with pytest.raises(UltError, match="At most 20"):
        add(r, cafe, now, days="tue", from_time="10:00", to_time="11:00")
    assert len(pr.list_promotions(r, cafe["sid"])) == MAX_PROMOTIONS


def test_wrong_owner_key_unknown_zone_and_unknown_id_change_nothing(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    promo = pr.new_promotion(
        "Double", 2, start="2026-12-02T10:00", end="2026-12-02T11:00", now_ms=now
    )
    with pytest.raises(UltError) as wrong:
        pr.add_promotion(r, cafe["sid"], "x" * 43, promo, now_ms=now)
    assert wrong.value.code == "unauthorized"
    with pytest.raises(UltError) as zone:
        pr.set_zone(r, cafe["sid"], cafe["owner_key"], "Mars/Olympus_Mons")
    assert zone.value.code == "bad_timezone"
    with pytest.raises(UltError) as missing:
        pr.delete_promotion(r, cafe["sid"], cafe["owner_key"], "deadbeef")
    assert missing.value.code == "unknown_promotion"
    assert pr.list_promotions(r, cafe["sid"]) == []
    assert not r.hget(sponsor_keys(cafe["sid"]).profile, "promo_plan")


def test_add_delete_and_zone_are_logged(r, cafe) -> None:
    now = ms("2026-12-01T09:00")
    promo = add(r, cafe, now, start="2026-12-02T10:00", end="2026-12-02T11:00")
    pr.set_zone(r, cafe["sid"], cafe["owner_key"], "Europe/Lisbon", now_ms=now)
    assert pr.delete_promotion(r, cafe["sid"], cafe["owner_key"], promo.id, now_ms=now) == []
    events = [e for _, e in r.xrange(sponsor_keys(cafe["sid"]).events) if e[F.KIND] == "promo"]
    assert [e[F.STATUS] for e in events] == ["add", "tz", "delete"]
    assert json.loads(events[0][F.PROMOTION])["multiplier"] == 2.0
    assert r.hget(sponsor_keys(cafe["sid"]).profile, "promo_plan") == ""
    assert gained(r, cafe, ms("2026-12-02T10:30"))[0] == 1


def test_the_cli(redis_url, r, cafe, tmp_path) -> None:
    env = service_env(redis_url, tmp_path)
    sid, key = cafe["sid"], cafe["owner_key"]
    dash_key = "-" + key[1:]  # a key may begin with '-'
    r.hset(sponsor_keys(sid).profile, "owner_hash", hash_owner_key(dash_key))

    def ult(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "ult", "promo", sid, "--owner-key", dash_key, *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    one = ult(
        "--name",
        "Xmas",
        "--multiplier",
        "2",
        "--start",
        "2099-12-24T14:00+01:00",
        "--end",
        "2099-12-24T17:00+01:00",
    )
    assert one.returncode == 0, one.stderr
    made = json.loads(one.stdout)
    assert made["name"] == "Xmas" and made["start"] == "2099-12-24T13:00:00Z"
    hours = ult(
        "--name",
        "Happy hour",
        "--multiplier",
        "1.5",
        "--days",
        "tue-thu",
        "--from",
        "14:00",
        "--to",
        "17:00",
        "--tz",
        "Europe/Helsinki",
    )
    assert hours.returncode == 0, hours.stderr
    listed = json.loads(ult("--list").stdout)
    assert listed["tz"] == "Europe/Helsinki"
    assert [p["name"] for p in listed["promotions"]] == ["Xmas", "Happy hour"]
    assert listed["promotions"][1]["days"] == ["tue", "wed", "thu"]
    bad = ult(
        "--name",
        "Oops",
        "--multiplier",
        "11",
        "--start",
        "2099-01-01T00:00",
        "--end",
        "2099-01-02T00:00",
    )
    assert bad.returncode == 2 and "at most 10" in bad.stderr
    gone = json.loads(ult("--delete", made["id"]).stdout)
    assert [p["name"] for p in gone["promotions"]] == ["Happy hour"]
    wrong = subprocess.run(
        [sys.executable, "-m", "ult", "promo", sid, "--owner-key", "x" * 43, "--list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "does not match" in wrong.stderr


async def test_a_scan_over_socketio_during_a_promotion(service_url, r, cafe) -> None:
    """The real service: the ack names the promotion and its points; a retry gains nothing;
    the card answer (the wallet's) shows the running and the next promotion."""
    import socketio

    now = now_ms()

    def iso(at: int) -> str:
        return datetime.fromtimestamp(at / 1000, ZoneInfo("UTC")).isoformat()

    running = pr.new_promotion(
        "Double points", 2, start=iso(now - 60 * MIN), end=iso(now + 60 * MIN)
    )
    later = pr.new_promotion("Triple", 3, start=iso(now + 180 * MIN), end=iso(now + 240 * MIN))
    for promo in (running, later):
        pr.add_promotion(r, cafe["sid"], cafe["owner_key"], promo)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(service_url, transports=["websocket"])
    try:
        payload = {"sid": cafe["sid"], "key": "p" * 43, "nonce": "n1"}
        ack = await client.call("scan", payload, timeout=30)
        assert ack["ok"] and ack["points"] == 2 and ack["gained"] == 2
        assert ack["promotion"] == {"id": running.id, "name": "Double points", "multiplier": 2.0}
        assert ack["promotions"]["active"]["until_ms"] == running.end_ms
        assert ack["promotions"]["next"]["id"] == later.id
        again = await client.call("scan", payload, timeout=30)
        assert again["duplicate"] and again["gained"] == 0 and again["promotion"] is None
        card = await client.call("card", {"sid": cafe["sid"], "key": "p" * 43}, timeout=30)
        assert card["promotions"]["active"]["name"] == "Double points"
        assert card["promotions"]["next"]["start_ms"] == later.start_ms
    finally:
        await client.disconnect()


def test_concurrent_changes_all_land_in_the_plan(redis_url, r, cafe) -> None:
    """Two dashboards adding at once: a change made from a stale read is read again."""
    from concurrent.futures import ThreadPoolExecutor

    import redis as redis_py

    now = ms("2026-12-01T09:00")

    def add_five(worker: int) -> None:
        client = redis_py.Redis.from_url(redis_url, decode_responses=True)
        try:
            for n in range(5):
                add(
                    client,
                    cafe,
                    now,
                    name=f"W{worker}-{n}",
                    days="mon",
                    from_time="10:00",
                    to_time="11:00",
                )
        finally:
            client.close()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(add_five, (1, 2)))
    stored = {p.id for p in pr.list_promotions(r, cafe["sid"])}
    plan = parse_plan(r.hget(sponsor_keys(cafe["sid"]).profile, "promo_plan"))
    assert len(stored) == 10 and {p.id for p in plan.promos} == stored
