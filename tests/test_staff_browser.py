"""The staff page at the till and the customer's single-use voucher, in real Chromium against
the real service: a customer claims, the till approves live, then redeems; the voucher turns
"Used" on the phone and on a second browser holding a copy of the card's key.
Set ULT_SCREENSHOTS=1 to refresh docs/img/staff-page.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.browser import visit

from ult import run
from ult.claims import list_claims
from ult.service.notify import Notifier
from ult.staff import create_staff_key, revoke_staff_key

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
REWARD = "A free cinnamon bun"
TABLET = {"viewport": {"width": 820, "height": 1000}}


def test_till_approves_and_redeems_live(service_url, make_sponsor, r, new_page, tmp_path):
    s = make_sponsor(points_needed=1, cooldown_min=0, approval="staff", reward=REWARD)
    sid = s["sid"]
    staff_key = run(r, create_staff_key(sid, s["owner_key"], "Till 1"))
    errors: list = []

    till = new_page(**TABLET)
    till.on("pageerror", lambda e: errors.append(e))
    till.goto(f"{service_url}/staff")
    till.locator("#setup-sid").fill(sid)
    till.locator("#setup-key").fill(staff_key)
    till.get_by_role("button", name="Start").click()
    expect(till.locator("#status")).to_have_text(
        f"Live — {s['biz']} · signed in as Till 1", timeout=10_000
    )
    expect(till.locator("#pending")).to_contain_text("No claims waiting")

    phone = new_page()
    phone.on("pageerror", lambda e: errors.append(e))
    visit(phone, f"{service_url}/s/{sid}", "Visit 1 recorded")
    phone.get_by_role("button", name="Claim now").click()
    phone.get_by_role("button", name="Yes, claim it").click()
    expect(phone.locator("#claim .claim-title")).to_have_text("Waiting for staff to approve…")
    [claim] = run(r, list_claims(sid))

    row = till.locator(f'#pending li[data-id="{claim.id}"]')
    expect(row.locator(".staff-code")).to_have_text(claim.code, timeout=10_000)  # live
    expect(till.locator("#pending-count")).to_have_text("1")
    row.get_by_role("button", name="Approve").click()
    expect(till.locator("#message")).to_have_text(
        f"Approved {claim.code}: the voucher is on the customer's phone."
    )
    expect(phone.locator("#voucher")).to_be_visible(timeout=10_000)
    expect(phone.locator("#voucher-code")).to_have_text(claim.code)

    # a second browser holding a copy of the card's key sees the same voucher
    cards = phone.evaluate("localStorage.getItem('ult.cards')")
    copy = new_page()
    copy.on("pageerror", lambda e: errors.append(e))
    copy.goto(f"{service_url}/wallet")
    copy.evaluate("(v) => localStorage.setItem('ult.cards', v)", cards)
    copy.reload()
    item = copy.locator(f'li.card[data-sid="{sid}"]')
    expect(item.locator(".claim")).to_contain_text("voucher", timeout=10_000)

    voucher = till.locator(f'#vouchers li[data-id="{claim.id}"]')
    expect(voucher.locator(".staff-claim-status")).to_have_text(
        re.compile(r"^Valid until \d{1,2}:\d\d\s[AP]M$")
    )
    out = ROOT / "docs" / "img" if os.environ.get("ULT_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    till.screenshot(path=str(out / "staff-page.png"))
    voucher.get_by_role("button", name="Redeem").click()
    expect(voucher.locator(".staff-claim-status")).to_have_text(
        re.compile(r"^Used at \d{1,2}:\d\d\s[AP]M · Till 1$")
    )
    expect(voucher.get_by_role("button")).to_have_count(0)  # used once: no second Redeem

    expect(phone.locator("#voucher-used")).to_have_text("Used", timeout=10_000)
    expect(phone.locator("#voucher-left")).to_have_text(
        re.compile(rf"^Your voucher for {REWARD} was used at \d{{1,2}}:\d\d\s[AP]M\. Enjoy!$")
    )
    expect(item.locator(".claim")).to_contain_text(f"Your voucher for {REWARD} was used at")
    assert run(r, list_claims(sid))[0].status == "redeemed"
    assert errors == []


def test_a_revoked_key_is_dropped_and_asked_again(
    service_url, redis_url, make_sponsor, r, new_page
):
    s = make_sponsor()
    staff_key = run(r, create_staff_key(s["sid"], s["owner_key"], "Till 2"))
    page = new_page()
    page.goto(f"{service_url}/staff")
    page.locator("#setup-sid").fill(s["sid"])
    page.locator("#setup-key").fill(staff_key)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#status")).to_contain_text("signed in as Till 2", timeout=10_000)
    page.reload()  # the device remembers the business and the key
    expect(page.locator("#status")).to_contain_text("signed in as Till 2", timeout=10_000)

    run(r, revoke_staff_key(s["sid"], s["owner_key"], "Till 2"))
    notifier = Notifier(redis_url)
    notifier.staff_revoked(s["sid"], "Till 2")  # what `ult staff --revoke` and the dashboard do
    notifier.close()
    expect(page.locator(".staff-problem")).to_contain_text(
        "This key is not accepted", timeout=10_000
    )
    expect(page.locator("#setup")).to_be_visible()
    expect(page.locator("#setup-sid")).to_have_value(s["sid"])
