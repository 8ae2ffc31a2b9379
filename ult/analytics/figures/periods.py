"""Calendar periods in UTC: ``"h"`` hours, ``"D"`` days, ``"W"`` weeks from Monday,
``"M"`` months."""

from __future__ import annotations

import pandas as pd


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


def periods_between(
    first: pd.Series[pd.Timestamp], later: pd.Series[pd.Timestamp], freq: str = "D"
) -> pd.Series:
    """Whole periods from ``first`` to ``later`` (both period starts)."""
    if freq == "M":
        return (later.dt.year - first.dt.year) * 12 + later.dt.month - first.dt.month
    if freq == "h":
        return (later - first) // pd.Timedelta(hours=1)
    days = (later - first).dt.days
    return days // 7 if freq == "W" else days
