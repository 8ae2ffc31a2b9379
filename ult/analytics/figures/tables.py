"""Small helpers to build the tables: one group for all, aligned counts, buckets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd


def grouping(df: pd.DataFrame, by: str | None) -> tuple[pd.DataFrame, list[str]]:
    """``df`` and the keys to group it by; with ``by=None`` one group named ``all``."""
    if by is None:
        return df.assign(group="all"), ["group"]
    return df, [by]


def aligned(counts: pd.Series, index: pd.Index) -> pd.Series:
    """``counts`` aligned to ``index``, missing groups as 0."""
    return counts.reindex(index).fillna(0).astype("int64")


def bin_labels(bins: Sequence[float], unit: str = "") -> list[str]:
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


def bucket(values: pd.Series, bins: Sequence[float], unit: str = "") -> pd.Series:
    """``values`` as the labelled buckets of ``bins`` (each bin from its number up)."""
    return pd.cut(values, [*bins, math.inf], right=False, labels=bin_labels(bins, unit))
