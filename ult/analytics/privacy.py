"""The k-anonymity guard: no displayed table singles out a customer.

Every table meant for display counts *cards* per group. A group with fewer than ``k`` cards
(but more than none) is suppressed: a row whose group is too small is dropped, a cell whose
count is too small is masked (``<NA>``). Tables that passed the guard carry
``table.attrs["k_anonymity"] = k``; :func:`check` refuses any other table, so a notebook can
end each cell with ``ua.show(table)`` and never display raw rows by accident.

Groups of zero cards (e.g. ``rule`` events, which no customer made) are not suppressed.
Differences between published totals are not protected against; keep totals and their parts
in the same guarded table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TypeVar

import pandas as pd

DEFAULT_K = 5
ATTR = "k_anonymity"
_default_k: int | None = None  # None: ULT_K_ANONYMITY (settings), read on first use
Counts = TypeVar("Counts", pd.Series, pd.DataFrame)  # card counts: a column or a matrix


class PrivacyError(ValueError):
    """A table that has not passed the k-anonymity guard was about to be shown."""


def default_k() -> int:
    """The k used when a function is called with ``k=None``: ``ULT_K_ANONYMITY`` (default 5)
    unless this process changed it with :func:`set_default_k`."""
    global _default_k
    if _default_k is None:
        from ult.settings import load_settings

        _default_k = _valid_k(load_settings().k_anonymity)
    return _default_k


def set_default_k(k: int) -> int:
    """Change the default k for this process (e.g. a notebook's first cell); returns it."""
    global _default_k
    _default_k = _valid_k(k)
    return _default_k


def resolve_k(k: int | None) -> int:
    """``k`` checked, or the default when None."""
    return default_k() if k is None else _valid_k(k)


def _valid_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError("k must be a whole number >= 1")
    return k


def too_small(counts: Counts, k: int) -> Counts:
    """True where a count of cards is above zero but below ``k``."""
    numeric = counts.astype("Float64")
    return (numeric > 0) & (numeric < k)


def suppress(
    table: pd.DataFrame,
    group_col: str = "cards",
    cell_cols: Iterable[str] = (),
    k: int | None = None,
    derived: Mapping[str, Iterable[str]] | None = None,
    drop: bool = True,
) -> pd.DataFrame:
    """Guard a table with one row per group.

    A row whose ``group_col`` (distinct cards in the group) is below k is dropped, or with
    ``drop=False`` kept with every value masked (a gap in a time series or histogram). Each
    of ``cell_cols`` (card counts of sub-groups) is masked where below k. ``derived`` maps a
    column computed from card counts (a rate, a count of claims…) to the card-count columns
    it must be hidden with.
    """
    k = resolve_k(k)
    small = too_small(table[group_col], k).fillna(False).to_numpy(dtype=bool)
    out = table.loc[~small].copy() if drop else table.copy()
    if not drop:
        for col in out.columns:
            out[col] = _nullable(out[col]).mask(small)
    masked = 0
    for col in cell_cols:
        hide = too_small(out[col], k).fillna(False)
        masked += int(hide.sum())
        out[col] = _nullable(out[col]).mask(hide)
    for col, sources in (derived or {}).items():
        hide = pd.concat([out[s].isna() for s in sources], axis=1).any(axis=1)
        out[col] = _nullable(out[col]).mask(hide)
    return mark(out, k, rows=int(small.sum()), cells=masked)


def mask_cells(values: pd.DataFrame, cards: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Guard a matrix (e.g. hour × weekday): mask each value whose cell has < k cards."""
    k = resolve_k(k)
    cards = cards.reindex(index=values.index, columns=values.columns).fillna(0)
    hide = too_small(cards, k).fillna(False)
    out = values.astype("Float64").mask(hide)
    return mark(out, k, rows=0, cells=int(hide.to_numpy().sum()))


def mark(table: pd.DataFrame, k: float, rows: int = 0, cells: int = 0) -> pd.DataFrame:
    """Record that ``table`` passed the guard at ``k`` (and what was suppressed)."""
    table.attrs[ATTR] = k
    table.attrs["suppressed_rows"] = rows
    table.attrs["suppressed_cells"] = cells
    return table


def mark_public(table: pd.DataFrame) -> pd.DataFrame:
    """Mark a table that holds no customer data at all (e.g. the sponsor registry)."""
    return mark(table, math.inf)


def is_guarded(table: pd.DataFrame, k: int | None = None) -> bool:
    """True when ``table`` passed the guard at ``k`` (default k) or a stricter one."""
    return float(table.attrs.get(ATTR, 0)) >= resolve_k(k)


def check(table: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """``table`` unchanged if it passed the guard at ``k``, else :class:`PrivacyError`."""
    if not isinstance(table, pd.DataFrame | pd.Series) or not is_guarded(table, k):
        raise PrivacyError(
            f"This table has not passed the k-anonymity guard (k={resolve_k(k)}); "
            "show the output of an ult.analytics metric instead of raw events."
        )
    return table


def show(table: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """What a notebook cell ends with: :func:`check`, plus a note on what was suppressed."""
    check(table, k)
    rows, cells = table.attrs.get("suppressed_rows", 0), table.attrs.get("suppressed_cells", 0)
    if rows or cells:
        print(f"k={table.attrs[ATTR]}: {rows} row(s) and {cells} cell(s) under k suppressed.")
    return table


def _nullable(col: pd.Series) -> pd.Series:
    """``col`` in a dtype that can hold <NA> (Int64 / Float64; other dtypes unchanged)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("boolean")
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype("Int64")
    if pd.api.types.is_float_dtype(col.dtype):
        return col.astype("Float64")
    return col
