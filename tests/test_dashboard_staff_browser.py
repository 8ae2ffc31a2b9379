"""The staff keys panel in the real Voilà dashboard: the owner makes a key (shown once),
the till uses it, the owner revokes it with two clicks."""

from __future__ import annotations

import re

import pytest
import redis
from playwright.sync_api import expect
from support.browser import DESK, open_as_owner, open_tab, sponsor_via_core

from ult import run
from ult.errors import UltError
from ult.staff import key_holder

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_owner_makes_and_revokes_a_staff_key(
    dashboard_url: str, service_url: str, new_page, rc: redis.Redis
) -> None:
    business = sponsor_via_core(rc, "Fika Sisters", approval="staff")
    dash = new_page(**DESK)
    open_as_owner(dash, dashboard_url, business)
    open_tab(dash, "Claims")
    dash.locator(".ult-staff-name input").fill("Till 1")
    dash.get_by_role("button", name="Make a staff key").click()
    key = dash.locator(".ult-staff-key")
    expect(key).to_have_text(re.compile(r"^[A-Za-z0-9_-]{43}$"), timeout=10_000)
    staff_key = key.inner_text()
    assert run(rc, key_holder(business.sid, staff_key)).who == "Till 1"
    expect(dash.locator(".ult-staff-reveal")).to_contain_text(f"{service_url}/staff")
    row = dash.locator(".ult-staff-list tr", has_text="Till 1")
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Confirm revoke").click()
    expect(dash.locator(".ult-staff .ult-message")).to_contain_text("Revoked “Till 1”")
    expect(dash.locator(".ult-staff-list")).to_contain_text("No staff keys yet.")
    expect(key).to_have_count(0)  # the key is not shown again
    with pytest.raises(UltError):
        run(rc, key_holder(business.sid, staff_key))
