"""Loyalty metrics over the events DataFrame of :mod:`ult.analytics.loading`.

Every function meant for display returns a table that passed the k-anonymity guard
(:mod:`ult.analytics.privacy`; ``k=None`` means the default k). A card is the pair
(``sid``, ``cid``): one customer's cards at two sponsors are unlinkable by design, so they
count as two cards. Periods are calendar periods in UTC: ``"D"`` days, ``"W"`` weeks from
Monday, ``"M"`` months; the hour × weekday heatmap uses each sponsor's local time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ult.analytics.privacy import mark, mask_cells, resolve_k, suppress
from ult.rules import Rule

CARD = ["sid", "cid"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
FREQUENCY_BINS = (1, 2, 3, 4, 5, 6, 11, 21)
GAP_BINS_DAYS = (0, 1, 2, 4, 7, 14, 30, 60, 90)
VELOCITY_BINS = (1, 2, 3, 4, 6, 10)
APPROVED = ("approved",)


# ---- selections, periods, groups ------------------------------------------------------------


def of_type(events: pd.DataFrame, *types: str) -> pd.DataFrame:
    """The rows of the given event types (``scan``, ``refused``, ``claim`` …)."""
    return events[events["type"].isin(types).to_numpy(dtype=bool)]


def scans(events: pd.DataFrame) -> pd.DataFrame:
    """Counted scans (each one a visit), less the scans the sponsor voided later."""
    counted = of_type(events, "scan")
    if "ref" not in events.columns:
        return counted
    voids = of_type(events, "void").dropna(subset=["ref"])
    if voids.empty:
        return counted
    voided = pd.MultiIndex.from_arrays([voids["sid"].astype("str"), voids["ref"].astype("str")])
    mine = pd.MultiIndex.from_arrays([counted["sid"].astype("str"), counted["entry_id"]])
    return counted[~mine.isin(voided)]


def period_start(time: pd.Series, freq: str = "D") -> pd.Series:
    """The start (UTC) of the day (``D``), Monday-week (``W``), month (``M``) or hour (``h``)."""
    if freq == "h":
        return time.dt.floor("h")
    day = time.dt.floor("D")
    if freq == "D":
        return day
    if freq == "W":
        return day - pd.to_timedelta(time.dt.day_of_week, unit="D")
    if freq == "M":
        return day - pd.to_timedelta(time.dt.day - 1, unit="D")
    raise ValueError("freq must be 'h', 'D', 'W' or 'M'")


def periods_between(first: pd.Series, later: pd.Series, freq: str = "D") -> pd.Series:
    """Whole periods from ``first`` to ``later`` (both period starts)."""
    if freq == "M":
        return (later.dt.year - first.dt.year) * 12 + later.dt.month - first.dt.month
    if freq == "h":
        return (later - first) // pd.Timedelta(hours=1)
    days = (later - first).dt.days
    return days // 7 if freq == "W" else days


def distinct_cards(df: pd.DataFrame, by: Sequence[str]) -> pd.Series:
    """Distinct cards per group of ``by``."""
    by = list(by)
    subset = list(dict.fromkeys([*by, *CARD]))
    return df.drop_duplicates(subset).groupby(by, observed=True).size()


def _grouping(df: pd.DataFrame, by: str | None) -> tuple[pd.DataFrame, list[str]]:
    """``df`` and the keys to group it by; with ``by=None`` one group named ``all``."""
    if by is None:
        return df.assign(group="all"), ["group"]
    return df, [by]


def _col(counts: pd.Series, index: pd.Index) -> pd.Series:
    """``counts`` aligned to ``index``, missing groups as 0."""
    return counts.reindex(index).fillna(0).astype("int64")


def _bin_labels(bins: Sequence[float], unit: str = "") -> list[str]:
    """``(1, 2, 6)`` → ``["1", "2–5", "6+"]`` (whole numbers), or ranges with a unit."""
    labels = []
    for low, high in zip(bins, [*bins[1:], None], strict=True):
        if high is None:
            labels.append(f"{low:g}+{unit}")
        elif not unit and high - low == 1:
            labels.append(f"{low:g}")
        else:
            labels.append(f"{low:g}–{high - (0 if unit else 1):g}{unit}")
    return labels


def _bucket(values: pd.Series, bins: Sequence[float], unit: str = "") -> pd.Series:
    return pd.cut(values, [*bins, math.inf], right=False, labels=_bin_labels(bins, unit))


# ---- streams and time -----------------------------------------------------------------------


def event_counts(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Entries, distinct cards and the days of the first and last entry, per sponsor and
    event type."""
    g = events.groupby(["sid", "type"], observed=True)
    table = pd.DataFrame({"entries": g.size()})
    with_card = events.dropna(subset=["cid"])
    table["cards"] = _col(distinct_cards(with_card, ["sid", "type"]), table.index)
    table["first_day"] = g["time"].min().dt.floor("D")  # days: no one customer's exact time
    table["last_day"] = g["time"].max().dt.floor("D")
    return suppress(table, "cards", k=k)


def overview(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Per sponsor: first and last day of the stream, scans, cards, repeat cards and the
    repeat rate."""
    g = events.groupby("sid", observed=True)
    visits = visits_per_card(events)
    table = pd.DataFrame(
        {"first_day": g["time"].min().dt.floor("D"), "last_day": g["time"].max().dt.floor("D")}
    )
    table["scans"] = _col(scans(events).groupby("sid", observed=True).size(), table.index)
    table["cards"] = _col(visits.groupby(level="sid", observed=True).size(), table.index)
    repeat = (visits >= 2).groupby(level="sid", observed=True).sum()
    table["repeat_cards"] = _col(repeat, table.index)
    table["repeat_rate"] = table["repeat_cards"] / table["cards"]
    derived = {"repeat_rate": ["repeat_cards"]}
    return suppress(table, "cards", ["repeat_cards"], k=k, derived=derived)


def scans_over_time(
    events: pd.DataFrame, freq: str = "D", by: str | None = None, k: int | None = None
) -> pd.DataFrame:
    """Scans, distinct cards, new cards (first visit ever) and returning cards per period.

    Periods with fewer than k cards are kept with their values masked (gaps in a plot).
    """
    s = scans(events)
    period = period_start(s["time"], freq)
    first = period_start(s.groupby(CARD, observed=True)["time"].transform("min"), freq)
    frame = s[CARD].assign(period=period, new=period == first)
    keys = ["period", *([by] if by else [])]
    table = pd.DataFrame({"scans": frame.groupby(keys, observed=True).size()})
    table["cards"] = distinct_cards(frame, keys)
    table["new_cards"] = _col(distinct_cards(frame[frame["new"]], keys), table.index)
    table["returning_cards"] = table["cards"] - table["new_cards"]
    cells = ["new_cards", "returning_cards"]
    return suppress(table, "cards", cells, k=k, drop=False)


def hour_weekday(
    events: pd.DataFrame,
    utc_offset_min: int | Mapping[str, int] | pd.Series = 0,
    k: int | None = None,
) -> pd.DataFrame:
    """Scans per local weekday (rows, Mon…Sun) and hour (columns 0–23).

    ``utc_offset_min`` is one offset or one per sid (e.g. ``sponsors.set_index("sid")
    ["utc_offset_min"]`` from :func:`load_sponsors`). Cells with fewer than k cards are masked.
    """
    s = scans(events)
    local = s["time"] + pd.to_timedelta(_offsets(s, utc_offset_min), unit="m")
    frame = s[CARD].assign(weekday=local.dt.day_of_week, hour=local.dt.hour)
    grid = {"index": range(7), "columns": range(24)}
    counts = frame.groupby(["weekday", "hour"]).size().unstack().reindex(**grid).fillna(0)
    cards = distinct_cards(frame, ["weekday", "hour"]).unstack().reindex(**grid).fillna(0)
    table = mask_cells(counts.astype("int64"), cards, k=k)
    table.index = pd.Index(WEEKDAYS, name="weekday")
    table.columns = pd.Index(range(24), name="hour")
    return table


def _offsets(df: pd.DataFrame, offset: int | Mapping[str, int] | pd.Series) -> np.ndarray:
    if isinstance(offset, int | np.integer):
        return np.full(len(df), int(offset))
    mapping = dict(offset.items()) if isinstance(offset, pd.Series) else dict(offset)
    return df["sid"].astype("str").map(mapping).fillna(0).to_numpy(dtype="int64")


def tag_counts(events: pd.DataFrame, by: str | None = None, k: int | None = None) -> pd.DataFrame:
    """Scans and distinct cards per location tag (``at``: ``table-1``, ``till`` …; untagged
    scans as ``(none)``), with each tag's share of scans."""
    s = scans(events)
    frame = s[CARD].assign(tag=s["tag"].astype("str").fillna("(none)"))
    keys = [*([by] if by else []), "tag"]
    table = pd.DataFrame({"scans": frame.groupby(keys, observed=True).size()})
    table["cards"] = distinct_cards(frame, keys)
    table["share"] = table["scans"] / table["scans"].sum()
    table = table.sort_values("scans", ascending=False)
    return suppress(table, "cards", k=k)


# ---- customers and retention ----------------------------------------------------------------


def visits_per_card(events: pd.DataFrame) -> pd.Series:
    """Counted visits of each card (index sid, cid) — for computing, not for display."""
    return scans(events).groupby(CARD, observed=True).size().rename("visits")


def visit_frequency(
    events: pd.DataFrame, bins: Sequence[int] = FREQUENCY_BINS, k: int | None = None
) -> pd.DataFrame:
    """How many cards made 1, 2, 3 … visits (buckets from ``bins``, e.g. ``6–10``, ``21+``),
    and their share of all cards."""
    visits = _bucket(visits_per_card(events), bins)
    table = visits.value_counts(sort=False).rename_axis("visits").to_frame("cards")
    table["share"] = table["cards"] / table["cards"].sum()
    return suppress(table, "cards", k=k, drop=False)


def repeat_rate(events: pd.DataFrame, by: str | None = "sid", k: int | None = None) -> pd.DataFrame:
    """Cards, cards with two or more visits, and their share (the repeat rate)."""
    visits, keys = _grouping(visits_per_card(events).reset_index(), by)
    g = visits.assign(repeat=visits["visits"] >= 2).groupby(keys, observed=True)
    table = pd.DataFrame({"cards": g.size(), "repeat_cards": g["repeat"].sum()})
    table["repeat_rate"] = table["repeat_cards"] / table["cards"]
    derived = {"repeat_rate": ["repeat_cards"]}
    return suppress(table, "cards", ["repeat_cards"], k=k, derived=derived)


def visit_gaps(events: pd.DataFrame) -> pd.DataFrame:
    """One row per return visit: the card and the time since its previous counted visit
    (for computing, not for display)."""
    s = scans(events)[[*CARD, "time"]].sort_values([*CARD, "time"], kind="stable")
    gap = s.groupby(CARD, observed=True)["time"].diff()
    return s.assign(gap=gap).dropna(subset=["gap"])[[*CARD, "gap"]]


def gap_distribution(
    events: pd.DataFrame, bins_days: Sequence[float] = GAP_BINS_DAYS, k: int | None = None
) -> pd.DataFrame:
    """Time between visits: return visits and distinct cards per bucket of days."""
    gaps = visit_gaps(events)
    days = gaps["gap"].dt.total_seconds() / 86400
    frame = gaps[CARD].assign(gap=_bucket(days, bins_days, " d"))
    table = frame.groupby("gap", observed=False).size().to_frame("returns")
    table["cards"] = _col(distinct_cards(frame, ["gap"]), table.index)
    table["share"] = table["returns"] / table["returns"].sum()
    return suppress(table, "cards", k=k, drop=False)


def gap_summary(events: pd.DataFrame, by: str | None = "sid", k: int | None = None) -> pd.DataFrame:
    """Days between visits per sponsor: returning cards, return visits, quartiles, p90, mean."""
    gaps = visit_gaps(events)
    gaps, keys = _grouping(gaps.assign(days=gaps["gap"].dt.total_seconds() / 86400), by)
    g = gaps.groupby(keys, observed=True)
    table = pd.DataFrame({"cards": distinct_cards(gaps, keys), "returns": g.size()})
    for name, q in (("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p90", 0.9)):
        table[f"{name}_days"] = g["days"].quantile(q)
    table["mean_days"] = g["days"].mean()
    return suppress(table, "cards", k=k)


def cohort_counts(events: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Active cards per cohort (period of first visit, rows) and periods since (columns) —
    unguarded, for computing. Cells after the last period in the data are missing (not yet
    observable), not zero."""
    s = scans(events)
    period = period_start(s["time"], freq)
    first = period_start(s.groupby(CARD, observed=True)["time"].transform("min"), freq)
    frame = s[CARD].assign(cohort=first, offset=periods_between(first, period, freq))
    frame = frame.drop_duplicates([*CARD, "offset"])
    counts = frame.groupby(["cohort", "offset"]).size().unstack(fill_value=0)
    if counts.empty:
        return counts
    counts = counts.reindex(columns=range(int(counts.columns.max()) + 1), fill_value=0)
    horizon = periods_between(
        pd.Series(counts.index), pd.Series([period.max()] * len(counts)), freq
    ).to_numpy()
    observable = np.arange(counts.shape[1])[None, :] <= horizon[:, None]
    counts = counts.astype("Int64").where(observable)
    counts.columns.name = "periods since first visit"
    return counts


def cohort_retention(
    events: pd.DataFrame, freq: str = "W", k: int | None = None, counts: bool = False
) -> pd.DataFrame:
    """The cohort retention matrix: the share of each cohort's cards that visited 0, 1, 2 …
    periods after their first visit (period 0 is always 1.0).

    Rows are indexed by (cohort start, cards in cohort). Cohorts of fewer than k cards are
    dropped and cells of fewer than k active cards masked. ``counts=True`` gives the guarded
    card counts instead of shares.
    """
    return guard_cohorts(cohort_counts(events, freq), k, counts)


def guard_cohorts(active: pd.DataFrame, k: int | None = None, counts: bool = False) -> pd.DataFrame:
    """The guarded retention matrix of :func:`cohort_retention` from a matrix of active cards
    like :func:`cohort_counts` (computed in pandas or, over the lake, in DuckDB)."""
    k = resolve_k(k)
    if active.empty:
        return suppress(pd.DataFrame({"cards": pd.Series(dtype="int64")}), "cards", k=k)
    size = active[0].astype("int64")
    small = ((size > 0) & (size < k)).to_numpy()
    active, size = active[~small], size[~small]
    guarded = mask_cells(active, active.fillna(0), k=k)
    out = guarded if counts else guarded.div(size.to_numpy(), axis=0)
    out.index = pd.MultiIndex.from_arrays(
        [active.index, size.to_numpy()], names=["cohort", "cards"]
    )
    return mark(out, k, rows=int(small.sum()), cells=guarded.attrs["suppressed_cells"])


def retention_curve(
    events: pd.DataFrame, freq: str = "W", by: str | None = "sid", k: int | None = None
) -> pd.DataFrame:
    """The share of cards active 0, 1, 2 … periods after their first visit (rows), per
    sponsor (columns; one ``all`` column with ``by=None``): all cohorts pooled, each period
    over the cohorts old enough to have reached it. Cells of fewer than k cards are masked."""
    frame, keys = _grouping(events, by)
    shares, cards = {}, {}
    for name, group in frame.groupby(keys[0], observed=True):
        active = cohort_counts(group, freq)
        if active.empty:
            continue
        size = active[0].astype("int64").to_numpy()
        reached = active.notna().to_numpy()
        cards[name] = active.sum(axis=0, skipna=True).astype("int64")
        shares[name] = cards[name] / (reached * size[:, None]).sum(axis=0)
    table = pd.DataFrame(shares).rename_axis(index="periods since first visit", columns=by)
    return mask_cells(table, pd.DataFrame(cards).reindex_like(table).fillna(0), k=k)


# ---- rewards and claims ---------------------------------------------------------------------


def points_needed_by_sid(events: pd.DataFrame) -> dict[str, int]:
    """Each sponsor's ``points_needed`` from its latest ``rule`` event (default if none)."""
    needed = {str(sid): Rule().points_needed for sid in events["sid"].dropna().unique()}
    if "rule" not in events.columns:
        return needed
    for row in of_type(events, "rule").itertuples():
        try:
            needed[str(row.sid)] = int(json.loads(row.rule)["points_needed"])
        except (TypeError, ValueError, KeyError):
            continue
    return needed


def _needed(events: pd.DataFrame, points_needed: int | Mapping[str, int] | None) -> dict:
    if points_needed is None:
        return points_needed_by_sid(events)
    if isinstance(points_needed, int):
        return {str(s): points_needed for s in events["sid"].dropna().unique()}
    return dict(points_needed)


def _claims(events: pd.DataFrame) -> pd.DataFrame:
    """Rows about claims: ``claim`` events and ``void`` events of a claim (with its id)."""
    if "claim_id" not in events.columns:
        return events.iloc[:0].assign(
            claim_id=pd.Series(dtype="str"), status=pd.Series(dtype="str")
        )
    return of_type(events, "claim", "void").dropna(subset=["claim_id"])


def _earning(events: pd.DataFrame) -> pd.Series:
    """True for rows that earn or lose points outside claims: scans, expiries, voided scans."""
    kinds = events["type"].isin(["scan", "expired", "void"]).to_numpy(dtype=bool)
    not_claim = events["claim_id"].isna().to_numpy() if "claim_id" in events else True
    return pd.Series(kinds & not_claim, index=events.index)


def card_points(
    events: pd.DataFrame, points_needed: int | Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Per card (index sid, cid), for computing: ``earned_points`` (scans less voided and
    expired points), ``rewards_earned`` (whole rewards' worth of them), ``reached`` (the
    balance — claims deducted, refunds added — was ever at ``points_needed`` or more).

    ``points_needed``: one number, one per sid, or None for each sponsor's latest rule.
    """
    needed = _needed(events, points_needed)
    rows = events.dropna(subset=["cid", "points"])
    card = [rows["sid"], rows["cid"]]
    points = rows["points"].astype("int64")
    threshold = rows["sid"].astype("str").map(needed).fillna(Rule().points_needed)
    balance = points.groupby(card, observed=True).cumsum()
    earned = points.where(_earning(rows), 0).groupby(card, observed=True).sum()
    table = pd.DataFrame(
        {
            "earned_points": earned,
            "reached": (balance >= threshold).groupby(card, observed=True).any(),
        }
    )
    sids = table.index.get_level_values("sid").astype("str")
    per_card = sids.map(needed).fillna(Rule().points_needed).to_numpy()
    table["rewards_earned"] = (table["earned_points"].clip(lower=0) // per_card).astype("int64")
    return table


def earned_cards(
    events: pd.DataFrame, points_needed: int | Mapping[str, int] | None = None
) -> pd.MultiIndex:
    """The cards (sid, cid) whose balance ever reached the sponsor's ``points_needed``."""
    table = card_points(events, points_needed)
    return table.index[table["reached"].to_numpy(dtype=bool)]


def reward_funnel(
    events: pd.DataFrame,
    points_needed: int | Mapping[str, int] | None = None,
    k: int | None = None,
) -> pd.DataFrame:
    """Per sponsor: cards → cards that earned a reward → rewards earned → claims → approved.

    ``earn_rate`` = cards whose balance reached ``points_needed`` / cards with a scan;
    ``rewards_earned`` = whole rewards' worth of points earned (a loyal card earns several);
    ``redemption_rate`` = rewards given / rewards earned, where a reward is *given* when its
    claim's last status is approved (``given_claims``). A voided or rejected claim gives its
    points back and they may be claimed again, so counting every approval would count those
    points twice. A card cannot spend more than it earned, so the rate is within [0, 1] while
    ``points_needed`` stays the same; after a rule change it is capped at 1.
    Claims are counted per claim id and status reached (``approved_claims``,
    ``rejected_claims``, ``void_claims`` …) and ``given_claims``; the claim columns are left
    out when the streams hold no ``claim`` events.
    """
    visits = visits_per_card(events)
    table = pd.DataFrame({"cards": visits.groupby(level="sid", observed=True).size()})
    points = card_points(events, points_needed)
    per_sid = points.groupby(level="sid", observed=True)
    table["earned"] = _col(per_sid["reached"].sum(), table.index)
    table["earn_rate"] = table["earned"] / table["cards"]
    table["rewards_earned"] = _col(per_sid["rewards_earned"].sum(), table.index)
    derived = {"earn_rate": ["earned"], "rewards_earned": ["earned"]}
    claim_cols = _claim_funnel(events, table.index)
    if claim_cols is not None:
        table = table.join(claim_cols)
        for col in claim_cols.columns:
            if col == "claims" or col.endswith("_claims"):
                stage = "claim" if col == "claims" else col.removesuffix("_claims")
                derived[col] = [f"{stage}_cards"]
        ok = table["rewards_earned"] > 0
        given = table["given_claims"] / table["rewards_earned"].where(ok)
        table["redemption_rate"] = given.clip(upper=1.0)
        derived["redemption_rate"] = ["earned", "given_cards"]
    card_cols = [c for c in table.columns if c.endswith("_cards")]
    out = suppress(table, "cards", ["earned", *card_cols], k=k, derived=derived)
    return out.drop(columns=card_cols)


def _claim_funnel(events: pd.DataFrame, index: pd.Index) -> pd.DataFrame | None:
    """Claims per sponsor, and claims that reached each status, each with distinct cards."""
    claims = _claims(events)
    if claims.empty:
        return None
    status = claims["status"].astype("str").replace({s: "approved" for s in APPROVED})
    stages = {"claim": claims}
    for name in sorted(set(status.dropna()) - {"requested"}):
        stages[name] = claims[(status == name).to_numpy(dtype=bool)]
    stages.setdefault("approved", claims.iloc[:0])
    stages["given"] = _given(claims)
    cols = {}
    for name, rows in stages.items():
        g = rows.groupby("sid", observed=True)
        cols["claims" if name == "claim" else f"{name}_claims"] = g["claim_id"].nunique()
        cols[f"{name}_cards"] = g["cid"].nunique()
    return pd.DataFrame(cols).reindex(index).fillna(0).astype("int64")


def _given(claims: pd.DataFrame) -> pd.DataFrame:
    """The last event of each claim whose last status is approved (a reward given)."""
    ordered = claims.sort_values("time", kind="stable")
    last = ordered.drop_duplicates(["sid", "claim_id"], keep="last")
    # a voucher used at the counter was given too
    return last[last["status"].astype("str").isin(["approved", "redeemed"]).to_numpy(dtype=bool)]


def claim_status(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Claims per sponsor by their latest status (requested, approved, rejected, void)."""
    claims = _claims(events).sort_values("time", kind="stable")
    latest = claims.drop_duplicates(["sid", "claim_id"], keep="last")
    keys = ["sid", "status"]
    table = pd.DataFrame({"claims": latest.groupby(keys, observed=True).size()})
    table["cards"] = _col(distinct_cards(latest, keys), table.index)
    return suppress(table, "cards", k=k)


def redemption(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Per sponsor: vouchers approved, and how many of them were redeemed at the counter
    (``redeemed_share``: redeemed / approved); suppressed under k cards."""
    claims = _claims(events)
    status = claims["status"].astype("str")
    approved = claims[status.isin(APPROVED).to_numpy(dtype=bool)]
    redeemed = claims[(status == "redeemed").to_numpy(dtype=bool)]
    table = pd.DataFrame(
        {
            "approved": approved.groupby("sid", observed=True)["claim_id"].nunique(),
            "redeemed": redeemed.groupby("sid", observed=True)["claim_id"].nunique(),
        }
    )
    table = table.fillna(0).astype("int64")
    table["redeemed_share"] = table["redeemed"] / table["approved"].where(table["approved"] > 0)
    table["cards"] = _col(distinct_cards(approved, ["sid"]), table.index)
    table["redeemed_cards"] = _col(distinct_cards(redeemed, ["sid"]), table.index)
    derived = {"redeemed": ["redeemed_cards"], "redeemed_share": ["redeemed_cards"]}
    return suppress(table, "cards", ["redeemed_cards"], k=k, derived=derived)


def staff_activity(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Decisions per sponsor, staff key name (``by``: ``owner`` or the key's name) and the
    status they set (approved, rejected, redeemed, void); suppressed under k cards."""
    claims = _claims(events)
    if "by" not in claims.columns:
        claims = claims.assign(by=pd.Series(dtype="str"))
    decided = claims.dropna(subset=["by"])
    decided = decided[(decided["status"].astype("str") != "requested").to_numpy(dtype=bool)]
    keys = ["sid", "by", "status"]
    table = pd.DataFrame({"decisions": decided.groupby(keys, observed=True).size()})
    table["cards"] = _col(distinct_cards(decided, keys), table.index)
    return suppress(table, "cards", k=k)


# ---- refusals and velocity ------------------------------------------------------------------


def refusals(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Refused scans per sponsor and reason, with distinct cards and the share of attempts."""
    refused = of_type(events, "refused")
    keys = ["sid", "reason"]
    table = pd.DataFrame({"refused": refused.groupby(keys, observed=True).size()})
    table["cards"] = _col(distinct_cards(refused, keys), table.index)
    attempts = of_type(events, "scan", "refused").groupby("sid", observed=True).size()
    per_sid = attempts.reindex(table.index.get_level_values("sid")).to_numpy()
    table["share_of_attempts"] = table["refused"] / per_sid
    return suppress(table, "cards", k=k)


def refusals_over_time(events: pd.DataFrame, freq: str = "W", k: int | None = None) -> pd.DataFrame:
    """Refused scans per period (rows) and reason (columns), masked under k cards."""
    refused = of_type(events, "refused")
    frame = refused[CARD].assign(
        period=period_start(refused["time"], freq), reason=refused["reason"].astype("str")
    )
    counts = frame.groupby(["period", "reason"]).size().unstack(fill_value=0)
    cards = distinct_cards(frame, ["period", "reason"]).unstack(fill_value=0)
    return mask_cells(counts, cards, k=k)


def attempts_per_window(events: pd.DataFrame, window: str = "h") -> pd.Series:
    """Scan attempts (counted or refused) per card and time window (for computing)."""
    tries = of_type(events, "scan", "refused")
    start = tries["time"].dt.floor(window).rename("window")
    return tries.groupby([tries["sid"], tries["cid"], start], observed=True).size()


def velocity_distribution(
    events: pd.DataFrame,
    window: str = "h",
    bins: Sequence[int] = VELOCITY_BINS,
    k: int | None = None,
) -> pd.DataFrame:
    """How often a card tried 1, 2, 3 … scans within one ``window`` (default an hour):
    card-windows and distinct cards per bucket. A heavy tail points at shared or abused cards."""
    per = attempts_per_window(events, window).rename("attempts").reset_index()
    per["attempts"] = _bucket(per["attempts"], bins)
    table = per.groupby("attempts", observed=False).size().to_frame("windows")
    table["cards"] = _col(distinct_cards(per, ["attempts"]), table.index)
    return suppress(table, "cards", k=k, drop=False)


def velocity_outliers(
    events: pd.DataFrame, window: str = "h", threshold: int = 4, k: int | None = None
) -> pd.DataFrame:
    """Per sponsor: cards, cards that made ``threshold`` or more scan attempts within one
    ``window`` (flagged), the number of such windows, and the flagged share. Individual cards
    are never listed here (that is for the sponsor's own dashboard)."""
    per = attempts_per_window(events, window)
    table = pd.DataFrame(
        {"cards": per.reset_index().groupby("sid", observed=True)["cid"].nunique()}
    )
    flagged = per[per >= threshold].reset_index().groupby("sid", observed=True)
    table["flagged_cards"] = _col(flagged["cid"].nunique(), table.index)
    table["flagged_windows"] = _col(flagged.size(), table.index)
    table["flagged_share"] = table["flagged_cards"] / table["cards"]
    derived = {"flagged_windows": ["flagged_cards"], "flagged_share": ["flagged_cards"]}
    return suppress(table, "cards", ["flagged_cards"], k=k, derived=derived)


# ---- promotions -----------------------------------------------------------------------------

LIFT_COLUMNS = [
    "promotion",
    "multiplier",
    "hours_during",
    "scans_during",
    "cards_during",
    "new_cards_during",
    "scans_per_hour_during",
    "scans_per_hour_outside",
    "scan_lift",
    "new_cards_per_hour_during",
    "new_cards_per_hour_outside",
    "new_card_lift",
    "cards_outside",
]


def promotion_names(events: pd.DataFrame) -> pd.DataFrame:
    """Every promotion added (``promo`` events): ``sid``, ``promo_id``, ``promotion`` (its
    name), ``multiplier`` — what the sponsor set, no customer data."""
    added = of_type(events, "promo")
    rows = []
    if "promo" in added.columns:
        for sid, status, text in zip(added["sid"], added["status"], added["promo"], strict=True):
            if str(status) == "add" and isinstance(text, str):
                p = json.loads(text)
                rows.append((str(sid), p["id"], p["name"], float(p["multiplier"])))
    table = pd.DataFrame(rows, columns=["sid", "promo_id", "promotion", "multiplier"])
    return table.drop_duplicates(["sid", "promo_id"], keep="last")


def promotion_lift(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """The lift of each promotion: counted scans and new cards per open hour while it ran,
    against the sponsor's open hours outside every promotion (``scan_lift`` 2.0: twice the
    scans per hour).

    "Open hours" are the UTC hours in which the sponsor had at least one counted scan; an hour
    counts as *during* a promotion when a scan in it was multiplied by it (the scan entry names
    the promotion that applied, the largest when several ran). A promotion seen by fewer than
    k cards is dropped; card counts under k outside it are masked with the rates made of them.
    """
    counted = scans(events)
    names = promotion_names(events).set_index(["sid", "promo_id"])
    rows = []
    if "promo_id" in counted.columns and not counted.empty:
        frame = pd.DataFrame(
            {
                "sid": counted["sid"].astype("str").to_numpy(),
                "cid": counted["cid"].astype("str").to_numpy(),
                "hour": counted["time"].dt.floor("h").to_numpy(),
                "promo": counted["promo_id"].astype("string").fillna("").to_numpy(),
                "new": ~counted.sort_values("time").duplicated(CARD).reindex(counted.index),
            }
        )
        for sid, sponsor in frame.groupby("sid", sort=True):
            promo_hours = set(sponsor.loc[sponsor["promo"] != "", "hour"])
            outside = sponsor[(sponsor["promo"] == "") & ~sponsor["hour"].isin(promo_hours)]
            hours_out = outside["hour"].nunique()
            for pid, during in sponsor[sponsor["promo"] != ""].groupby("promo", sort=True):
                name, mult = names.loc[(sid, pid)] if (sid, pid) in names.index else (pid, np.nan)
                hours_in = during["hour"].nunique()
                rows.append(
                    {
                        "sid": sid,
                        "promo_id": pid,
                        "promotion": name,
                        "multiplier": mult,
                        "hours_during": hours_in,
                        "scans_during": len(during),
                        "cards_during": during["cid"].nunique(),
                        "new_cards_during": int(during["new"].sum()),
                        "scans_per_hour_during": len(during) / hours_in,
                        "scans_per_hour_outside": len(outside) / hours_out if hours_out else np.nan,
                        "new_cards_per_hour_during": during["new"].sum() / hours_in,
                        "new_cards_per_hour_outside": (
                            outside["new"].sum() / hours_out if hours_out else np.nan
                        ),
                        "cards_outside": outside["cid"].nunique(),
                    }
                )
    table = pd.DataFrame(rows, columns=["sid", "promo_id", *LIFT_COLUMNS])
    table["scan_lift"] = table["scans_per_hour_during"] / table["scans_per_hour_outside"]
    table["new_card_lift"] = (
        table["new_cards_per_hour_during"] / table["new_cards_per_hour_outside"]
    )
    table = table.set_index(["sid", "promo_id"])[LIFT_COLUMNS]
    return suppress(
        table,
        "cards_during",
        cell_cols=["cards_outside", "new_cards_during"],
        k=k,
        derived={
            "scans_per_hour_outside": ["cards_outside"],
            "scan_lift": ["cards_outside"],
            "new_cards_per_hour_during": ["new_cards_during"],
            "new_cards_per_hour_outside": ["cards_outside"],
            "new_card_lift": ["new_cards_during", "cards_outside"],
        },
    )
