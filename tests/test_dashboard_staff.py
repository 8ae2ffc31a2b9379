"""Staff keys on the dashboard's Claims tab (driven from Python as the page's clicks drive
it), and the claims panel showing a voucher redeemed at the till."""

from __future__ import annotations

import re

import pytest
from support.dashboard import Shop, earn_and_claim, set_shop_rule

from ult import run
from ult.claims import decide
from ult.errors import UltError
from ult.staff import key_holder


def test_owner_makes_lists_and_revokes_staff_keys(shop: Shop, r) -> None:
    panel = shop.dash.claims.staff
    panel.name.value = "  Till   1 "
    panel.create()
    key = re.search(r'class="ult-staff-key">([^<]+)<', panel.reveal.value).group(1)
    assert f"{shop.dash.ctx.settings.public_url}/staff" in panel.reveal.value
    assert run(r, key_holder(shop.sid, key)).who == "Till 1"
    assert panel.table.row_ids == ["Till 1"]

    refusals = {
        "": "Staff name is required",
        "owner": "reserved",
        "x" * 41: "at most 40 characters",
        "Till 1": "exists already",
        "bad\u0007name": "cannot be shown",
    }
    for bad, words in refusals.items():
        panel.name.value = bad
        panel.create()
        assert "ult-note-error" in panel.message.value and words in panel.message.value, bad
    assert panel.table.row_ids == ["Till 1"]  # nothing changed

    set_shop_rule(r, shop, points_needed=1, cooldown_min=0, approval="instant")
    made = earn_and_claim(r, shop.sid, "a" * 43, 1)
    run(r, decide(shop.sid, key, made.id, "redeem"))
    shop.dash.claims.reload()
    status = shop.dash.claims.recent.row(made.id)["cells"]["status"]
    assert re.fullmatch(r"Used at \d{1,2}:\d\d\s?[AP]M by Till 1", status)
    assert shop.dash.claims.recent.row(made.id)["actions"] == []

    assert panel.table.act("revoke", "Till 1")
    assert panel.table.row_ids == [] and "Revoked" in panel.message.value
    with pytest.raises(UltError) as e:
        run(r, key_holder(shop.sid, key))
    assert e.value.code == "unauthorized"
