"""Claims: their latest status, vouchers redeemed at the counter, and staff decisions."""

from __future__ import annotations

import pandas as pd

from ult.analytics.figures.selection import APPROVED, claim_rows, distinct_cards
from ult.analytics.figures.tables import aligned
from ult.analytics.privacy import suppress


def claim_status(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Claims per sponsor by their latest status (requested, approved, rejected, void)."""
    claims = claim_rows(events).sort_values("time", kind="stable")
    latest = claims.drop_duplicates(["sid", "claim_id"], keep="last")
    keys = ["sid", "status"]
    table = pd.DataFrame({"claims": latest.groupby(keys, observed=True).size()})
    table["cards"] = aligned(distinct_cards(latest, keys), table.index)
    return suppress(table, "cards", k=k)


def redemption(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Per sponsor: vouchers approved, and how many of them were redeemed at the counter
    (``redeemed_share``: redeemed / approved); suppressed under k cards."""
    claims = claim_rows(events)
    status = claims["status"].astype("str")
    approved = claims[status.isin(APPROVED).to_numpy(dtype=bool)]
    redeemed = claims[(status == "redeemed").to_numpy(dtype=bool)]
    table = pd.DataFrame(
        {
            "approved": approved.groupby("sid", observed=True)["claim_id"].nunique(),
            "redeemed": redeemed.groupby("sid", observed=True)["claim_id"].nunique(),
        }
    )
    table = table.fillna(0).astype("int64")
    table["redeemed_share"] = table["redeemed"] / table["approved"].where(table["approved"] > 0)
    table["cards"] = aligned(distinct_cards(approved, ["sid"]), table.index)
    table["redeemed_cards"] = aligned(distinct_cards(redeemed, ["sid"]), table.index)
    derived = {"redeemed": ["redeemed_cards"], "redeemed_share": ["redeemed_cards"]}
    return suppress(table, "cards", ["redeemed_cards"], k=k, derived=derived)


def staff_activity(events: pd.DataFrame, k: int | None = None) -> pd.DataFrame:
    """Decisions per sponsor, staff key name (``by``: ``owner`` or the key's name) and the
    status they set (approved, rejected, redeemed, void); suppressed under k cards."""
    claims = claim_rows(events)
    if "by" not in claims.columns:
        claims = claims.assign(by=pd.Series(dtype="str"))
    decided = claims.dropna(subset=["by"])
    decided = decided[(decided["status"].astype("str") != "requested").to_numpy(dtype=bool)]
    keys = ["sid", "by", "status"]
    table = pd.DataFrame({"decisions": decided.groupby(keys, observed=True).size()})
    table["cards"] = aligned(distinct_cards(decided, keys), table.index)
    return suppress(table, "cards", k=k)
