"""Redis holds what is live: after `ult archive --trim-days 30` over 400 days of demo history
only the cards seen in the window stay in Redis, a card away for a year scans on from the
lake with its history, a new card never pays a lake lookup, the move is crash-safe, and the
views read a bounded amount."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from ult import demo, ops, run
from ult.analytics import lake
from ult.analytics.lake import cards as lake_cards
from ult.analytics.lake.archiving import DAY_MS
from ult.cards import find_archived, loyalists
from ult.claims import claim, list_claims
from ult.identity import card_id
from ult.keys import sponsor_keys
from ult.scans import arun_scan, run_scan, scan
from ult.schema import TOP_KEPT, CardRecord

END_MS = 1_790_000_000_000
CUTOFF_MS = END_MS - 30 * DAY_MS


@pytest.fixture
def year(r: redis.Redis) -> tuple[str, dict[str, str], dict[str, str]]:
    """400 days of one café's history: (sid, cards before archiving, key of each cid)."""
    config = demo.DemoConfig(sponsors=1, days=400, seed=11, end_ms=END_MS, scale=0.4)
    report = demo.load(r, config, progress=False)
    sid = report.sponsors[0]["sid"]
    keys = {
        card_id(it.customer.key): it.customer.key
        for p in demo.plan(config, END_MS)
        for it in p.items
        if it.customer
    }
    return sid, r.hgetall(sponsor_keys(sid).cards), keys


def active(records: dict[str, str], cutoff: int) -> set[str]:
    return {
        cid
        for cid, packed in records.items()
        if max(CardRecord.parse(packed).last_ms, CardRecord.parse(packed).refused_ms) >= cutoff
    }


@pytest.mark.slow
def test_redis_keeps_the_window_and_a_year_away_card_scans_on(r, year, tmp_path: Path) -> None:
    sid, before, keys = year
    k = sponsor_keys(sid)
    lake_dir = tmp_path / "lake"
    bytes_before = r.memory_usage(k.cards, samples=0)
    report = lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS)
    after = r.hgetall(k.cards)
    live = active(before, CUTOFF_MS)
    # cards with a claim still open stay too; every card kept is unchanged
    assert live <= set(after) and len(after) - len(live) <= 3
    assert all(after[cid] == before[cid] for cid in after)
    assert report.cards == len(before) - len(after) > len(after)
    assert r.memory_usage(k.cards, samples=0) < bytes_before / 2
    ranked = set(r.zrange(k.top, 0, -1))
    assert ranked <= set(after) and 0 < len(ranked) <= TOP_KEPT, "the index left the lake's cards"
    best = sorted(
        after,
        key=lambda c: (-CardRecord.parse(after[c]).visits, -CardRecord.parse(after[c]).last_ms),
    )
    assert [row["cid"] for row in run(r, loyalists(sid, limit=25))] == [c[:12] for c in best[:25]]

    away = max(
        (cid for cid in before if cid not in after and cid in keys),
        key=lambda cid: (
            CardRecord.parse(before[cid]).last_ms < END_MS - 300 * DAY_MS,
            CardRecord.parse(before[cid]).visits,
        ),
    )
    old = CardRecord.parse(before[away])
    assert old.last_ms < END_MS - 300 * DAY_MS and old.visits >= 2, "a regular away for a year"
    assert find_archived(lake_dir, sid, away).record == before[away]
    res = run_scan(r, scan(sid, keys[away], nonce="back", now_ms=END_MS + 60_000), lake_dir)
    assert (res.visits, res.points) == (old.visits + 1, old.points + res.gained)
    assert CardRecord.parse(r.hget(k.cards, away)).first_ms == old.first_ms
    again = run_scan(r, scan(sid, keys[away], nonce="back", now_ms=END_MS + 61_000), lake_dir)
    assert again.duplicate and again.visits == res.visits, "a retry still counts once"


def test_expiry_applies_to_a_card_back_from_the_lake(r, make_sponsor, tmp_path: Path) -> None:
    sid = make_sponsor(expiry_days=60)["sid"]
    t0 = END_MS - 400 * DAY_MS
    for i in range(3):
        run(r, scan(sid, "e" * 40, nonce=f"n{i}", now_ms=t0 + i * DAY_MS))
    lake_dir = tmp_path / "lake"
    assert lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS).cards == 1
    assert r.hlen(sponsor_keys(sid).cards) == 0
    res = run_scan(r, scan(sid, "e" * 40, nonce="back", now_ms=END_MS), lake_dir)
    assert (res.visits, res.points) == (4, 1), "visits kept, points lapsed under the rule"
    kinds = [f["t"] for _, f in r.xrange(sponsor_keys(sid).events)]
    assert kinds[-2:] == ["expired", "scan"]


async def test_a_card_comes_back_through_the_async_path(r, ar, make_sponsor, tmp_path) -> None:
    sid = make_sponsor(cooldown_min=0)["sid"]
    run(r, scan(sid, "a" * 40, nonce="n1", now_ms=END_MS - 90 * DAY_MS))
    lake_dir = tmp_path / "lake"
    lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS)
    pipe = ops.AutoPipeline(ar)

    # two scans of the card in one tick: both meet the filter, one restore wins, both count
    both = [
        scan(sid, "a" * 40, nonce=f"x{i}", now_ms=END_MS + i, new_card_allowed=False)
        for i in range(2)
    ]
    done = await asyncio.gather(*(arun_scan(pipe.run, op, lake_dir) for op in both))
    assert sorted(d.visits for d in done) == [2, 3]


def test_new_cards_do_not_read_the_lake(r, make_sponsor, tmp_path: Path, monkeypatch) -> None:
    sid = make_sponsor(cooldown_min=0)["sid"]
    for i in range(300):
        run(r, scan(sid, f"old{i:04d}".ljust(40, "o"), now_ms=END_MS - 100 * DAY_MS + i))
    lake_dir = tmp_path / "lake"
    assert lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS).cards == 300
    assert r.strlen(sponsor_keys(sid).archived) * 8 >= 3000, "10 bits per archived card"
    lookups: list[str] = []
    real = find_archived

    def counted(*args):
        lookups.append(args[2])
        return real(*args)

    monkeypatch.setattr("ult.scans.find_archived", counted)
    for i in range(500):
        key = f"new{i:04d}".ljust(40, "n")
        assert run_scan(r, scan(sid, key, now_ms=END_MS + i), lake_dir).visits == 1
    assert len(lookups) <= 20, "a Bloom filter false positive now and then, no more"
    back = run_scan(r, scan(sid, "old0007".ljust(40, "o"), now_ms=END_MS + 1000), lake_dir)
    assert back.visits == 2


def test_card_move_is_crash_safe(r, make_sponsor, tmp_path: Path, monkeypatch) -> None:
    sid = make_sponsor()["sid"]
    for i in range(5):
        run(r, scan(sid, f"c{i}".ljust(40, "c"), now_ms=END_MS - 60 * DAY_MS + i))
    k = sponsor_keys(sid)
    records = r.hgetall(k.cards)
    lake_dir = tmp_path / "lake"

    def crash(*a, **kw):
        raise SystemExit("killed after the lake write")

    monkeypatch.setattr(lake_cards, "bloom_filter", crash)
    with pytest.raises(SystemExit):
        lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS)
    assert r.hgetall(k.cards) == records, "nothing left Redis"
    monkeypatch.undo()
    # a card scans meanwhile: it stays, the others go (written twice, read once)
    run(r, scan(sid, "c0".ljust(40, "c"), now_ms=END_MS - 10))
    assert lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS).cards == 4
    assert set(r.hkeys(k.cards)) == {card_id("c0".ljust(40, "c"))}
    for cid in records:
        if cid != card_id("c0".ljust(40, "c")):
            assert find_archived(lake_dir, sid, cid).record == records[cid]


def test_views_read_a_bounded_amount(r, make_sponsor) -> None:
    sid = make_sponsor(cooldown_min=0, points_needed=1, approval="staff")["sid"]
    k = sponsor_keys(sid)
    for i in range(400):
        run(r, scan(sid, f"v{i:04d}".ljust(40, "v"), now_ms=END_MS + i))
        for j in range(i % 7):
            run(r, scan(sid, f"v{i:04d}".ljust(40, "v"), now_ms=END_MS + 1000 * j + i))
    for i in range(0, 400, 2):
        run(r, claim(sid, f"v{i:04d}".ljust(40, "v"), now_ms=END_MS + 10_000 + i))
    r.config_resetstat()
    rows = run(r, loyalists(sid, limit=25))
    stats = r.info("commandstats")
    assert "cmdstat_hgetall" not in stats and stats["cmdstat_hmget"]["calls"] == 1
    whole = sorted(
        (
            (CardRecord.parse(v).visits, CardRecord.parse(v).last_ms, c)
            for c, v in r.hgetall(k.cards).items()
        ),
        reverse=True,
    )[:25]
    assert [row["visits"] for row in rows] == [w[0] for w in whole]
    assert [row["last_ms"] for row in rows] == [w[1] for w in whole]
    listed = run(r, list_claims(sid, now_ms=END_MS + 20_000, limit=10))
    assert len(listed) == 200, "every claim waiting for staff, besides the page"
