"""Streams and time: entries per event type, the per-sponsor overview, scans per period,
the hour × weekday heatmap (each sponsor's local time) and location tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ult.analytics.figures.periods import period_start
from ult.analytics.figures.selection import CARD, distinct_cards, scans
from ult.analytics.figures.tables import aligned
from ult.analytics.figures.visits import visits_per_card
from ult.analytics.privacy import mask_cells, suppress

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def event_counts(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Entries, distinct cards and the days of the first and last entry, per sponsor and
    event type."""
    g = events.groupby(["sid", "type"], observed=True)
    table = pd.DataFrame({"entries": g.size()})
    with_card = events.dropna(subset=["cid"])
    table["cards"] = aligned(distinct_cards(with_card, ["sid", "type"]), table.index)
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
    table["scans"] = aligned(scans(events).groupby("sid", observed=True).size(), table.index)
    table["cards"] = aligned(visits.groupby(level="sid", observed=True).size(), table.index)
    repeat = (visits >= 2).groupby(level="sid", observed=True).sum()
    table["repeat_cards"] = aligned(repeat, table.index)
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
    table["new_cards"] = aligned(distinct_cards(frame[frame["new"]], keys), table.index)
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
    grid: dict[str, Any] = {"index": range(7), "columns": range(24)}
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
