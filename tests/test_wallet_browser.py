"""The "Add to Apple Wallet" button in real Chromium on a phone-sized page: shown once the
visit is, it downloads the signed pass; with no wallet configured there is no button."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from support.browser import PHONE, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEVERE = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def test_add_to_apple_wallet(wallet_service, service_url, make_sponsor, new_page, tmp_path):
    s = make_sponsor(cooldown_min=0)
    page = new_page(**PHONE)
    visit(page, f"{wallet_service.url}/s/{s['sid']}", "Visit 1 recorded")
    button = page.get_by_role("button", name="Add to Apple Wallet")
    expect(button).to_be_visible()
    expect(page.get_by_role("button", name="Save to Google Wallet")).to_have_count(0)
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    found = [
        v["id"]
        for v in Axe().run(page, options=options).response["violations"]
        if v.get("impact") in SEVERE
    ]
    assert not found

    with page.expect_download() as download:
        button.click()
    got = download.value
    assert "/pass/" in got.url
    saved = tmp_path / "card.pkpass"
    got.save_as(saved)
    data = json.loads(zipfile.ZipFile(io.BytesIO(saved.read_bytes())).read("pass.json"))
    assert data["organizationName"] == "Fika Sisters"
    assert data["storeCard"]["primaryFields"][0]["value"] == 1

    page.goto(f"{wallet_service.url}/wallet")
    page.locator("#cards summary").first.click()
    expect(page.locator("#cards").get_by_role("button", name="Add to Apple Wallet")).to_be_visible()

    treat = make_sponsor(cooldown_min=0, points_needed=1, approval="instant")
    visit(page, f"{wallet_service.url}/s/{treat['sid']}", "Visit 1 recorded")
    page.locator("#claim").get_by_role("button", name="Claim now").click()
    confirm = page.locator("#claim").get_by_role("button", name="Yes, claim it")
    expect(confirm).to_be_enabled()
    confirm.click()
    voucher = page.locator("#voucher")
    expect(voucher).to_be_visible()
    expect(voucher.get_by_role("button", name="Add to Apple Wallet")).to_be_visible()

    plain = new_page(**PHONE)
    visit(plain, f"{service_url}/s/{s['sid']}", "Visit 1 recorded")
    expect(plain.locator(".wallet-pass")).to_have_count(0)
    expect(plain.locator("#wallet-passes")).to_be_hidden()
