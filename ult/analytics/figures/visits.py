"""Customers: visits per card, how often cards come back and the time between visits."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ult.analytics.figures.selection import CARD, distinct_cards, scans
from ult.analytics.figures.tables import aligned, bucket, grouping
from ult.analytics.privacy import suppress

FREQUENCY_BINS = (1, 2, 3, 4, 5, 6, 11, 21)
GAP_BINS_DAYS = (0, 1, 2, 4, 7, 14, 30, 60, 90)


def visits_per_card(events: pd.DataFrame) -> pd.Series:
    """Counted visits of each card (index sid, cid) — for computing, not for display."""
    return scans(events).groupby(CARD, observed=True).size().rename("visits")


def visit_frequency(
    events: pd.DataFrame, bins: Sequence[int] = FREQUENCY_BINS, k: int | None = None
) -> pd.DataFrame:
    """How many cards made 1, 2, 3 … visits (buckets from ``bins``, e.g. ``6–10``, ``21+``),
    and their share of all cards."""
    visits = bucket(visits_per_card(events), bins)
    table = visits.value_counts(sort=False).rename_axis("visits").to_frame("cards")
    table["share"] = table["cards"] / table["cards"].sum()
    return suppress(table, "cards", k=k, drop=False)


def repeat_rate(events: pd.DataFrame, by: str | None = "sid", k: int | None = None) -> pd.DataFrame:
    """Cards, cards with two or more visits, and their share (the repeat rate)."""
    visits, keys = grouping(visits_per_card(events).reset_index(), by)
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
    frame = gaps[CARD].assign(gap=bucket(days, bins_days, " d"))
    table = frame.groupby("gap", observed=False).size().to_frame("returns")
    table["cards"] = aligned(distinct_cards(frame, ["gap"]), table.index)
    table["share"] = table["returns"] / table["returns"].sum()
    return suppress(table, "cards", k=k, drop=False)


def gap_summary(events: pd.DataFrame, by: str | None = "sid", k: int | None = None) -> pd.DataFrame:
    """Days between visits per sponsor: returning cards, return visits, quartiles, p90, mean."""
    gaps = visit_gaps(events)
    gaps, keys = grouping(gaps.assign(days=gaps["gap"].dt.total_seconds() / 86400), by)
    g = gaps.groupby(keys, observed=True)
    table = pd.DataFrame({"cards": distinct_cards(gaps, keys), "returns": g.size()})
    for name, q in (("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p90", 0.9)):
        table[f"{name}_days"] = g["days"].quantile(q)
    table["mean_days"] = g["days"].mean()
    return suppress(table, "cards", k=k)
