"""Retention: cohorts of cards by the period of their first visit, and how many of them
come back in each later period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ult.analytics.figures.periods import period_start, periods_between
from ult.analytics.figures.selection import CARD, scans
from ult.analytics.figures.tables import grouping
from ult.analytics.privacy import mark, mask_cells, resolve_k, suppress


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
    frame, keys = grouping(events, by)
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
