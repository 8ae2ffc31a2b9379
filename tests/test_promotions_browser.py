"""A promotion on the customer's pages, in real Chromium against a real scan service.

ULT_SCREENSHOTS=1 writes the README's screenshot (docs/img/customer-promotion.png).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ult import promotions as pr

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_the_scan_page_and_wallet_show_the_promotion(
    service_url, make_sponsor, r, new_page, tmp_path
):
    cafe = make_sponsor("Fika Sisters", cooldown_min=0, points_needed=10, reward="A free bun")
    sid, key = cafe["sid"], cafe["owner_key"]
    now = pr.new_promotion(
        "Double points", 2, start=iso(-timedelta(hours=1)), end=iso(timedelta(hours=2))
    )
    later = pr.new_promotion(
        "Triple Tuesday", 3, start=iso(timedelta(days=1)), end=iso(timedelta(days=1, hours=3))
    )
    for promo in (now, later):
        pr.add_promotion(r, sid, key, promo)

    page = new_page(**PHONE)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text("Visit 1 recorded", timeout=10_000)
    expect(page.locator("#promo")).to_have_text("Double points — 2 points")
    expect(page.locator("#points")).to_have_text("2 points")
    lines = page.locator("#promotions li")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("On now: Double points (×2 points) until")
    expect(lines.nth(1)).to_contain_text("Coming up: Triple Tuesday (×3 points)")
    scans = [f for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan"]
    assert [(s["p"], s.get("pr")) for s in scans] == [("2", now.id)]
    out = ROOT / "docs" / "img" if os.environ.get("ULT_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "customer-promotion.png"))

    page.goto(f"{service_url}/wallet")
    item = page.locator(f'li.card[data-sid="{sid}"]')
    expect(item.locator(".card-promos").first).to_contain_text(
        "On now: Double points", timeout=10_000
    )
    expect(item.locator(".card-promos")).to_have_count(2)
