"""The atomic scan script and card reads, against the embedded server (injectable clock)."""

import asyncio
import time

import pytest

from ult import arun, keys, ops, run
from ult.cards import loyalists, read_card
from ult.errors import UltError
from ult.identity import card_id
from ult.rules import Rule, get_rule, set_rule
from ult.scans import scan
from ult.schema import TOP_KEPT, CardRecord

KEY = "k" * 43
OTHER = "o" * 43
MIN = 60_000
DAY = 86_400_000
# 16:00 UTC two days from now: after the sponsor's registration entry (ids never go back)
T0 = (int(time.time() * 1000) // DAY + 2) * DAY + 16 * 3600_000


def events(r, sid):
    return r.xrange(keys.sponsor_keys(sid).events)


def scans_of(r, sid):
    return [f for _, f in events(r, sid) if f["t"] == "scan"]


def test_first_scan_counts_and_is_in_the_stream(r, make_sponsor):
    s = make_sponsor()
    res = run(r, scan(s["sid"], KEY, nonce="n1", at="table-3", now_ms=T0))
    assert (res.visits, res.points, res.duplicate) == (1, 1, False)
    assert res.message == "Visit 1 recorded — 1 point"
    assert res.biz == "Fika Sisters"
    (entry,) = scans_of(r, s["sid"])
    assert entry == {"t": "scan", "c": card_id(KEY), "v": "1", "p": "1", "a": "table-3"}
    assert res.entry_id.startswith(str(T0))
    # the key itself is stored nowhere
    dump = str(r.hgetall(keys.sponsor_keys(s["sid"]).cards)) + str(events(r, s["sid"]))
    assert KEY not in dump


def test_retried_nonce_counts_once(r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    first = run(r, scan(s["sid"], KEY, nonce="retry-me", now_ms=T0))
    again = run(r, scan(s["sid"], KEY, nonce="retry-me", now_ms=T0 + 500))
    assert again.duplicate and again.visits == first.visits == 1
    assert len(scans_of(r, s["sid"])) == 1
    third = run(r, scan(s["sid"], KEY, nonce="other", now_ms=T0 + 1000))
    assert third.visits == 2


def test_unknown_sponsor_is_refused_and_writes_nothing(r):
    with pytest.raises(UltError) as e:
        run(r, scan("no-such-place", KEY, now_ms=T0))
    assert e.value.code == "unknown_sponsor"
    assert r.dbsize() == 0


def test_cooldown_boundary(r, make_sponsor):
    s = make_sponsor(cooldown_min=60)
    run(r, scan(s["sid"], KEY, now_ms=T0))
    with pytest.raises(UltError) as e:
        run(r, scan(s["sid"], KEY, now_ms=T0 + 60 * MIN - 1))
    assert e.value.code == "cooldown"
    assert e.value.extra["visits"] == 1 and e.value.extra["next_scan_in"] == 1
    assert "next visit counts in" in e.value.message
    res = run(r, scan(s["sid"], KEY, now_ms=T0 + 60 * MIN))
    assert res.visits == 2
    # a refusal is logged without counting
    refused = [f for _, f in events(r, s["sid"]) if f["t"] == "refused"]
    assert refused == [{"t": "refused", "c": card_id(KEY), "r": "cooldown"}]


def test_cooldown_is_per_card(r, make_sponsor):
    s = make_sponsor(cooldown_min=60)
    run(r, scan(s["sid"], KEY, now_ms=T0))
    assert run(r, scan(s["sid"], OTHER, now_ms=T0 + 1)).visits == 1


def test_daily_cap_boundary_and_reset_at_midnight(r, make_sponsor):
    s = make_sponsor(cooldown_min=0, daily_cap=2)
    day_start = T0 - T0 % DAY
    run(r, scan(s["sid"], KEY, now_ms=day_start + 10 * 3600_000))
    run(r, scan(s["sid"], KEY, now_ms=day_start + 11 * 3600_000))
    with pytest.raises(UltError) as e:
        run(r, scan(s["sid"], KEY, now_ms=day_start + DAY - 1))
    assert e.value.code == "daily_cap" and e.value.extra["next_scan_in"] == 1
    assert run(r, scan(s["sid"], KEY, now_ms=day_start + DAY)).visits == 3


def test_points_expire_after_days_without_a_visit(r, make_sponsor):
    s = make_sponsor(cooldown_min=0, expiry_days=30)
    run(r, scan(s["sid"], KEY, now_ms=T0))
    run(r, scan(s["sid"], KEY, now_ms=T0 + 1))
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + 30 * DAY + 1)).points == 2
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + 30 * DAY + 2)).points == 0
    res = run(r, scan(s["sid"], KEY, now_ms=T0 + 30 * DAY + 2))
    assert (res.visits, res.points) == (3, 1)
    expired = [f for _, f in events(r, s["sid"]) if f["t"] == "expired"]
    assert expired == [{"t": "expired", "c": card_id(KEY), "p": "-2"}]


def test_a_card_read_applies_the_scan_scripts_rules_and_writes_nothing(r, make_sponsor):
    """Cooldown and expiry are the scripts' (lib.lua): the card read answers them as a scan."""
    s = make_sponsor(cooldown_min=30, expiry_days=1)
    assert run(r, scan(s["sid"], KEY, now_ms=T0)).next_scan_in == 30 * 60
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + 60_000)).next_scan_in == 29 * 60
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + 60_001)).next_scan_in == 29 * 60
    before = r.xlen(keys.sponsor_keys(s["sid"]).events)
    late = run(r, read_card(s["sid"], KEY, now_ms=T0 + DAY + 1))
    assert (late.visits, late.points, late.next_scan_in) == (1, 0, 0)
    assert r.xlen(keys.sponsor_keys(s["sid"]).events) == before  # the next scan logs it
    assert run(r, read_card(s["sid"], KEY, now_ms=T0 + DAY)).points == 1


def test_rule_change_takes_effect_on_next_scan(r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    assert run(r, scan(s["sid"], KEY, now_ms=T0)).points == 1
    run(
        r,
        set_rule(s["sid"], s["owner_key"], Rule(points_per_scan=5, cooldown_min=0), now_ms=T0 + 1),
    )
    assert run(r, scan(s["sid"], KEY, now_ms=T0 + 2)).points == 6
    assert run(r, get_rule(s["sid"])).points_per_scan == 5
    rule_events = [f for _, f in events(r, s["sid"]) if f["t"] == "rule"]
    assert len(rule_events) == 2 and '"points_per_scan": 5' in rule_events[-1]["rule"]


def test_rule_needs_the_owner_key_and_valid_values(r, make_sponsor):
    s = make_sponsor()
    with pytest.raises(UltError) as e:
        run(r, set_rule(s["sid"], "x" * 43, Rule(points_per_scan=100)))
    assert e.value.code == "unauthorized"
    with pytest.raises(UltError) as e:
        run(r, set_rule(s["sid"], s["owner_key"], Rule(points_per_scan=0)))
    assert e.value.code == "bad_rule" and "points_per_scan" in e.value.message
    assert run(r, get_rule(s["sid"])).points_per_scan == 1


def test_clock_going_backwards_keeps_stream_ids_increasing(r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    a = run(r, scan(s["sid"], KEY, now_ms=T0 + 1000))
    b = run(r, scan(s["sid"], OTHER, now_ms=T0))  # a second process whose clock is behind

    def as_tuple(entry_id: str) -> tuple[int, int]:
        ms, seq = entry_id.split("-")
        return int(ms), int(seq)

    assert as_tuple(a.entry_id) == (T0 + 1000, 0)
    assert as_tuple(b.entry_id) == (T0 + 1000, 1)  # clamped to the stream's last time


def test_card_read_history_and_loyalists(r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    for i in range(12):
        run(r, scan(s["sid"], KEY, nonce=f"n{i}", at="till" if i % 2 else None, now_ms=T0 + i))
    run(r, scan(s["sid"], OTHER, now_ms=T0 + 100))
    card = run(r, read_card(s["sid"], KEY, now_ms=T0 + 200))
    assert (card.visits, card.points, card.biz) == (12, 12, "Fika Sisters")
    assert len(card.history) == 10  # the last ten visits, newest first
    assert card.history[0]["at_ms"] == T0 + 11 and card.history[0]["tag"] == "till"
    fresh = run(r, read_card(s["sid"], "n" * 43))
    assert (fresh.visits, fresh.points, fresh.history) == (0, 0, [])
    rows = run(r, loyalists(s["sid"]))
    assert [(row["cid"], row["visits"]) for row in rows] == [
        (card_id(KEY)[:12], 12),
        (card_id(OTHER)[:12], 1),
    ]
    assert rows[0]["first_ms"] == T0 and rows[0]["last_ms"] == T0 + 11


def test_the_loyalists_index_keeps_only_the_best_cards(r, make_sponsor):
    """The ``top`` sorted set holds TOP_KEPT cards however many there are, and the loyalists
    read from it are those of the whole ``cards`` hash; a card below them climbs in."""
    sid = make_sponsor(cooldown_min=0)["sid"]
    ops.load(r, "scan")
    pipe = r.pipeline(transaction=False)
    for i in range(TOP_KEPT + 40):
        for v in range(1 + i % 7):
            ops.queue(pipe, scan(sid, f"card{i:04d}".ljust(43, "k"), nonce=f"n{v}", now_ms=T0 + i))
    pipe.execute()
    k = keys.sponsor_keys(sid)
    assert r.zcard(k.top) == TOP_KEPT and r.hlen(k.cards) == TOP_KEPT + 40

    def best(limit: int) -> list[tuple[str, int]]:
        recs = [(cid, CardRecord.parse(raw)) for cid, raw in r.hgetall(k.cards).items()]
        recs.sort(key=lambda it: (-it[1].visits, -it[1].last_ms))
        return [(cid[:12], rec.visits) for cid, rec in recs[:limit]]

    assert [(row["cid"], row["visits"]) for row in run(r, loyalists(sid, 40))] == best(40)
    low = "low".ljust(43, "k")
    for v in range(9):
        run(r, scan(sid, low, nonce=f"l{v}", now_ms=T0 + 10_000 + v))
    rows = run(r, loyalists(sid, 5))
    assert rows[0]["cid"] == card_id(low)[:12] and rows[0]["visits"] == 9
    assert [(row["cid"], row["visits"]) for row in rows] == best(5)
    assert r.zcard(k.top) == TOP_KEPT


async def test_100_concurrent_scans_on_one_card_count_exactly_100(ar, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    results = await asyncio.gather(
        *(arun(ar, scan(s["sid"], KEY, nonce=f"n{i}")) for i in range(100))
    )
    assert sorted(res.visits for res in results) == list(range(1, 101))
    card = await arun(ar, read_card(s["sid"], KEY))
    assert (card.visits, card.points) == (100, 100)
    assert await ar.xlen(keys.sponsor_keys(s["sid"]).events) == 1 + 1 + 100  # registered, rule


async def test_100_concurrent_retries_of_one_nonce_count_once(ar, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    results = await asyncio.gather(
        *(arun(ar, scan(s["sid"], KEY, nonce="same")) for _ in range(100))
    )
    assert sum(not res.duplicate for res in results) == 1
    assert {res.visits for res in results} == {1}
