"""The customer pages in real Chromium against a real scan service and Valkey.

A phone with no app and no account: open the QR's URL, see the visit counted; the wallet
lists the cards; a recovery code moves them to another phone. Run with `make test-browser`.
Set ULT_SCREENSHOTS=1 to refresh the README's phone screenshots in docs/img/.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support.browser import PHONE, visit

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
KEY_43 = re.compile(r"[A-Za-z0-9_-]{43}")
SCAN_FIELDS = {"sid", "key", "nonce", "at", "code"}


def cards_in(page: Page) -> dict:
    return json.loads(page.evaluate("localStorage.getItem('ult.cards') || '{}'"))


def keys_in(page: Page) -> dict:
    """{sid: (key, biz)}: what a card is (last-seen balances aside)."""
    return {sid: (c["key"], c["biz"]) for sid, c in cards_in(page).items()}


def scans_in_stream(r, sid: str) -> list[dict]:
    return [f for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan"]


def sent_events(page: Page) -> list:
    """Record every Socket.IO event the page sends: [(name, payload), ...]."""
    sent: list = []

    def on_ws(ws) -> None:
        def on_frame(payload) -> None:
            # Socket.IO event packets: "42" + optional ack id + JSON array [name, data].
            m = re.match(r"42\d*(\[.*)", payload if isinstance(payload, str) else "", re.S)
            if m:
                name, *args = json.loads(m.group(1))
                sent.append((name, args[0] if args else None))

        ws.on("framesent", on_frame)

    page.on("websocket", on_ws)
    return sent


def recovery_code(page: Page, base: str) -> str:
    page.goto(f"{base}/wallet")
    page.get_by_text("Save a recovery code").click()
    code = page.locator("#export-code")
    expect(code).to_have_value(re.compile(r"^ULT1\."))
    return code.input_value()


def import_code(page: Page, code: str) -> None:
    page.get_by_text("Restore from a recovery code").click()
    page.locator("#import-code").fill(code)
    page.get_by_role("button", name="Add these cards").click()


def test_a_visit_is_one_request(service_url, make_sponsor, r, new_page):
    """The scan's answer carries the card (balance, rule, claim): the page asks nothing else,
    on a first visit, on a cooldown refusal, and with a reward ready to claim."""
    sponsor = make_sponsor(cooldown_min=60, points_needed=1, reward="A free bun")
    page = new_page()
    sent = sent_events(page)
    url = f"{service_url}/s/{sponsor['sid']}"
    visit(page, url, "Visit 1 recorded")
    expect(page.get_by_role("button", name="Claim now")).to_be_visible()
    page.reload()  # within the cooldown: refused, balance and reward still shown
    expect(page.locator("#headline")).to_have_text("Already counted — thanks!", timeout=5000)
    expect(page.get_by_role("button", name="Claim now")).to_be_visible()
    expect(page.locator("#points")).to_have_text("1 point")
    page.wait_for_timeout(300)  # time for a second request, were one sent
    assert [name for name, _ in sent] == ["scan", "scan"]


def test_scan_counts_a_visit_and_a_reload_another(service_url, make_sponsor, r, new_page):
    sponsor = make_sponsor(cooldown_min=0, points_needed=5, reward="10% off your tab")
    sid = sponsor["sid"]
    page = new_page()
    sent = sent_events(page)
    errors: list = []
    page.on("pageerror", lambda err: errors.append(err))
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))

    started = time.monotonic()
    visit(page, f"{service_url}/s/{sid}?at=table-3", "Visit 1 recorded")
    assert time.monotonic() - started < 3, "the visit shows at once"
    expect(page.locator("#biz")).to_have_text("Fika Sisters")
    expect(page.locator("#points")).to_have_text("1 point")
    expect(page.locator("#progress-text")).to_have_text(
        "1 of 5 points — 4 more for 10% off your tab"
    )
    [entry] = scans_in_stream(r, sid)
    assert entry["a"] == "table-3"

    card = cards_in(page)[sid]
    assert KEY_43.fullmatch(card["key"]) and card["biz"] == "Fika Sisters" and card["added_at"]
    # Only what the protocol needs leaves the phone: no name, no device data.
    [(name, payload)] = [e for e in sent if e[0] == "scan"]
    assert set(payload) <= SCAN_FIELDS
    assert payload["sid"] == sid and payload["key"] == card["key"] and payload["at"] == "table-3"

    page.reload()
    expect(page.locator("#headline")).to_have_text("Visit 2 recorded", timeout=5000)
    expect(page.locator("#progress-text")).to_have_text(
        "2 of 5 points — 3 more for 10% off your tab"
    )
    assert len(scans_in_stream(r, sid)) == 2
    nonces = [p["nonce"] for n, p in sent if n == "scan"]
    assert len(set(nonces)) == 2, "a reload is a new visit with a new nonce"
    assert cards_in(page)[sid]["key"] == card["key"], "one key per sponsor, kept"

    page.get_by_role("link", name="See all my cards").click()
    item = page.locator(f'li.card[data-sid="{sid}"]')
    expect(item.locator(".card-visits")).to_have_text("2 visits")
    expect(item.locator(".card-points")).to_have_text("2 points")
    item.locator("summary").click()
    expect(item.locator(".history li")).to_have_count(2)
    expect(item.locator(".history li").first).to_contain_text("Visit · table-3")

    # Back to the scan page from the wallet: the same visit, not a new one.
    page.go_back()
    expect(page.locator("#headline")).to_have_text("Visit 2 already recorded", timeout=5000)
    assert len(scans_in_stream(r, sid)) == 2
    assert errors == []
    assert all(u.startswith(service_url + "/") for u in urls), "nothing outside the origin"


def test_cards_are_per_sponsor(service_url, make_sponsor, new_page):
    a = make_sponsor("Fika Sisters", cooldown_min=0)
    b = make_sponsor("Bar Centro", cooldown_min=0)
    page = new_page()
    visit(page, f"{service_url}/s/{a['sid']}", "Visit 1 recorded")
    visit(page, f"{service_url}/s/{b['sid']}", "Visit 1 recorded")
    cards = cards_in(page)
    assert cards[a["sid"]]["key"] != cards[b["sid"]]["key"]

    page.goto(f"{service_url}/wallet")
    expect(page.locator("li.card .card-biz")).to_have_text(["Bar Centro", "Fika Sisters"])


def test_recovery_code_moves_cards_to_a_new_phone(service_url, make_sponsor, new_page):
    sponsor = make_sponsor("Kafé Åsa & 東京", cooldown_min=0)
    sid = sponsor["sid"]
    old = new_page()
    visit(old, f"{service_url}/s/{sid}", "Visit 1 recorded")
    old.reload()
    expect(old.locator("#headline")).to_have_text("Visit 2 recorded", timeout=5000)
    code = recovery_code(old, service_url)

    new = new_page()
    new.goto(f"{service_url}/wallet")
    expect(new.locator("#empty")).to_be_visible()
    import_code(new, code)
    expect(new.locator("#import-msg")).to_have_text("Added 1 card: Kafé Åsa & 東京.")
    item = new.locator(f'li.card[data-sid="{sid}"]')
    expect(item.locator(".card-biz")).to_have_text("Kafé Åsa & 東京")
    expect(item.locator(".card-visits")).to_have_text("2 visits")
    assert cards_in(new)[sid]["key"] == cards_in(old)[sid]["key"]

    # The new phone now counts on the same card.
    visit(new, f"{service_url}/s/{sid}", "Visit 3 recorded")

    # Importing the same code again changes nothing.
    new.goto(f"{service_url}/wallet")
    import_code(new, code)
    expect(new.locator("#import-msg")).to_have_text("Already on this phone: Kafé Åsa & 東京.")


def test_import_never_overwrites_a_different_card(service_url, make_sponsor, new_page):
    sid = make_sponsor(cooldown_min=0)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    before = keys_in(page)
    other = {"v": 1, "cards": {sid: {"key": "x" * 43, "biz": "Fika Sisters"}}}
    code = "ULT1." + base64.urlsafe_b64encode(json.dumps(other).encode()).decode().rstrip("=")

    page.goto(f"{service_url}/wallet")
    import_code(page, code)
    expect(page.locator("#import-msg")).to_contain_text(
        "Kept the card this phone already has for Fika Sisters"
    )
    assert keys_in(page) == before


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("hello", "not a ULT recovery code"),
        ("ULT1.not*base64", "damaged or incomplete"),
        (
            "ULT1." + base64.urlsafe_b64encode(b'{"v": 1, "cards": {"Bad Sid": {}}}').decode(),
            "one of its cards is not valid",
        ),
        ("ULT1." + base64.urlsafe_b64encode(b'{"v": 1, "cards": {}}').decode(), "holds no cards"),
    ],
)
def test_a_malformed_recovery_code_changes_nothing(
    service_url, make_sponsor, new_page, code, message
):
    sid = make_sponsor(cooldown_min=0)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    page.goto(f"{service_url}/wallet")
    expect(page.locator("li.card")).to_have_count(1)
    before = keys_in(page)

    import_code(page, code)
    msg = page.locator("#import-msg")
    expect(msg).to_contain_text(message)
    expect(msg).to_have_class(re.compile("form-msg--error"))
    assert keys_in(page) == before
    expect(page.locator("li.card")).to_have_count(1)


def test_cooldown_is_explained_in_plain_words(service_url, make_sponsor, r, new_page):
    sid = make_sponsor(cooldown_min=45, points_needed=5)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    expect(page.locator("#detail")).to_have_text("Thanks! Your next visit counts in 45 minutes.")
    page.reload()
    expect(page.locator("#headline")).to_have_text("Already counted — thanks!", timeout=5000)
    expect(page.locator("#detail")).to_have_text("Your next visit counts in 45 minutes.")
    expect(page.locator("#result")).to_have_class(re.compile("result--wait"))
    expect(page.locator("#progress-text")).to_have_text(
        "1 of 5 points — 4 more for 10% off your tab"
    )
    expect(page.locator("#retry")).to_be_hidden()
    assert len(scans_in_stream(r, sid)) == 1


def test_daily_cap_is_explained_in_plain_words(service_url, make_sponsor, new_page):
    sid = make_sponsor(cooldown_min=0, daily_cap=1)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    page.reload()
    expect(page.locator("#headline")).to_have_text("That's all the visits for today", timeout=5000)
    expect(page.locator("#detail")).to_have_text(
        re.compile(r"^Your next visit counts in \d+ (hour|minute)")
    )


def test_unknown_sid_gets_the_not_found_page(service_url, new_page):
    page = new_page()
    response = page.goto(f"{service_url}/s/no-such-place")
    assert response.status == 404
    expect(page.get_by_role("heading")).to_have_text("We don't know this QR code")
    expect(page.locator(".sid")).to_have_text("no-such-place")
    expect(page.get_by_role("link", name="See my cards")).to_be_visible()


def test_a_sponsor_removed_after_the_page_loaded_is_explained(
    service_url, make_sponsor, r, new_page
):
    sid = make_sponsor(cooldown_min=0)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    r.delete(f"ult:{{{sid}}}:profile")  # as if the business left between page load and scan
    page.goto(f"{service_url}/wallet")
    expect(page.locator(".card-note")).to_have_text("This business has left ULT.")


def test_a_hostile_business_name_is_shown_as_text(service_url, make_sponsor, new_page):
    name = "<img src=x onerror=alert(1)>"
    sid = make_sponsor(name, cooldown_min=0)["sid"]
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    expect(page.locator("#biz")).to_have_text(name)
    page.goto(f"{service_url}/wallet")
    expect(page.locator("li.card .card-biz")).to_have_text(name)
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_no_server_shows_a_retry_and_the_retry_counts_once(service_url, make_sponsor, r, new_page):
    sid = make_sponsor(cooldown_min=0)["sid"]
    page = new_page()
    blocked = {"on": True}

    def socket_route(ws) -> None:
        if blocked["on"]:
            ws.close()
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), socket_route)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text("Can't reach ULT", timeout=8000)
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    assert scans_in_stream(r, sid) == []

    blocked["on"] = False
    retry.click()
    expect(page.locator("#headline")).to_have_text("Visit 1 recorded", timeout=10000)
    expect(retry).to_be_hidden()
    assert len(scans_in_stream(r, sid)) == 1


def test_every_protocol_error_has_friendly_words(service_url, new_page):
    """Each error code of docs/protocol.md gets its own words (sponsor-only ones excepted)."""
    doc = (ROOT / "docs" / "protocol.md").read_text()
    section = doc.split("## Error codes", 1)[1].split("##", 1)[0]
    codes = re.findall(r"`([a-z_]+)`", section)
    assert "cooldown" in codes and "unknown_sponsor" in codes
    page = new_page()
    page.goto(f"{service_url}/wallet")
    words = page.evaluate(
        """async (codes) => {
            const m = await import("/static/js/common.js");
            const out = {};
            for (const code of [...codes, "offline"]) {
              out[code] = m.friendlyError({ok: false, error: {code, message: "x"}, next_scan_in: 2520});
            }
            out.durations = [20, 2520, 3600, 5400, 86400].map(m.humanDuration);
            return out;
        }""",
        codes,
    )
    generic = words["server_error"]["title"]
    for code in codes:
        if code in ("server_error", "unauthorized", "too_many_attempts"):  # sponsor-only
            continue
        assert words[code]["title"] != generic, f"{code} has no words of its own"
    assert words["cooldown"]["detail"] == "Your next visit counts in 42 minutes."
    assert words["durations"] == [
        "a few seconds",
        "42 minutes",
        "1 hour",
        "1 hour 30 minutes",
        "1 day",
    ]


def test_the_wallet_opens_offline(service_url, make_sponsor, new_page):
    sid = make_sponsor(cooldown_min=0)["sid"]
    page = new_page()
    visit(page, f"{service_url}/s/{sid}", "Visit 1 recorded")
    page.goto(f"{service_url}/wallet")
    expect(page.locator("li.card .card-visits")).to_have_text("1 visit")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    # The shell is cached once the worker is active (whatever the cache's version).
    page.wait_for_function("caches.match('/wallet').then(Boolean)", timeout=5000)

    page.context.set_offline(True)
    try:
        page.reload()
        expect(page.get_by_role("heading", name="My cards")).to_be_visible()
        expect(page.locator("li.card .card-visits")).to_have_text("1 visit")
        expect(page.locator("#status")).to_contain_text("Offline")
        # A scan page cannot count offline, and says so.
        page.goto(f"{service_url}/s/{sid}")
        expect(page.get_by_role("heading")).to_have_text("You're offline")
    finally:
        page.context.set_offline(False)


def test_pwa_manifest_and_icons(service_url, new_page):
    page = new_page()
    manifest = page.goto(f"{service_url}/manifest.webmanifest").json()
    assert manifest["name"] == "ULT Loyalty" and manifest["start_url"] == "/wallet"
    assert manifest["display"] == "standalone"
    sizes = {i["sizes"] for i in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert page.goto(service_url + icon["src"]).headers["content-type"] == "image/png"


def _fits_a_phone(page: Page) -> None:
    """No sideways scrolling, and every button and link is a comfortable tap target."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, a.button, .topbar-link, summary')]
               .filter(e => e.offsetParent && e.getBoundingClientRect().height < 44)
               .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert small == []


def test_phone_layout_and_screenshots(service_url, make_sponsor, new_page, tmp_path):
    """Phone-sized pages; ULT_SCREENSHOTS=1 writes them to docs/img for the README."""
    out = ROOT / "docs" / "img" if os.environ.get("ULT_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    fika = make_sponsor("Fika Sisters", cooldown_min=0, points_needed=5)["sid"]
    bar = make_sponsor("Bar Centro", cooldown_min=0, points_needed=10, reward="A free drink")["sid"]
    books = make_sponsor("Bokhandeln", cooldown_min=0, points_needed=3, reward="A free tote bag")
    page = new_page(**PHONE)
    for sid, n in ((bar, 4), (books["sid"], 3), (fika, 3)):
        for i in range(1, n + 1):
            visit(page, f"{service_url}/s/{sid}?at=counter", f"Visit {i} recorded")
    _fits_a_phone(page)
    page.screenshot(path=str(out / "customer-scan.png"))

    page.goto(f"{service_url}/wallet")
    item = page.locator(f'li.card[data-sid="{fika}"]')
    expect(item.locator(".card-visits")).to_have_text("3 visits")
    expect(page.locator(".card-progress--ready")).to_have_count(1)
    item.locator("summary").click()
    _fits_a_phone(page)
    page.screenshot(path=str(out / "customer-wallet.png"))
