"""ult.analytics on small hand-made streams with known answers (real embedded Valkey).

Entries are written with XADD and explicit ids where a test needs exact times, and through
the real scan path where it checks what the loader makes of real entries.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import redis
from support.analytics import DAY, MONDAY, SID, add, card, load, ms

import ult.analytics as ua
from ult import demo, keys, run
from ult.analytics import privacy
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.sponsors import register

END_MS = 1_790_000_000_000  # a fixed "now" for the demo data


def visits(r: redis.Redis, schedule: dict[int, list[int]], start: pd.Timestamp = MONDAY) -> None:
    """``{day: [card numbers]}`` → one counted scan per card and day, in time order."""
    seen: dict[int, int] = {}
    for day in sorted(schedule):
        for i, n in enumerate(schedule[day]):
            seen[n] = seen.get(n, 0) + 1
            when = start + day * DAY + pd.Timedelta(minutes=i)
            add(r, when, t="scan", c=card(n), v=seen[n], p=1)


# ---- loading ---------------------------------------------------------------------------------


def test_loader_types_times_and_short_cids(r: redis.Redis) -> None:
    add(r, MONDAY, t="registered", biz="Café", country="SE", place_id="x", verified="0")
    add(r, MONDAY + DAY, t="scan", c=card(1), v=1, p=2, a="table-1")
    add(r, MONDAY + 2 * DAY, t="refused", c=card(1), r="cooldown")
    df = load(r)
    assert list(df.columns[:9]) == [
        "time", "entry_id", "sid", "type", "cid", "visit", "points", "tag", "reason",
    ]  # fmt: skip
    assert str(df["time"].dtype) == "datetime64[ms, UTC]"
    assert df["time"].tolist() == [MONDAY, MONDAY + DAY, MONDAY + 2 * DAY]
    assert str(df["visit"].dtype) == "Int32" and str(df["points"].dtype) == "Int32"
    assert all(str(df[c].dtype) == "category" for c in ("sid", "type", "tag", "reason"))
    assert df["cid"].dropna().tolist() == [card(1)[:12]] * 2  # never the full card id
    assert df["points"].tolist()[1] == 2 and pd.isna(df["points"].iloc[0])
    assert df["entry_id"].str.startswith(str(ms(MONDAY))).iloc[0]


def test_loader_is_generic_over_event_types(r: redis.Redis) -> None:
    add(r, MONDAY, t="scan", c=card(1), v=1, p=3)
    add(r, MONDAY + DAY, t="claim", c=card(1), id="c-1", s="requested", p=-3)
    add(r, MONDAY + 2 * DAY, t="surprise", c=card(1), colour="blue")
    df = load(r)
    claim = df[df["type"] == "claim"].iloc[0]
    assert (claim["status"], claim["claim_id"], claim["points"]) == ("requested", "c-1", -3)
    assert df["colour"].tolist()[-1] == "blue"  # a field nobody told the loader about


def test_pages_and_progress_do_not_change_the_result(r: redis.Redis) -> None:
    visits(r, {d: [1, 2, 3] for d in range(7)})
    whole = ua.load_stream(r, SID, progress=False)
    paged = ua.load_stream(r, SID, batch=4, progress=True)
    pd.testing.assert_frame_equal(whole, paged)
    assert len(whole) == 21
    assert sum(len(f) for f in ua.iter_frames(r, SID, batch=5)) == 21
    since = ua.load_stream(r, SID, progress=False, start=str(ms(MONDAY + 5 * DAY)))
    assert len(since) == 6


def test_all_sponsors_from_the_registry_and_an_empty_server(r: redis.Redis) -> None:
    empty = load(r)
    assert empty.empty and "cid" in empty.columns
    assert ua.event_counts(empty).empty and ua.cohort_retention(empty).empty
    add(r, MONDAY, sid="one-0001", t="scan", c=card(1), v=1, p=1)
    add(r, MONDAY, sid="two-0002", t="scan", c=card(1), v=1, p=1)
    df = load(r)
    assert sorted(df["sid"].astype(str)) == ["one-0001", "two-0002"]
    assert ua.sponsor_ids(r) == ["one-0001", "two-0002"]


def test_loading_entries_written_by_the_real_scan_path(r: redis.Redis) -> None:
    start = ms(MONDAY)
    reg = register(
        r, "Fika Sisters", "Storgatan 1", "SE", "local:a", utc_offset_min=60, now_ms=start
    )
    run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=60), now_ms=start + 1))
    key = "k" * 43
    run(r, scan(reg.sid, key, "n1", "till", now_ms=start + 60_000))
    with pytest.raises(Exception, match="Already counted"):
        run(r, scan(reg.sid, key, "n2", "till", now_ms=start + 120_000))
    run(r, scan(reg.sid, key, "n3", now_ms=start + 2 * 3_600_000))
    df = ua.load_stream(r, reg.sid, progress=False)
    assert df["type"].astype(str).tolist() == ["registered", "rule", "scan", "refused", "scan"]
    assert df["visit"].dropna().tolist() == [1, 2]
    assert df["reason"].dropna().tolist() == ["cooldown"]
    assert df["time"].iloc[2] == MONDAY + pd.Timedelta(minutes=1)
    assert json.loads(df["rule"].dropna().iloc[0])["cooldown_min"] == 60
    sponsors = ua.load_sponsors(r)
    row = sponsors.iloc[0]
    assert (row["sid"], row["utc_offset_min"], row["cooldown_min"]) == (reg.sid, 60, 60)
    assert "owner_hash" not in sponsors.columns and "code_secret" not in sponsors.columns
    assert ua.is_guarded(sponsors)


# ---- the k-anonymity guard -------------------------------------------------------------------


def test_suppression_at_k(r: redis.Redis) -> None:
    for n in range(5):
        add(r, MONDAY + n * pd.Timedelta(minutes=5), t="scan", c=card(n), v=1, p=1, a="till")
    for n in range(5, 9):
        add(
            r,
            MONDAY + DAY + n * pd.Timedelta(minutes=5),
            t="scan",
            c=card(n),
            v=1,
            p=1,
            a="table-1",
        )
    df = load(r)
    at5 = ua.tag_counts(df, k=5)
    assert at5.index.tolist() == ["till"] and at5.attrs["suppressed_rows"] == 1
    at4 = ua.tag_counts(df, k=4)
    assert at4["cards"].to_dict() == {"till": 5, "table-1": 4}
    daily = ua.scans_over_time(df, freq="D", k=5)  # the small day is kept, masked
    assert daily["cards"].tolist()[0] == 5 and pd.isna(daily["cards"].tolist()[1])


def test_the_guard_refuses_raw_rows_and_follows_the_default_k(r: redis.Redis) -> None:
    visits(r, {0: [1, 2, 3, 4, 5, 6]})
    df = load(r)
    with pytest.raises(ua.PrivacyError):
        ua.show(df)
    with pytest.raises(ua.PrivacyError):
        ua.check(df.groupby("tag", observed=False).size().to_frame())
    assert ua.default_k() == ua.DEFAULT_K == 5
    table = ua.repeat_rate(df)
    assert ua.show(table) is table
    try:
        ua.set_default_k(7)
        with pytest.raises(ua.PrivacyError):  # guarded at 5, but 7 is asked for now
            ua.check(table)
        assert ua.repeat_rate(df).empty  # 6 cards < 7
    finally:
        ua.set_default_k(ua.DEFAULT_K)
    with pytest.raises(ValueError):
        ua.set_default_k(0)


def test_cells_under_k_are_masked_and_counted() -> None:
    values = pd.DataFrame({"a": [10, 3], "b": [0, 7]})
    cards = pd.DataFrame({"a": [6, 3], "b": [0, 5]})
    out = privacy.mask_cells(values, cards, k=5)
    assert out["a"].tolist()[0] == 10 and pd.isna(out["a"].tolist()[1])
    assert out["b"].tolist() == [0, 7]  # zero cards is no group at all
    assert out.attrs == {"k_anonymity": 5, "suppressed_rows": 0, "suppressed_cells": 1}


# ---- customers and retention -----------------------------------------------------------------

# Week 0: cards 1–6 come for the first time; 1, 2, 3 come back in week 1 and 1 in week 2.
# Week 1: cards 7–11 come for the first time; 7 comes back in week 2.
COHORTS = {0: [1, 2, 3, 4, 5, 6], 8: [1, 2, 3, 7, 8, 9, 10, 11], 15: [1, 7]}


def test_cohort_matrix(r: redis.Redis) -> None:
    visits(r, COHORTS)
    df = load(r)
    counts = ua.cohort_retention(df, freq="W", k=1, counts=True)
    assert counts.index.get_level_values("cards").tolist() == [6, 5]
    assert counts.index.get_level_values("cohort").tolist() == [
        MONDAY.floor("D"),
        MONDAY.floor("D") + 7 * DAY,
    ]
    assert counts.iloc[0].tolist() == [6, 3, 1]
    assert counts.iloc[1].tolist()[:2] == [5, 1] and pd.isna(counts.iloc[1, 2])  # not yet seen
    shares = ua.cohort_retention(df, freq="W", k=1)
    assert shares.iloc[0].tolist() == pytest.approx([1, 0.5, 1 / 6])
    assert shares.iloc[1].tolist()[:2] == pytest.approx([1, 0.2])


def test_cohort_matrix_suppression(r: redis.Redis) -> None:
    visits(r, COHORTS)
    df = load(r)
    at5 = ua.cohort_retention(df, freq="W", k=5)
    assert at5.iloc[0].tolist()[0] == 1 and at5.iloc[0].isna().tolist() == [False, True, True]
    assert at5.attrs["suppressed_cells"] == 3  # 3, 1 and 1 active cards
    at6 = ua.cohort_retention(df, freq="W", k=6)
    assert at6.index.get_level_values("cards").tolist() == [6]  # the 5-card cohort is dropped
    assert at6.attrs["suppressed_rows"] == 1
    curve = ua.retention_curve(df, freq="W", by=None, k=1)
    assert curve["all"].tolist() == pytest.approx([1.0, 4 / 11, 1 / 6])


def test_repeat_rate_frequency_and_overview(r: redis.Redis) -> None:
    visits(r, COHORTS)
    df = load(r)
    rate = ua.repeat_rate(df, by=None, k=1)
    assert rate.loc["all"].tolist() == pytest.approx([11, 4, 4 / 11])
    freq = ua.visit_frequency(df, bins=(1, 2, 3), k=1)
    assert freq["cards"].to_dict() == {"1": 7, "2": 3, "3+": 1}
    assert ua.overview(df, k=1).loc[SID, ["scans", "cards", "repeat_cards"]].tolist() == [16, 11, 4]
    assert pd.isna(ua.repeat_rate(df, by=None, k=5).loc["all", "repeat_rate"])  # 4 < 5


def test_new_and_returning_cards(r: redis.Redis) -> None:
    visits(r, {0: [1, 2], 1: [1, 3], 2: [1, 2, 3]})
    table = ua.scans_over_time(load(r), freq="D", k=1)
    assert table[["scans", "cards", "new_cards", "returning_cards"]].values.tolist() == [
        [2, 2, 2, 0],
        [2, 2, 1, 1],
        [3, 3, 0, 3],
    ]


def test_time_between_visits(r: redis.Redis) -> None:
    visits(r, {0: [1], 1: [2], 2: [1], 9: [1], 31: [2]})
    df = load(r)
    gaps = ua.visit_gaps(df)["gap"].sort_values().tolist()
    assert gaps == [2 * DAY, 7 * DAY, 30 * DAY]
    dist = ua.gap_distribution(df, bins_days=(0, 7, 30), k=1)
    assert dist["returns"].to_dict() == {"0–7 d": 1, "7–30 d": 1, "30+ d": 1}
    summary = ua.gap_summary(df, k=1).loc[SID]
    assert (summary["cards"], summary["returns"], summary["median_days"]) == (2, 3, 7)


def test_hour_weekday_in_local_time(r: redis.Redis) -> None:
    sunday_late = MONDAY - pd.Timedelta(minutes=630)  # Sunday 23:30 UTC
    for n in range(5):
        add(r, sunday_late + pd.Timedelta(seconds=n), t="scan", c=card(n), v=1, p=1)
    df = load(r)
    utc = ua.hour_weekday(df, k=5)
    assert utc.loc["Sun", 23] == 5 and utc.to_numpy(dtype=float, na_value=0).sum() == 5
    local = ua.hour_weekday(df, {SID: 60}, k=5)
    assert local.loc["Mon", 0] == 5
    assert pd.isna(ua.hour_weekday(df, k=6).loc["Sun", 23])


# ---- rewards, claims and fraud ---------------------------------------------------------------


def rewards_stream(r: redis.Redis) -> None:
    add(r, MONDAY, t="rule", rule=json.dumps(Rule(points_needed=3).to_dict()))
    visits(r, {0: [1, 2], 1: [1, 2], 2: [1], 3: [3]})
    later = MONDAY + 3 * DAY
    add(r, later + pd.Timedelta(hours=1), t="claim", c=card(1), id="c1", s="requested", p=-3)
    add(r, later + pd.Timedelta(hours=2), t="claim", c=card(1), id="c1", s="approved", p=0)


def test_reward_funnel_from_claims(r: redis.Redis) -> None:
    rewards_stream(r)
    df = load(r)
    assert ua.points_needed_by_sid(df) == {SID: 3}
    funnel = ua.reward_funnel(df, k=1).loc[SID]
    assert funnel[["cards", "earned", "rewards_earned", "claims", "approved_claims"]].tolist() == [
        3, 1, 1, 1, 1,
    ]  # fmt: skip
    assert funnel["earn_rate"] == pytest.approx(1 / 3)
    assert funnel["redemption_rate"] == pytest.approx(1.0)
    status = ua.claim_status(df, k=1)
    assert status.loc[(SID, "approved"), "claims"] == 1
    assert ua.reward_funnel(df, points_needed=2, k=1).loc[SID, "earned"] == 2
    hidden = ua.reward_funnel(df, k=2).loc[SID]  # 3 cards; 1 earned, 1 claimed: masked
    assert hidden["cards"] == 3 and pd.isna(hidden["earned"]) and pd.isna(hidden["claims"])


def test_a_voided_reward_claimed_again_counts_once(r: redis.Redis) -> None:
    """Approved, voided (points back), claimed and approved again: one reward given."""
    rewards_stream(r)
    later = MONDAY + 3 * DAY
    add(r, later + pd.Timedelta(hours=3), t="void", c=card(1), id="c1", s="void", p=3)
    add(r, later + pd.Timedelta(hours=4), t="claim", c=card(1), id="c2", s="approved", p=-3)
    funnel = ua.reward_funnel(load(r), k=1).loc[SID]
    assert funnel[["rewards_earned", "claims", "approved_claims", "given_claims"]].tolist() == [
        1, 2, 2, 1,
    ]  # fmt: skip
    assert funnel["redemption_rate"] == pytest.approx(1.0)


def test_redemption_rate_is_a_share_on_demo_data(r: redis.Redis) -> None:
    demo.load(r, demo.DemoConfig(sponsors=5, days=60, seed=3, end_ms=END_MS), progress=False)
    rates = ua.reward_funnel(ua.load_events(r, progress=False), k=1)["redemption_rate"]
    assert rates.notna().any()
    assert ((rates.dropna() >= 0) & (rates.dropna() <= 1)).all()


def test_funnel_without_claims_and_voided_scans(r: redis.Redis) -> None:
    add(r, MONDAY, t="rule", rule=json.dumps(Rule(points_needed=2).to_dict()))
    visits(r, {0: [1, 2], 1: [1]})
    second = r.xrevrange(keys.sponsor_keys(SID).events, count=1)[0][0]  # card 1's 2nd scan
    add(r, MONDAY + 2 * DAY, t="void", c=card(1), ref=second, p=-1, v=-1)
    df = load(r)
    assert len(ua.scans(df)) == 2  # the voided scan no longer counts
    funnel = ua.reward_funnel(df, k=1)
    assert "claims" not in funnel.columns
    assert funnel.loc[SID, "earned"] == 1  # the balance did reach 2 before the void
    assert funnel.loc[SID, "rewards_earned"] == 0  # but the points kept are 1


def test_refusals_and_velocity(r: redis.Redis) -> None:
    add(r, MONDAY, t="scan", c=card(1), v=1, p=1)
    for minute in (5, 10, 15, 20):
        add(r, MONDAY + pd.Timedelta(minutes=minute), t="refused", c=card(1), r="cooldown")
    for n in range(2, 6):
        add(r, MONDAY + DAY + pd.Timedelta(minutes=n), t="scan", c=card(n), v=1, p=1)
    df = load(r)
    refused = ua.refusals(df, k=1).loc[(SID, "cooldown")]
    assert (refused["refused"], refused["cards"]) == (4, 1)
    assert refused["share_of_attempts"] == pytest.approx(4 / 9)
    outliers = ua.velocity_outliers(df, threshold=4, k=1).loc[SID]
    assert outliers[["cards", "flagged_cards", "flagged_windows"]].tolist() == [5, 1, 1]
    masked = ua.velocity_outliers(df, threshold=4, k=5).loc[SID]
    assert (
        masked["cards"] == 5
        and pd.isna(masked["flagged_cards"])
        and pd.isna(masked["flagged_share"])
    )
    dist = ua.velocity_distribution(df, bins=(1, 2, 5), k=1)
    assert dist["windows"].to_dict() == {"1": 4, "2–4": 0, "5+": 1}
    weekly = ua.refusals_over_time(df, freq="W", k=1)
    assert weekly.loc[MONDAY.floor("D"), "cooldown"] == 4


@pytest.fixture
def k1() -> object:
    """The default k set to 1 for one test (plots check tables at the default k)."""
    ua.set_default_k(1)
    yield
    ua.set_default_k(ua.DEFAULT_K)


def test_plots_draw_guarded_tables_only(r: redis.Redis, k1: object) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    visits(r, COHORTS)
    df = load(r)
    ua.plots.cohorts(ua.cohort_retention(df, k=1))
    ua.plots.scans_over_time(ua.scans_over_time(df, k=1))
    ua.plots.hour_weekday(ua.hour_weekday(df, k=1))
    ua.plots.bars(ua.visit_frequency(df, k=1), "cards")
    ua.plots.lines(ua.retention_curve(df, k=1), percent=True)
    with pytest.raises(ua.PrivacyError):
        ua.plots.bars(df.groupby("cid").size().to_frame("visits"), "visits")
    plt.close("all")
