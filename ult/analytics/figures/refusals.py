"""Refused scans and scan velocity: attempts per card and time window, a heavy tail of
which points at shared or abused cards.

A `refused` entry may stand for several refused scans of its card (its ``count``, see
``ult.schema.REFUSAL_EVERY_MS``): every figure here counts refusals by that weight."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ult.analytics.figures.periods import period_start
from ult.analytics.figures.selection import CARD, distinct_cards, of_type
from ult.analytics.figures.tables import aligned, bucket
from ult.analytics.privacy import mask_cells, suppress

VELOCITY_BINS = (1, 2, 3, 4, 6, 10)


def weights(rows: pd.DataFrame) -> pd.Series:
    """The attempts each row stands for: a `refused` entry's ``count`` (absent: 1), else 1."""
    if "count" not in rows.columns:
        return pd.Series(1, index=rows.index, dtype="int64")
    count = pd.to_numeric(rows["count"], errors="coerce").fillna(1).astype("int64")
    return count.where(rows["type"].astype("str") == "refused", 1)


def weighted_size(rows: pd.DataFrame, keys: Sequence[object]) -> pd.Series:
    """Attempts per group of ``keys`` (columns or aligned Series), by :func:`weights`."""
    return weights(rows).groupby(list(keys), observed=True).sum()


def refusals(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Refused scans per sponsor and reason, with distinct cards and the share of attempts."""
    refused = of_type(events, "refused")
    keys = ["sid", "reason"]
    table = pd.DataFrame({"refused": weighted_size(refused, [refused[k] for k in keys])})
    table["cards"] = aligned(distinct_cards(refused, keys), table.index)
    tries = of_type(events, "scan", "refused")
    attempts = weighted_size(tries, [tries["sid"]])
    per_sid = attempts.reindex(table.index.get_level_values("sid")).to_numpy()
    table["share_of_attempts"] = table["refused"] / per_sid
    return suppress(table, "cards", k=k)


def refusals_over_time(events: pd.DataFrame, freq: str = "W", k: int | None = None) -> pd.DataFrame:
    """Refused scans per period (rows) and reason (columns), masked under k cards."""
    refused = of_type(events, "refused")
    frame = refused[CARD].assign(
        period=period_start(refused["time"], freq), reason=refused["reason"].astype("str")
    )
    counts = (
        weights(refused).groupby([frame["period"], frame["reason"]]).sum().unstack(fill_value=0)
    )
    cards = distinct_cards(frame, ["period", "reason"]).unstack(fill_value=0)
    return mask_cells(counts, cards, k=k)


def attempts_per_window(events: pd.DataFrame, window: str = "h") -> pd.Series:
    """Scan attempts (counted or refused) per card and time window (for computing)."""
    tries = of_type(events, "scan", "refused")
    start = tries["time"].dt.floor(window).rename("window")
    return weighted_size(tries, [tries["sid"], tries["cid"], start])


def velocity_distribution(
    events: pd.DataFrame,
    window: str = "h",
    bins: Sequence[int] = VELOCITY_BINS,
    k: int | None = None,
) -> pd.DataFrame:
    """How often a card tried 1, 2, 3 … scans within one ``window`` (default an hour):
    card-windows and distinct cards per bucket. A heavy tail points at shared or abused cards."""
    per = attempts_per_window(events, window).rename("attempts").reset_index()
    per["attempts"] = bucket(per["attempts"], bins)
    table = per.groupby("attempts", observed=False).size().to_frame("windows")
    table["cards"] = aligned(distinct_cards(per, ["attempts"]), table.index)
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
    table["flagged_cards"] = aligned(flagged["cid"].nunique(), table.index)
    table["flagged_windows"] = aligned(flagged.size(), table.index)
    table["flagged_share"] = table["flagged_cards"] / table["cards"]
    derived = {"flagged_windows": ["flagged_cards"], "flagged_share": ["flagged_cards"]}
    return suppress(table, "cards", ["flagged_cards"], k=k, derived=derived)
