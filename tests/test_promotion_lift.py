"""The lift of a promotion on a hand-made stream with a known answer (real embedded Valkey)."""

from __future__ import annotations

import json

import pandas as pd
import redis
from support.analytics import MONDAY, add, card, load

import ult.analytics as ua

HOUR = pd.Timedelta(hours=1)


def test_promotion_lift_per_open_hour_and_k_anonymous(r: redis.Redis) -> None:
    promo = {"id": "0000beef", "name": "Double points", "multiplier": 2.0}
    add(r, MONDAY - HOUR, t="promo", s="add", promo=json.dumps(promo))
    n = 0

    def scans(hour: int, count: int, tagged: bool) -> None:
        nonlocal n
        for i in range(count):
            fields = {"t": "scan", "c": card(n % 12), "v": 1, "p": 2 if tagged else 1}
            if tagged:
                fields["pr"] = promo["id"]
            add(r, MONDAY + hour * HOUR + pd.Timedelta(minutes=i), **fields)
            n += 1

    scans(0, 3, False)  # outside: 3 hours of 3 scans (cards 0-8, all new)
    scans(1, 3, False)
    scans(2, 3, False)
    scans(5, 6, True)  # during: 2 hours of 6 scans (cards 9, 10, 11 new; 0-8 return)
    scans(6, 6, True)
    table = ua.promotion_lift(load(r), k=5)
    row = table.loc[("cafe-test-0001", "0000beef")]
    assert row["promotion"] == "Double points" and row["multiplier"] == 2.0
    assert (row["hours_during"], row["scans_during"], row["cards_during"]) == (2, 12, 12)
    assert row["scans_per_hour_during"] == 6 and row["scans_per_hour_outside"] == 3
    assert row["scan_lift"] == 2.0
    assert pd.isna(row["new_cards_during"]) and pd.isna(row["new_card_lift"])  # 3 < k cards
    assert row["cards_outside"] == 9 and ua.is_guarded(table, k=5)
    assert table.attrs["suppressed_cells"] == 1

    at3 = ua.promotion_lift(load(r), k=3).loc[("cafe-test-0001", "0000beef")]
    assert at3["new_cards_during"] == 3 and at3["new_card_lift"] == 1.5 / 3
    assert ua.promotion_lift(load(r), k=13).empty  # seen by 12 cards: dropped
