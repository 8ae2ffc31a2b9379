"""Matplotlib figures of the guarded metric tables (each checks its table first).

Every function takes the output of one :mod:`ult.analytics.figures` function, draws one
figure on ``ax`` (a new one when None) and returns the Axes. Masked cells (groups under k)
are left blank: a gap in a line, an empty cell in a heatmap.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from matplotlib.ticker import PercentFormatter

from ult.analytics.privacy import check

FIGSIZE = (9, 3.5)
MASKED = "#cfcfcf"  # the colour of suppressed cells


def _axes(ax: Axes | None, figsize: tuple[float, float] = FIGSIZE) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _x(index: pd.Index) -> pd.Index:
    """An index matplotlib can place: tz-aware times as naive UTC."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_convert(None)
    return index


def _floats(table: pd.DataFrame) -> np.ndarray:
    return table.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def scans_over_time(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Stacked new and returning cards per period, with total scans as a line."""
    check(table)
    ax = _axes(ax)
    x = _x(pd.DatetimeIndex(table.index.get_level_values("period")))
    values = _floats(table[["new_cards", "returning_cards", "scans"]])
    # a time span: matplotlib converts it by its units (its stubs accept numbers only)
    width: Any = (x[1] - x[0]) * 0.8 if len(x) > 1 else pd.Timedelta(hours=18)
    ax.bar(x, values[:, 0], width=width, label="new cards", color="#4c72b0")
    ax.bar(
        x, values[:, 1], width=width, bottom=values[:, 0], label="returning cards", color="#dd8452"
    )
    ax.plot(x, values[:, 2], color="black", linewidth=1, label="scans")
    ax.set_ylabel("per period")
    ax.legend(loc="upper left", frameon=False)
    ax.set_title("Scans and cards over time")
    return ax


def heatmap(
    table: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "",
    fmt: str = "{:.0f}",
    cmap: str = "YlOrRd",
    annotate: bool = True,
    vmax: float | None = None,
) -> Axes:
    """Any guarded matrix as a heatmap; masked cells (groups under k) are grey."""
    check(table)
    ax = _axes(ax, (9, max(2.5, 0.35 * len(table) + 1)))
    values = np.ma.masked_invalid(_floats(table))
    colors = plt.get_cmap(cmap).with_extremes(bad=MASKED)
    image = ax.imshow(values, aspect="auto", cmap=colors, vmin=0, vmax=vmax)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [_label(i) for i in table.index])
    ax.set_xlabel(str(table.columns.name or ""))
    ax.set_title(title)
    if annotate and table.size <= 400:
        _annotate(ax, values, image, fmt)
    return ax


def _annotate(ax: Axes, values: np.ma.MaskedArray, image: AxesImage, fmt: str) -> None:
    """Write each value into its cell, dark on light colours and light on dark ones."""
    for (row, col), value in np.ndenumerate(values.filled(np.nan)):
        if np.isnan(value):
            continue
        # one value in, one float out: the stubs answer any array-like for any input
        shade: float = image.norm(value)  # type: ignore[assignment]
        color = "white" if shade > 0.6 else "black"
        ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=7, color=color)


def _label(item: object) -> str:
    if isinstance(item, tuple):
        return " · ".join(_label(x) for x in item)
    if isinstance(item, pd.Timestamp):
        return item.strftime("%Y-%m-%d")
    if isinstance(item, int | np.integer):
        return f"n={item}"
    return str(item)


def hour_weekday(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The busiest hours (columns) by weekday (rows), local time."""
    ax = heatmap(table, ax, "Scans by local weekday and hour (grey: under k cards)", annotate=False)
    ax.set_xlabel("hour of day (local)")
    return ax


def cohorts(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The cohort retention matrix as percentages; the colour scale leaves out period 0
    (always 100 %) so the later periods are told apart."""
    later = _floats(table)[:, 1:]
    top = float(np.nanmax(later)) if later.size and not np.isnan(later).all() else 1.0
    title = "Share of each cohort's cards that came back"
    ax = heatmap(table, ax, title, fmt="{:.0%}", cmap="Blues", vmax=top)
    ax.set_ylabel("cohort (first visit) · cards")
    return ax


def bars(
    table: pd.DataFrame, column: str, ax: Axes | None = None, title: str = "", xlabel: str = ""
) -> Axes:
    """One column of a guarded table as bars, one per row (masked rows blank)."""
    check(table)
    ax = _axes(ax)
    labels = [_label(i) for i in table.index]
    ax.bar(labels, _floats(table[[column]])[:, 0], color="#4c72b0")
    ax.set_ylabel(column.replace("_", " "))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30 if max(map(len, labels), default=0) > 6 else 0)
    return ax


def funnel(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The reward funnel per sponsor: cards, cards that earned, rewards earned, claims,
    approved claims (log scale)."""
    check(table)
    ax = _axes(ax)
    wanted = ("cards", "earned", "rewards_earned", "claims", "approved_claims")
    stages = [c for c in wanted if c in table]
    values = _floats(table[stages])
    x = np.arange(len(table))
    width = 0.8 / len(stages)
    for i, stage in enumerate(stages):
        ax.bar(x + i * width, values[:, i], width, label=stage.replace("_", " "))
    ax.set_xticks(x + width * (len(stages) - 1) / 2, [_label(i) for i in table.index], rotation=20)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 5)  # room for the legend above the bars
    ax.legend(frameon=False, ncols=len(stages), fontsize=8, loc="upper center")
    ax.set_title("Reward funnel per sponsor")
    return ax


def lines(
    table: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "",
    ylabel: str = "",
    percent: bool = False,
) -> Axes:
    """Each column of a guarded table as a line over its index (masked cells: gaps)."""
    check(table)
    ax = _axes(ax)
    x = _x(table.index)
    values = _floats(table)
    for i, col in enumerate(table.columns):
        ax.plot(x, values[:, i], marker="o", markersize=3, label=str(col))
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(str(table.index.name or ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return ax
