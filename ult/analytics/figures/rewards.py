"""Rewards: each card's points and the rewards it earned, and the funnel from cards to
rewards given."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

import pandas as pd

from ult.analytics.figures.selection import APPROVED, claim_rows, of_type
from ult.analytics.figures.tables import aligned
from ult.analytics.figures.visits import visits_per_card
from ult.analytics.privacy import suppress
from ult.rules import Rule


def points_needed_by_sid(events: pd.DataFrame) -> dict[str, int]:
    """Each sponsor's ``points_needed`` from its latest ``rule`` event (default if none)."""
    needed = {str(sid): Rule().points_needed for sid in events["sid"].dropna().unique()}
    if "rule" not in events.columns:
        return needed
    for row in of_type(events, "rule").itertuples():
        try:
            needed[str(row.sid)] = int(json.loads(cast(str, row.rule))["points_needed"])
        except (TypeError, ValueError, KeyError):
            continue
    return needed


def _needed(events: pd.DataFrame, points_needed: int | Mapping[str, int] | None) -> dict:
    if points_needed is None:
        return points_needed_by_sid(events)
    if isinstance(points_needed, int):
        return {str(s): points_needed for s in events["sid"].dropna().unique()}
    return dict(points_needed)


def _earning(events: pd.DataFrame) -> pd.Series:
    """True for rows that earn or lose points outside claims: scans, expiries, voided scans."""
    kinds = events["type"].isin(["scan", "expired", "void"]).to_numpy(dtype=bool)
    not_claim = events["claim_id"].isna().to_numpy() if "claim_id" in events else True
    return pd.Series(kinds & not_claim, index=events.index)


def card_points(
    events: pd.DataFrame, points_needed: int | Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Per card (index sid, cid), for computing: ``earned_points`` (scans less voided and
    expired points), ``rewards_earned`` (whole rewards' worth of them), ``reached`` (the
    balance — claims deducted, refunds added — was ever at ``points_needed`` or more).

    ``points_needed``: one number, one per sid, or None for each sponsor's latest rule.
    """
    needed = _needed(events, points_needed)
    rows = events.dropna(subset=["cid", "points"])
    card = [rows["sid"], rows["cid"]]
    points = rows["points"].astype("int64")
    threshold = rows["sid"].astype("str").map(needed).fillna(Rule().points_needed)
    balance = points.groupby(card, observed=True).cumsum()
    earned = points.where(_earning(rows), 0).groupby(card, observed=True).sum()
    table = pd.DataFrame(
        {
            "earned_points": earned,
            "reached": (balance >= threshold).groupby(card, observed=True).any(),
        }
    )
    sids = table.index.get_level_values("sid").astype("str")
    per_card = sids.map(needed).fillna(Rule().points_needed).to_numpy()
    table["rewards_earned"] = (table["earned_points"].clip(lower=0) // per_card).astype("int64")
    return table


def earned_cards(
    events: pd.DataFrame, points_needed: int | Mapping[str, int] | None = None
) -> pd.MultiIndex:
    """The cards (sid, cid) whose balance ever reached the sponsor's ``points_needed``."""
    table = card_points(events, points_needed)
    return cast(pd.MultiIndex, table.index[table["reached"].to_numpy(dtype=bool)])


def reward_funnel(
    events: pd.DataFrame,
    points_needed: int | Mapping[str, int] | None = None,
    k: int | None = None,
) -> pd.DataFrame:
    """Per sponsor: cards → cards that earned a reward → rewards earned → claims → approved.

    ``earn_rate`` = cards whose balance reached ``points_needed`` / cards with a scan;
    ``rewards_earned`` = whole rewards' worth of points earned (a loyal card earns several);
    ``redemption_rate`` = rewards given / rewards earned, where a reward is *given* when its
    claim's last status is approved (``given_claims``). A voided or rejected claim gives its
    points back and they may be claimed again, so counting every approval would count those
    points twice. A card cannot spend more than it earned, so the rate is within [0, 1] while
    ``points_needed`` stays the same; after a rule change it is capped at 1.
    Claims are counted per claim id and status reached (``approved_claims``,
    ``rejected_claims``, ``void_claims`` …) and ``given_claims``; the claim columns are left
    out when the streams hold no ``claim`` events.
    """
    visits = visits_per_card(events)
    table = pd.DataFrame({"cards": visits.groupby(level="sid", observed=True).size()})
    points = card_points(events, points_needed)
    per_sid = points.groupby(level="sid", observed=True)
    table["earned"] = aligned(per_sid["reached"].sum(), table.index)
    table["earn_rate"] = table["earned"] / table["cards"]
    table["rewards_earned"] = aligned(per_sid["rewards_earned"].sum(), table.index)
    derived = {"earn_rate": ["earned"], "rewards_earned": ["earned"]}
    claim_cols = _claim_funnel(events, table.index)
    if claim_cols is not None:
        table = table.join(claim_cols)
        for col in claim_cols.columns:
            if col == "claims" or col.endswith("_claims"):
                stage = "claim" if col == "claims" else col.removesuffix("_claims")
                derived[col] = [f"{stage}_cards"]
        ok = table["rewards_earned"] > 0
        given = table["given_claims"] / table["rewards_earned"].where(ok)
        table["redemption_rate"] = given.clip(upper=1.0)
        derived["redemption_rate"] = ["earned", "given_cards"]
    card_cols = [c for c in table.columns if c.endswith("_cards")]
    out = suppress(table, "cards", ["earned", *card_cols], k=k, derived=derived)
    return out.drop(columns=card_cols)


def _claim_funnel(events: pd.DataFrame, index: pd.Index) -> pd.DataFrame | None:
    """Claims per sponsor, and claims that reached each status, each with distinct cards."""
    claims = claim_rows(events)
    if claims.empty:
        return None
    status = claims["status"].astype("str").replace({s: "approved" for s in APPROVED})
    stages = {"claim": claims}
    for name in sorted(set(status.dropna()) - {"requested"}):
        stages[name] = claims[(status == name).to_numpy(dtype=bool)]
    stages.setdefault("approved", claims.iloc[:0])
    stages["given"] = _given(claims)
    cols = {}
    for name, rows in stages.items():
        g = rows.groupby("sid", observed=True)
        cols["claims" if name == "claim" else f"{name}_claims"] = g["claim_id"].nunique()
        cols[f"{name}_cards"] = g["cid"].nunique()
    return pd.DataFrame(cols).reindex(index).fillna(0).astype("int64")


def _given(claims: pd.DataFrame) -> pd.DataFrame:
    """The last event of each claim whose last status is approved (a reward given)."""
    ordered = claims.sort_values("time", kind="stable")
    last = ordered.drop_duplicates(["sid", "claim_id"], keep="last")
    # a voucher used at the counter was given too
    return last[last["status"].astype("str").isin(["approved", "redeemed"]).to_numpy(dtype=bool)]
