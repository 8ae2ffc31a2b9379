"""Rewards in two browsers: a customer's phone and the sponsor's Voilà dashboard.

One Voilà serves the module (each page takes a preheated kernel, shut down when the page
closes); the scan service is the session's. Redis is shared: sponsor names and places are
unique per test. Staff decisions travel dashboard kernel → Socket.IO Redis manager → service →
the customer's page, with no reload anywhere.

Set ULT_SCREENSHOTS=1 to write docs/img/dashboard-claims.png.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
import redis
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect
from support.browser import (
    DESK,
    PHONE,
    REWARD,
    confirm,
    earn,
    key_of,
    open_as_owner,
    open_dashboard,
    open_tab,
    register,
    sponsor_via_core,
    start_claim,
    unique,
    visit,
)
from support.wait import wait_until

from ult import counter_code, run
from ult.clock import DAY_MS
from ult.dashboard.today import day_start_ms
from ult.errors import UltError
from ult.rules import get_rule
from ult.scans import scan
from ult.sponsors import check_owner

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CLAIMS_SHOT = ROOT / "docs" / "img" / "dashboard-claims.png"
LIVE_S = 3.0  # a claim reaches the dashboard in ~1 s; generous for a loaded machine


def pending_row(page: Page, code: str):
    return page.locator(".ult-claims-pending tr", has_text=code)


def decode_element(page: Page, selector: str) -> list[str]:
    """The QR codes in a screenshot of one element."""
    png = page.locator(selector).screenshot()
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_staff_approve_end_to_end(
    dashboard_url: str, service_url: str, new_page, rc: redis.Redis
) -> None:
    business = sponsor_via_core(
        rc, "Fika Sisters", points_needed=2, cooldown_min=0, approval="staff", reward=REWARD
    )
    sid = business.sid
    dash = new_page(**DESK)
    open_as_owner(dash, dashboard_url, business)
    open_tab(dash, "Claims")
    expect(dash.locator(".ult-claims-pending")).to_contain_text("No claims waiting")
    expect(dash.locator(".ult-claims-mode")).to_contain_text("staff approve each reward")

    phone = new_page(**PHONE)  # its own context: nothing shared with the dashboard
    earn(phone, service_url, sid, 2)
    phone.evaluate("window.sameDocument = true")  # gone if the page reloads
    start_claim(phone, "15 minutes")
    sent = time.monotonic()
    confirm(phone)
    expect(phone.locator("#claim .claim-title")).to_have_text("Waiting for staff to approve…")
    code = phone.locator("#claim .claim-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}", code), code

    row = pending_row(dash, code)
    expect(row).to_be_visible(timeout=LIVE_S * 1000)
    print(f"claim to dashboard: {time.monotonic() - sent:.2f} s")
    expect(row.locator(".ult-claim-code")).to_have_text(code)
    expect(row).to_contain_text(REWARD)
    expect(dash.get_by_role("tab", name="Claims (1)")).to_be_visible()
    expect(dash.locator(".ult-claims-badge .ult-count")).to_have_text("1")
    if os.environ.get("ULT_SCREENSHOTS"):
        CLAIMS_SHOT.parent.mkdir(parents=True, exist_ok=True)
        dash.screenshot(path=str(CLAIMS_SHOT))

    row.get_by_role("button", name="Approve").click()
    voucher = phone.locator("#voucher")
    expect(voucher).to_be_visible(timeout=LIVE_S * 1000)
    expect(phone.locator("#voucher-code")).to_have_text(code)
    expect(phone.locator("#voucher-reward")).to_have_text(REWARD)
    expect(phone.locator("#voucher-left")).to_have_text(re.compile(r"^Valid for 1[45] minutes$"))
    assert phone.evaluate("window.sameDocument") is True, "the customer's page was reloaded"

    expect(dash.locator(".ult-tab-claims .ult-message")).to_contain_text(f"Approved {code}")
    expect(dash.locator(".ult-claims-pending")).to_contain_text("No claims waiting")
    expect(dash.get_by_role("tab", name="Claims", exact=True)).to_be_visible()
    recent = dash.locator(".ult-claims-recent tr", has_text=code)
    expect(recent).to_contain_text("Approved · valid until")

    # Given by mistake: Void (two clicks), and the phone says so at once.
    recent.get_by_role("button", name="Void").click()
    recent.get_by_role("button", name="Confirm void").click()
    expect(phone.locator("#voucher-left")).to_have_text(
        "The staff cancelled this reward. Your 2 points are back on your card.",
        timeout=LIVE_S * 1000,
    )
    expect(recent).to_contain_text("Voided · points given back")
    expect(recent.get_by_role("button")).to_have_count(0)


def test_done_when_five_days_staff_approval_and_a_sixth_scan(
    dashboard_url: str, service_url: str, new_page, rc: redis.Redis
) -> None:
    """The whole reward story, as far as a browser can take it: the days are simulated in the
    core (scan with now_ms); everything the sponsor and the customer do is in the browsers."""
    dash = new_page(**DESK)
    open_dashboard(dash, dashboard_url)
    business = register(dash, unique("Fika Sisters"), "Götgatan 5, Stockholm")
    sid, owner_key = business["sid"], business["owner_key"]
    dash.get_by_role("button", name="I have saved it").click()

    # "5 visits → 10% off, staff approval, one visit a day", on the Rewards tab
    open_tab(dash, "Rewards")
    for name, value in {"points-per-scan": 1, "points-needed": 5, "cooldown-min": 0}.items():
        dash.locator(f".ult-rule-{name} input").fill(str(value))
    dash.locator(".ult-rule-daily-cap input").fill("1")
    dash.locator(".ult-rule-reward input").fill(REWARD)
    dash.locator(".ult-rule-approval select").select_option(label="After staff approve it")
    dash.get_by_role("button", name="Save rule").click()
    expect(dash.locator(".ult-tab-rules .ult-message")).to_contain_text("Saved")
    rule = run(rc, get_rule(sid))
    assert (rule.points_needed, rule.approval, rule.daily_cap) == (5, "staff", 1)
    assert (rule.reward, rule.points_per_scan, rule.cooldown_min) == (REWARD, 1, 0)

    # The counter screen shows a code the service accepts, counting down.
    open_tab(dash, "Counter screen")
    expect(dash.locator(".ult-counter-qr svg")).to_be_visible()
    expect(dash.locator(".ult-counter-left")).to_have_text(re.compile(r"^New code in \d+ s$"))
    [url] = decode_element(dash, ".ult-counter-qr")
    assert url.startswith(f"{service_url}/s/{sid}?code=")
    secret = run(rc, check_owner(sid, owner_key)).code_secret
    assert counter_code.check(secret, sid, url.rpartition("=")[2]) == "ok"
    assert secret not in dash.content()

    # Day 1: the customer scans at the counter (a fresh phone: its card key is made now).
    phone = new_page(**PHONE)
    visit(phone, f"{service_url}/s/{sid}", "Visit 1 recorded")
    key = key_of(phone, sid)
    # Days 2-5: the same phone's key, at noon of the following days (the core's clock).
    offset = run(rc, check_owner(sid, owner_key)).utc_offset_min
    noon = day_start_ms(int(time.time() * 1000), offset) + 12 * 3_600_000
    for day in range(1, 5):
        assert run(rc, scan(sid, key, now_ms=noon + day * DAY_MS)).visits == day + 1

    # Day 5, at the counter: the customer claims (the wallet never counts a visit) ...
    phone.goto(f"{service_url}/wallet")
    card = phone.locator(f'li.card[data-sid="{sid}"]')
    expect(card.locator(".card-points")).to_have_text("5 points")
    card.get_by_role("button", name="Claim now").click()
    card.get_by_role("button", name="Yes, claim it").click()
    expect(card.locator(".claim-title")).to_have_text("Waiting for staff to approve…")
    code = card.locator(".claim-code").inner_text()

    # ... the staff see it without reloading and approve it ...
    open_tab(dash, "Claims")
    row = pending_row(dash, code)
    expect(row).to_be_visible(timeout=LIVE_S * 1000)
    row.get_by_role("button", name="Approve").click()

    # ... and the voucher is shown.
    expect(phone.locator("#voucher")).to_be_visible(timeout=LIVE_S * 1000)
    expect(phone.locator("#voucher-code")).to_have_text(code)
    expect(phone.locator("#voucher-reward")).to_have_text(REWARD)

    # A sixth scan the same (simulated) day is politely refused.
    with pytest.raises(UltError) as refused:
        run(rc, scan(sid, key, now_ms=noon + 4 * DAY_MS + 2 * 3_600_000))
    assert refused.value.code == "daily_cap"
    assert re.fullmatch(
        r"That's all the visits for today\. Your next visit counts in \d+ hours\.",
        refused.value.message,
    )
    assert refused.value.extra["visits"] == 5


def test_counter_screen_asks_for_codes_only_while_shown(
    dashboard_url: str, new_page, rc: redis.Redis
) -> None:
    """The page's countdown asks the kernel for the next code when the window ends — and not
    while the panel is hidden. The page's clock is fast-forwarded; the kernel's is real."""
    business = sponsor_via_core(rc, unique("Bar Centro"), cooldown_min=0)
    dash = new_page(**DESK)
    asked: list[float] = []

    def on_frame(frame: str | bytes) -> None:
        if b'"event":"refresh"' in (frame if isinstance(frame, bytes) else frame.encode()):
            asked.append(time.monotonic())

    dash.on("websocket", lambda ws: ws.on("framesent", on_frame))
    dash.clock.install()
    open_as_owner(dash, dashboard_url, business)
    open_tab(dash, "Counter screen")
    screen = dash.locator(".ult-counter")
    left = dash.locator(".ult-counter-left")
    expect(screen).to_have_attribute("data-running", "yes")
    expect(left).to_have_text(re.compile(r"^New code in \d+ s$"))
    assert asked == []

    dash.clock.fast_forward(counter_code.WINDOW_S * 1000 + 1000)
    wait_until(
        lambda: asked,
        LIVE_S,
        message="the page asks for the next code when its window ends",
        sleep=lambda s: dash.wait_for_timeout(s * 1000),  # the page's events come meanwhile
    )
    expect(left).not_to_have_text("New code in 0 s")  # the kernel answered: counting again

    open_tab(dash, "Live")
    expect(screen).to_have_attribute("data-running", "no")
    before = len(asked)
    dash.clock.fast_forward(2 * counter_code.WINDOW_S * 1000)
    dash.wait_for_timeout(300)
    assert len(asked) == before, "a hidden counter screen never asks"

    open_tab(dash, "Counter screen")  # back on screen with a stale code: a fresh one at once
    expect(screen).to_have_attribute("data-running", "yes")
    wait_until(
        lambda: len(asked) > before,
        LIVE_S,
        message="a counter screen shown again asks at once",
        sleep=lambda s: dash.wait_for_timeout(s * 1000),
    )
    expect(left).not_to_have_text("New code in 0 s")
