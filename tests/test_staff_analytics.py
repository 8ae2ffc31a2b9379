"""Redemption (approved → redeemed) and staff activity per staff key name, k-anonymous."""

from __future__ import annotations

import pandas as pd
import pytest
import redis
from support.analytics import DAY, MONDAY, SID, add, card, load

import ult.analytics as ua


def test_redemption_and_staff_activity(r: redis.Redis) -> None:
    hour = pd.Timedelta(hours=1)
    for n in (1, 2, 3):
        add(r, MONDAY + n * hour, t="scan", c=card(n), v=1, p=1)
    for n in (1, 2, 3):
        add(r, MONDAY + DAY + n * hour, t="claim", c=card(n), id=f"c{n}", s="approved", p=-1)
    for n, who in ((1, "Till 1"), (2, "Till 1")):
        add(
            r,
            MONDAY + 2 * DAY + n * hour,
            t="claim",
            c=card(n),
            id=f"c{n}",
            s="redeemed",
            p=0,
            by=who,
        )
    add(r, MONDAY + 3 * DAY, t="void", c=card(3), id="c3", s="void", p=1, by="owner")
    df = load(r)

    used = ua.redemption(df, k=1).loc[SID]
    assert (used["approved"], used["redeemed"], used["cards"]) == (3, 2, 3)
    assert used["redeemed_share"] == pytest.approx(2 / 3)
    hidden = ua.redemption(df, k=3).loc[SID]  # 3 cards approved, only 2 redeemed: masked
    assert (
        hidden["cards"] == 3 and pd.isna(hidden["redeemed"]) and pd.isna(hidden["redeemed_share"])
    )

    staff = ua.staff_activity(df, k=1)
    assert staff.loc[(SID, "Till 1", "redeemed"), "decisions"] == 2
    assert staff.loc[(SID, "owner", "void"), "decisions"] == 1
    assert list(ua.staff_activity(df, k=2).index) == [(SID, "Till 1", "redeemed")]
    assert ua.reward_funnel(df, k=1).loc[SID, "given_claims"] == 2  # redeemed still given
