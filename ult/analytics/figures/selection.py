"""Rows of the events DataFrame: by event type, the counted scans, the claim rows; and
distinct cards per group. A card is the pair (``sid``, ``cid``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

CARD = ["sid", "cid"]
APPROVED = ("approved",)


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


def claim_rows(events: pd.DataFrame) -> pd.DataFrame:
    """Rows about claims: ``claim`` events and ``void`` events of a claim (with its id)."""
    if "claim_id" not in events.columns:
        return events.iloc[:0].assign(
            claim_id=pd.Series(dtype="str"), status=pd.Series(dtype="str")
        )
    return of_type(events, "claim", "void").dropna(subset=["claim_id"])


def distinct_cards(df: pd.DataFrame, by: Sequence[str]) -> pd.Series:
    """Distinct cards per group of ``by``."""
    by = list(by)
    subset = list(dict.fromkeys([*by, *CARD]))
    return df.drop_duplicates(subset).groupby(by, observed=True).size()
