"""The customer and staff pages pass axe-core's WCAG 2.2 A/AA rules, in real Chromium on a
phone, in English and in Arabic (right to left): no serious or critical violation.

Each page is checked in the states a customer meets: a counted visit, a refusal (cooldown),
the voucher, the wallet with a card unfolded, the staff page before and after signing in, and
the page of an unknown QR code. The result of a scan is announced: the live region holds it.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from support.browser import PHONE

from ult import run
from ult.staff import create_staff_key

pytestmark = pytest.mark.browser

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SEVERE = ("serious", "critical")
# locale → (first visit's headline, cooldown headline)
WORDS = {
    "en-US": ("Visit 1 recorded", "Already counted — thanks!"),
    "ar-EG": ("تم تسجيل الزيارة 1", None),
}
LOCALES = list(WORDS)
AXE = Axe()


def severe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.2 A/AA violations on ``page``, one line each."""
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    results = AXE.run(page, options=options).response
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:5])
        for v in results["violations"]
        if v.get("impact") in SEVERE
    ]


def assert_accessible(page: Page, state: str) -> None:
    found = severe_violations(page)
    assert not found, f"{state}: {len(found)} serious/critical axe violations:\n" + "\n".join(found)


def phone(new_page, locale: str) -> Page:
    page = new_page(locale=locale, **PHONE)
    errors: list = []
    page.on("pageerror", lambda e: errors.append(e))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def first_visit(page: Page, url: str, locale: str) -> None:
    page.goto(url)
    expect(page.locator("#headline")).to_have_text(WORDS[locale][0], timeout=8000)


def announced(page: Page) -> str:
    """The text of the scan page's live region (what a screen reader announces)."""
    region = page.locator('[aria-live="polite"]#result, #result[role="status"]')
    expect(region).to_have_count(1)
    return region.inner_text()


@pytest.mark.parametrize("locale", LOCALES)
def test_scan_page_after_a_visit(service_url, make_sponsor, new_page, locale) -> None:
    sid = make_sponsor("Café Ljus", points_needed=5, reward="kanelbulle!")["sid"]
    page = phone(new_page, locale)
    first_visit(page, f"{service_url}/s/{sid}", locale)
    assert WORDS[locale][0] in announced(page)
    assert_accessible(page, f"scan page, visit recorded ({locale})")
    assert not page.errors


@pytest.mark.parametrize("locale", LOCALES)
def test_scan_page_after_a_refusal(service_url, make_sponsor, new_page, locale) -> None:
    sid = make_sponsor("Café Ljus", points_needed=5, cooldown_min=60)["sid"]
    page = phone(new_page, locale)
    first_visit(page, f"{service_url}/s/{sid}", locale)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#result")).to_have_class("result result--wait", timeout=8000)
    headline = page.locator("#headline").inner_text()
    if WORDS[locale][1]:
        assert headline == WORDS[locale][1]
    assert headline and headline in announced(page)
    assert_accessible(page, f"scan page, cooldown ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_scan_page_with_an_error(service_url, make_sponsor, new_page, locale) -> None:
    """The scan page when the service cannot be reached: an error, and Try again."""
    sid = make_sponsor("Café Ljus")["sid"]
    page = phone(new_page, locale)
    page.route_web_socket("**/socket.io/**", lambda ws: ws.close())
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#retry")).to_be_visible(timeout=10_000)
    expect(page.locator("#result")).to_have_class("result result--error")
    headline = page.locator("#headline").inner_text()
    assert headline and headline in announced(page)
    assert_accessible(page, f"scan page, error ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_unknown_qr_code_page(service_url, new_page, locale) -> None:
    page = phone(new_page, locale)
    answer = page.goto(f"{service_url}/s/not-a-sponsor-xyz")
    assert answer is not None and answer.status == 404
    assert_accessible(page, f"unknown QR code ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_voucher(service_url, make_sponsor, new_page, locale) -> None:
    sid = make_sponsor("Café Ljus", points_needed=1, reward="10% off your tab")["sid"]
    page = phone(new_page, locale)
    first_visit(page, f"{service_url}/s/{sid}", locale)
    box = page.locator("#claim")
    expect(box.locator(".claim-button")).to_be_visible()
    assert_accessible(page, f"scan page, reward ready ({locale})")
    box.locator(".claim-button").click()
    expect(box.locator(".claim-confirm")).to_be_enabled()
    assert_accessible(page, f"scan page, claim confirmation ({locale})")
    box.locator(".claim-confirm").click()
    expect(page.locator("#voucher")).to_be_visible(timeout=5000)
    assert_accessible(page, f"voucher ({locale})")
    page.locator("#voucher-close").click()
    expect(box.locator(".claim-show")).to_be_visible()
    assert_accessible(page, f"scan page, voucher link ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_wallet(service_url, make_sponsor, new_page, locale) -> None:
    sid = make_sponsor("Café Ljus", points_needed=5, reward="kanelbulle!")["sid"]
    page = phone(new_page, locale)
    page.goto(f"{service_url}/wallet")
    expect(page.locator("#empty")).to_be_visible()
    assert_accessible(page, f"empty wallet ({locale})")
    first_visit(page, f"{service_url}/s/{sid}", locale)
    page.goto(f"{service_url}/wallet")
    card = page.locator(f'li.card[data-sid="{sid}"]')
    expect(card.locator(".card-progress")).to_be_visible(timeout=8000)
    card.locator("summary").click()
    page.locator("#export summary").click()
    page.locator("#import summary").click()
    expect(page.locator("#export-code")).not_to_have_value("")
    assert_accessible(page, f"wallet ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_staff_page(service_url, make_sponsor, r, new_page, locale) -> None:
    s = make_sponsor("Café Ljus", points_needed=1, approval="staff", reward="kanelbulle!")
    staff_key = run(r, create_staff_key(s["sid"], s["owner_key"], "Till 1"))
    customer = phone(new_page, locale)
    first_visit(customer, f"{service_url}/s/{s['sid']}", locale)
    customer.locator("#claim .claim-button").click()
    customer.locator("#claim .claim-confirm").click()
    expect(customer.locator("#claim .claim-code")).to_be_visible(timeout=5000)
    assert_accessible(customer, f"scan page, claim waiting ({locale})")

    till = phone(new_page, locale)
    till.goto(f"{service_url}/staff")
    expect(till.locator("#setup")).to_be_visible()
    assert_accessible(till, f"staff page, sign-in ({locale})")
    till.locator("#setup-sid").fill(s["sid"])
    till.locator("#setup-key").fill(staff_key)
    till.locator("#setup button[type=submit]").click()
    expect(till.locator("#pending .staff-approve")).to_be_visible(timeout=10_000)
    assert_accessible(till, f"staff page, a claim waiting ({locale})")
    till.locator("#pending .staff-approve").click()
    expect(till.locator("#vouchers .staff-redeem")).to_be_visible()
    assert_accessible(till, f"staff page, a voucher ({locale})")


@pytest.mark.parametrize("locale", LOCALES)
def test_offline_page(service_url, new_page, locale) -> None:
    page = phone(new_page, locale)
    page.goto(f"{service_url}/static/offline.html")
    assert_accessible(page, f"offline page ({locale})")
