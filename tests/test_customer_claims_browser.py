"""Rewards on the customer pages in real Chromium against the real service.

Earn the reward, claim it, wait for staff, see the live voucher; the wallet shows it without
counting a visit. Staff decisions are made the way the dashboard makes them: `decide` in the
core, then `claim_update` through the Socket.IO Redis manager (`Notifier`).
Set ULT_SCREENSHOTS=1 to refresh docs/img/customer-voucher.png.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support.browser import PHONE, REWARD, confirm, earn, key_of, start_claim, visit

from ult import run
from ult.cards import read_card
from ult.claims import decide, list_claims
from ult.rules import Rule, set_rule
from ult.service.notify import Notifier

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# the phone's clock as en-US writes it: "2:05:09 PM"
CLOCK = re.compile(r"^\d{1,2}:\d\d:\d\d\s[AP]M$")


def scans_in_stream(r, sid: str) -> int:
    return sum(1 for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan")


def claims_sent(page: Page) -> list:
    """Record the `claim` events the page sends over its websocket."""
    sent: list = []

    def on_frame(payload) -> None:
        # Socket.IO event packet: "42" + ack id + JSON [name, data].
        if re.match(r'42\d*\["claim"', str(payload)):
            sent.append(payload)

    def on_ws(ws) -> None:
        ws.on("framesent", on_frame)

    page.on("websocket", on_ws)
    return sent


def click_now(page: Page, times: int = 1) -> None:
    """Click "Yes, claim it" `times` times in one go, not waiting for any answer."""
    button = page.locator("#claim .claim-confirm")
    expect(button).to_be_enabled()  # after the double-tap guard
    button.evaluate("(b, n) => { for (let i = 0; i < n; i++) b.click(); }", times)


def clock_ticks(page: Page) -> None:
    clock = page.locator("#voucher-clock")
    first = clock.text_content()
    assert CLOCK.match(first), first
    time.sleep(1.2)
    second = clock.text_content()
    assert CLOCK.match(second) and second != first


def animation(page: Page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).animationName")


def test_instant_claim_end_to_end(service_url, make_sponsor, r, new_page, tmp_path):
    sid = make_sponsor(points_needed=3, cooldown_min=0, approval="instant", reward=REWARD)["sid"]
    page = new_page(**PHONE)
    errors: list = []
    page.on("pageerror", lambda err: errors.append(err))
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))

    earn(page, service_url, sid, 2)
    expect(page.locator("#claim")).to_be_hidden()  # no Claim button before the reward is earned
    visit(page, f"{service_url}/s/{sid}", "Visit 3 recorded")
    expect(page.locator("#progress-text")).to_have_text(f"3 points — enough for {REWARD}!")
    start_claim(page, "15 minutes")
    expect(page.locator("#claim .claim-text")).to_have_text(
        "Show this to staff now — the voucher is valid for 15 minutes."
    )
    confirm(page)

    voucher = page.locator("#voucher")
    expect(voucher).to_be_visible(timeout=3000)
    [claim] = run(r, list_claims(sid))
    assert claim.status == "approved"
    expect(page.locator("#voucher-biz")).to_have_text("Fika Sisters")
    expect(page.locator("#voucher-reward")).to_have_text(REWARD)
    expect(page.locator("#voucher-code")).to_have_text(claim.code)
    expect(page.locator("#voucher-left")).to_have_text(re.compile(r"^Valid for 1[45] minutes$"))
    clock_ticks(page)
    assert animation(page, "#voucher") != "none"
    assert animation(page, "#voucher-code") != "none"
    card = run(r, read_card(sid, key_of(page, sid)))
    assert (card.visits, card.points) == (3, 0)
    expect(page.locator("#points")).to_have_text("0 points")  # behind the voucher, updated

    out = ROOT / "docs" / "img" if os.environ.get("ULT_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(out / "customer-voucher.png"))

    page.get_by_role("button", name="Done").click()
    expect(voucher).to_be_hidden()
    expect(page.locator("#claim .claim-text")).to_have_text(
        re.compile(r"^Valid for 1[45] minutes$")
    )
    page.locator("#claim").get_by_role("button", name="Show voucher").click()
    expect(voucher).to_be_visible()
    assert errors == []
    assert all(u.startswith(service_url + "/") for u in urls), "nothing outside the origin"


def test_staff_reject_then_approve_updates_the_page_live(
    service_url, make_sponsor, r, redis_url, new_page
):
    sponsor = make_sponsor(points_needed=2, cooldown_min=0, approval="staff", reward=REWARD)
    sid, owner_key = sponsor["sid"], sponsor["owner_key"]
    notifier = Notifier(redis_url)
    page = new_page()
    earn(page, service_url, sid, 2)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    def staff(decision: str, status: str) -> None:
        [claim] = [c for c in run(r, list_claims(sid)) if c.status == "requested"]
        expect(page.locator("#claim .claim-code")).to_have_text(claim.code)
        decided = run(r, decide(sid, owner_key, claim.id, decision))
        assert decided.status == status
        notifier.claim_update(sid, decided.cid, decided.to_dict())

    start_claim(page, "15 minutes")
    expect(page.locator("#claim .claim-text")).to_contain_text("they approve it at the counter")
    confirm(page)
    expect(page.locator("#claim .claim-title")).to_have_text("Waiting for staff to approve…")
    expect(page.locator("#points")).to_have_text("0 points")

    staff("reject", "rejected")
    expect(page.locator("#claim .claim-note")).to_have_text(
        "Sorry — the staff didn't approve this claim. Your 2 points are back on your card.",
        timeout=2000,
    )
    expect(page.locator("#points")).to_have_text("2 points")
    assert run(r, read_card(sid, key_of(page, sid))).points == 2

    # The points are back, so the reward can be claimed again — and this time approved.
    start_claim(page, "15 minutes")
    confirm(page)
    expect(page.locator("#claim .claim-title")).to_have_text("Waiting for staff to approve…")
    expect(page.locator("#voucher")).to_be_hidden()
    staff("approve", "approved")
    expect(page.locator("#voucher")).to_be_visible(timeout=2000)
    expect(page.locator("#voucher-reward")).to_have_text(REWARD)
    expect(page.locator("#voucher-left")).to_have_text(re.compile(r"^Valid for 1[45] minutes$"))
    clock_ticks(page)
    assert page.evaluate("window.sameDocument") is True
    assert run(r, read_card(sid, key_of(page, sid))).points == 0

    # The owner voids the voucher while it is on screen: it says so at once.
    newest = run(r, list_claims(sid))[0]
    staff_void = run(r, decide(sid, owner_key, newest.id, "void"))
    notifier.claim_update(sid, staff_void.cid, staff_void.to_dict())
    expect(page.locator("#voucher-left")).to_have_text(
        "The staff cancelled this reward. Your 2 points are back on your card.", timeout=2000
    )
    expect(page.locator("#voucher")).to_have_class(re.compile("voucher--over"))
    expect(page.locator("#voucher-hint")).to_be_hidden()


def test_an_expired_voucher_says_so(service_url, make_sponsor, r, new_page):
    sid = make_sponsor(points_needed=1, cooldown_min=0, voucher_min=5, reward=REWARD)["sid"]
    page = new_page()
    page.clock.install()  # the page's time, fast-forwarded below; the server's is real
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    start_claim(page, "5 minutes")
    confirm(page)
    expect(page.locator("#voucher-left")).to_have_text(re.compile(r"^Valid for [45] minutes$"))
    [claim] = run(r, list_claims(sid))
    until = page.evaluate(  # as the phone writes a time of day: "2:05 PM"
        "ms => new Intl.DateTimeFormat('en-US', {hour: 'numeric', minute: '2-digit'}).format(ms)",
        claim.expires_at,
    )

    page.clock.fast_forward("05:01")
    words = f"Your voucher for {REWARD} expired at {until}."
    expect(page.locator("#voucher-left")).to_have_text(words)
    expect(page.locator("#voucher")).to_have_class(re.compile("voucher--over"))
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#claim .claim-note")).to_have_text(words)


def test_a_phone_with_a_wrong_clock_counts_down_in_server_time(
    service_url, make_sponsor, r, new_page
):
    """A phone 20 minutes fast would see a 15-minute voucher as expired; it sees ~15 min left."""
    sid = make_sponsor(points_needed=1, cooldown_min=0, voucher_min=15, reward=REWARD)["sid"]
    page = new_page()
    page.clock.install(time=time.time() + 20 * 60)
    page.clock.resume()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    start_claim(page, "15 minutes")
    confirm(page)
    expect(page.locator("#voucher-left")).to_have_text(re.compile(r"^Valid for 1[45] minutes$"))


def test_a_double_tap_or_two_tabs_claim_once(service_url, make_sponsor, r, new_page):
    # 3 points per visit, 3 needed: every card below could pay for the reward more than once.
    sid = make_sponsor(points_per_scan=3, points_needed=3, cooldown_min=0, reward=REWARD)["sid"]
    one = new_page()
    sent = claims_sent(one)
    earn(one, service_url, sid, 2)
    start_claim(one, "15 minutes")
    # Two clicks in the same instant, before the first answer is back.
    click_now(one, times=2)
    expect(one.locator("#voucher")).to_be_visible(timeout=3000)
    assert len(sent) == 1, "the page sends one claim; the server would dedupe a second anyway"
    assert len(run(r, list_claims(sid))) == 1
    assert run(r, read_card(sid, key_of(one, sid))).points == 3

    # Two tabs of one phone (one key) confirming at once.
    other = make_sponsor("Bar Centro", points_per_scan=3, points_needed=3, cooldown_min=0)["sid"]
    tab_a = new_page()
    tab_b = new_page(tab_a.context)
    earn(tab_a, service_url, other, 1)
    visit(tab_b, f"{service_url}/s/{other}", "Visit 2 recorded")
    for tab in (tab_a, tab_b):
        start_claim(tab, "15 minutes")
    for tab in (tab_a, tab_b):
        expect(tab.locator("#claim .claim-confirm")).to_be_enabled()
    # Both confirm at once. The second tap may race the first claim, or find its confirmation
    # already replaced by the voucher (the server tells the card's other tabs live): both fine.
    for tab in (tab_a, tab_b):
        tab.evaluate("() => document.querySelector('#claim .claim-confirm')?.click()")
    for tab in (tab_a, tab_b):
        expect(tab.locator("#voucher")).to_be_visible(timeout=3000)
    [claim] = run(r, list_claims(other))
    for tab in (tab_a, tab_b):
        expect(tab.locator("#voucher-code")).to_have_text(claim.code)
    assert run(r, read_card(other, key_of(tab_a, other))).points == 3


def test_reload_and_wallet_show_the_voucher_again(service_url, make_sponsor, r, new_page):
    sid = make_sponsor(points_per_scan=2, points_needed=2, cooldown_min=60, reward=REWARD)["sid"]
    page = new_page(reduced_motion="reduce")
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    start_claim(page, "15 minutes")
    confirm(page)
    expect(page.locator("#voucher")).to_be_visible(timeout=3000)
    [claim] = run(r, list_claims(sid))

    # At the counter, the customer reloads: no new visit (cooldown), the voucher is back.
    page.reload()
    expect(page.locator("#headline")).to_have_text("Already counted — thanks!", timeout=5000)
    expect(page.locator("#voucher")).to_be_visible(timeout=3000)
    expect(page.locator("#voucher-code")).to_have_text(claim.code)
    # Reduced motion: nothing moves, but the clock still ticks.
    assert animation(page, "#voucher") == "none"
    assert animation(page, "#voucher-code") == "none"
    clock_ticks(page)
    scans = scans_in_stream(r, sid)
    assert scans == 1

    page.goto(f"{service_url}/wallet")
    item = page.locator(f'li.card[data-sid="{sid}"]')
    expect(item.locator(".claim-reward")).to_have_text(REWARD)
    expect(item.locator(".claim .claim-text")).to_have_text(
        re.compile(r"^Valid for 1[45] minutes$")
    )
    expect(page.locator("#voucher")).to_have_count(0)  # the wallet does not pop it up by itself
    item.get_by_role("button", name="Show voucher").click()
    expect(page.locator("#voucher")).to_be_visible()
    expect(page.locator("#voucher-code")).to_have_text(claim.code)
    expect(page.locator("#voucher-biz")).to_have_text("Fika Sisters")
    clock_ticks(page)
    page.keyboard.press("Escape")
    expect(page.locator("#voucher")).to_be_hidden()
    assert scans_in_stream(r, sid) == scans, "the wallet never counts a visit"


def test_wallet_claims_and_follows_staff_without_a_visit(
    service_url, make_sponsor, r, redis_url, new_page
):
    sponsor = make_sponsor(points_needed=1, cooldown_min=0, approval="staff", reward=REWARD)
    sid = sponsor["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    page.goto(f"{service_url}/wallet")
    item = page.locator(f'li.card[data-sid="{sid}"]')
    item.get_by_role("button", name="Claim now").click()
    item.get_by_role("button", name="Yes, claim it").click()
    expect(item.locator(".claim-title")).to_have_text("Waiting for staff to approve…")
    [claim] = run(r, list_claims(sid))
    expect(item.locator(".claim-code")).to_have_text(claim.code)
    expect(item.locator(".card-points")).to_have_text("0 points")

    decided = run(r, decide(sid, sponsor["owner_key"], claim.id, "approve"))
    Notifier(redis_url).claim_update(sid, decided.cid, decided.to_dict())
    expect(page.locator("#voucher")).to_be_visible(timeout=2000)
    expect(page.locator("#voucher-code")).to_have_text(claim.code)
    assert scans_in_stream(r, sid) == 1


def test_not_enough_points_is_explained(service_url, make_sponsor, r, new_page):
    sponsor = make_sponsor(points_needed=3, cooldown_min=0, reward=REWARD)
    sid = sponsor["sid"]
    page = new_page()
    earn(page, service_url, sid, 3)
    start_claim(page, "15 minutes")
    # Meanwhile the owner raises the bar on the dashboard: the tap is now two points short.
    run(
        r, set_rule(sid, sponsor["owner_key"], Rule(points_needed=5, cooldown_min=0, reward=REWARD))
    )
    confirm(page)
    notice = page.locator("#claim .claim-notice")
    expect(notice).to_have_text(re.compile(f"Not enough points yet.*2 more points for {REWARD}\\."))
    expect(page.locator("#claim").get_by_role("button")).to_have_count(0)
    expect(page.locator("#progress-text")).to_have_text(f"3 of 5 points — 2 more for {REWARD}")
    assert run(r, list_claims(sid)) == []
    assert run(r, read_card(sid, key_of(page, sid))).points == 3
