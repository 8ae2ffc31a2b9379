"""Promotions: the promotions sponsors added, and each one's lift in scans and new cards
per open hour."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ult.analytics.figures.selection import CARD, of_type, scans
from ult.analytics.privacy import suppress

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
                # pandas-stubs read a tuple key as (row, column): here it is one MultiIndex row
                name, mult = names.loc[(sid, pid)] if (sid, pid) in names.index else (pid, np.nan)  # type: ignore[index]
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
