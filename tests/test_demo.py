"""``ult demo``: synthetic history through the real scan path, deterministic for a seed,
with counts that add up."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
import redis

from ult import demo, keys, run
from ult.analytics.loading import load_sponsors
from ult.cards import CardRecord
from ult.cli import main
from ult.errors import UltError
from ult.scans import scan
from ult.schema import parse_entry
from ult.sponsors import register

END_MS = 1_790_000_000_000  # a fixed "now", so a seed gives the same history
SMALL = demo.DemoConfig(sponsors=3, days=21, seed=7, end_ms=END_MS)


def streams(r: redis.Redis) -> dict[str, list]:
    """Every sponsor's entries, with the random claim ids replaced by their order."""
    claim_ids: dict[str, str] = {}
    out = {}
    for _, f in r.xrange(keys.REGISTRY):
        entries = []
        for eid, fields in r.xrange(keys.sponsor_keys(f["sid"]).events):
            if "id" in fields:
                fields["id"] = claim_ids.setdefault(fields["id"], f"claim-{len(claim_ids)}")
            entries.append((eid, fields))
        out[f["sid"]] = entries
    return out


def test_plan_is_deterministic_and_in_time_order() -> None:
    one, two = demo.plan(SMALL, END_MS), demo.plan(SMALL, END_MS)
    assert [(i.at_ms, i.what, i.nonce) for p in one for i in p.items] == [
        (i.at_ms, i.what, i.nonce) for p in two for i in p.items
    ]
    other = demo.plan(demo.DemoConfig(sponsors=3, days=21, seed=8, end_ms=END_MS), END_MS)
    assert [i.nonce for i in one[0].items] != [i.nonce for i in other[0].items]
    for p in one:
        times = [i.at_ms for i in p.items]
        assert times == sorted(times) and p.start_ms < times[0] and times[-1] <= END_MS
    assert [p.kind.name for p in one] == ["café", "bar", "bakery"]


def test_same_seed_same_streams(r: redis.Redis) -> None:
    demo.load(r, SMALL, progress=False)
    first = streams(r)
    r.flushall()
    demo.load(r, SMALL, progress=False)
    assert streams(r) == first
    assert sum(len(v) for v in first.values()) > 500


def test_counts_add_up(r: redis.Redis) -> None:
    report = demo.load(r, SMALL, progress=False)
    sids = [s["sid"] for s in report.sponsors]
    assert len(sids) == 3 and [s["sid"] for s in demo_registry(r)] == sids
    types: Counter = Counter()
    reasons: Counter = Counter()
    voided = 0
    scanned = set()
    for sid in sids:
        for entry in r.xrange(keys.sponsor_keys(sid).events):
            event = parse_entry(entry)
            types[event.kind] += 1
            if event.kind == "scan":
                scanned.add((sid, event.card))
            reasons[event.reason] += event.refusals  # a folded entry stands for several
            voided += event.kind == "void" and bool(event.ref)
    outcomes = report.outcomes
    assert report.attempts == sum(outcomes.values())
    assert types["scan"] == outcomes["ok"]
    refusals = {k: v for k, v in outcomes.items() if k not in ("ok", "duplicate")}
    assert {k: v for k, v in reasons.items() if v} == refusals
    assert outcomes["duplicate"] > 0 and outcomes["cooldown"] > 0
    assert outcomes["daily_cap"] > 0 and outcomes["code_required"] > 0  # the bar
    assert types["registered"] == 3 and types["rule"] == report.actions["rule"] >= 3
    assert report.entries == sum(types.values())
    assert (
        types["claim"]
        == report.actions["claim"]
        + report.actions["approve"]
        + report.actions["reject"]
        + report.actions["redeem"]
    )
    assert report.actions["redeem"] > 0
    assert voided == report.actions["void_scan"]
    visits = sum(
        CardRecord.parse(packed).visits
        for sid in sids
        for packed in r.hgetall(keys.sponsor_keys(sid).cards).values()
    )
    assert visits == types["scan"] - voided
    cards = sum(r.hlen(keys.sponsor_keys(s).cards) for s in sids)
    assert cards == len(scanned) <= report.customers  # some bar guests never had a code


def demo_registry(r: redis.Redis) -> list[dict]:
    return [f for _, f in r.xrange(keys.REGISTRY)]


def test_without_claims(r: redis.Redis) -> None:
    config = demo.DemoConfig(sponsors=1, days=14, seed=2, end_ms=END_MS, claims=False)
    report = demo.load(r, config, progress=False)
    sid = report.sponsors[0]["sid"]
    kinds = {f["t"] for _, f in r.xrange(keys.sponsor_keys(sid).events)}
    assert kinds <= {"registered", "rule", "promo", "scan", "refused"}
    assert "claim" not in report.actions


def test_refuses_to_load_a_seed_twice(r: redis.Redis) -> None:
    demo.load(r, demo.DemoConfig(sponsors=1, days=7, seed=1, end_ms=END_MS), progress=False)
    with pytest.raises(UltError) as exists:
        demo.load(r, demo.DemoConfig(sponsors=1, days=7, seed=1, end_ms=END_MS), progress=False)
    assert exists.value.code == "demo_exists"


def test_demo_after_a_real_registration_leaves_it_untouched(r: redis.Redis) -> None:
    """The README's order: `ult register`, then `ult demo`, whose history starts earlier."""
    real = register(r, "Fika Sisters", "Storgatan 1", "SE", "place-real")
    run(r, scan(real.sid, "k" * 43))
    before = {k: r.dump(k) for k in sorted(r.scan_iter(f"ult:{{{real.sid}}}:*"))}
    report = demo.load(r, demo.DemoConfig(sponsors=2, days=30, seed=9), progress=False)
    after = {k: r.dump(k) for k in sorted(r.scan_iter(f"ult:{{{real.sid}}}:*"))}
    assert after == before
    sponsors = load_sponsors(r).set_index("sid")
    assert list(sponsors.index[-2:]) == [s["sid"] for s in report.sponsors]
    first_demo = sponsors.loc[report.sponsors[0]["sid"], "registered"]
    assert first_demo < sponsors.loc[real.sid, "registered"] - pd.Timedelta(days=29)


def test_cli(r: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["demo", "--sponsors", "2", "--days", "7", "--seed", "5", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["kind"] for s in out["sponsors"]] == ["café", "bar"]
    assert out["entries"] == sum(
        r.xlen(keys.sponsor_keys(s["sid"]).events) for s in out["sponsors"]
    )
    assert main(["demo", "--sponsors", "0"]) == 2
