"""The words a customer reads, in real Chromium against the real service, in several languages:
a business's own text keeps its direction in Arabic sentences, the voucher says how many
minutes it is valid, points past the goal read right, times are written the locale's way,
plurals follow the language's rules for the right number, and a new business's default reward
is in its country's language.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from support.browser import PHONE

from ult import run
from ult.rules import default_rule, get_rule
from ult.sponsors import register
from ult.staff import create_staff_key

pytestmark = pytest.mark.browser

REWARD = "10% off your tab"
# locale → headline of a first visit
FIRST_VISIT = {
    "en-US": "Visit 1 recorded",
    "ar-EG": "تم تسجيل الزيارة 1",
    "sv-SE": "Besök 1 registrerat",
    "de-DE": "Besuch 1 erfasst",
}


def scan(page: Page, url: str, locale: str) -> None:
    page.goto(url)
    expect(page.locator("#headline")).to_have_text(FIRST_VISIT[locale], timeout=8000)


def isolated(page: Page, selector: str) -> list[str]:
    """The texts of ``selector``'s <bdi> elements (each isolated from the sentence's direction)."""
    return page.locator(f"{selector} bdi").all_text_contents()


def digits(page: Page, n: int) -> str:
    return page.evaluate("n => new Intl.NumberFormat('ar').format(n)", n)


def claim(page: Page) -> None:
    box = page.locator("#claim")
    box.locator(".claim-button").click()
    box.locator(".claim-confirm").click()


def test_business_text_is_isolated_in_arabic(service_url, make_sponsor, new_page) -> None:
    sponsor = make_sponsor("Café Ljus", points_needed=1, cooldown_min=0, reward=REWARD)
    page = new_page(locale="ar-EG", **PHONE)
    scan(page, f"{service_url}/s/{sponsor['sid']}", "ar-EG")
    assert isolated(page, "#biz") == ["Café Ljus"]
    assert isolated(page, "#progress-text") == [REWARD]
    assert isolated(page, "#claim .claim-reward") == [REWARD]
    bdi = page.locator("#progress-text bdi")
    assert bdi.evaluate("b => getComputedStyle(b).unicodeBidi") == "isolate"
    page.locator("#claim .claim-button").click()
    assert isolated(page, "#claim .claim-title") == [REWARD]
    page.locator("#claim .claim-confirm").click()
    expect(page.locator("#voucher")).to_be_visible(timeout=5000)
    assert isolated(page, "#voucher-biz") == ["Café Ljus"]
    assert isolated(page, "#voucher-reward") == [REWARD]

    page.goto(f"{service_url}/wallet")
    card = page.locator(f'li.card[data-sid="{sponsor["sid"]}"]')
    expect(card.locator(".card-progress")).to_be_visible(timeout=8000)
    assert isolated(page, ".card-biz") == ["Café Ljus"]
    assert REWARD in isolated(page, ".card-progress")
    assert REWARD in isolated(page, ".claim-reward")


def test_staff_names_and_rewards_are_isolated(service_url, make_sponsor, r, new_page) -> None:
    s = make_sponsor("Café Ljus", points_needed=1, approval="staff", reward="kanelbulle!")
    staff_key = run(r, create_staff_key(s["sid"], s["owner_key"], "Kassa 1"))
    phone = new_page(locale="ar-EG", **PHONE)
    scan(phone, f"{service_url}/s/{s['sid']}", "ar-EG")
    claim(phone)
    expect(phone.locator("#claim .claim-code")).to_be_visible(timeout=5000)
    assert isolated(phone, "#claim .claim-small") == ["kanelbulle!"]

    till = new_page(locale="ar-EG", **PHONE)
    till.goto(f"{service_url}/staff")
    till.locator("#setup-sid").fill(s["sid"])
    till.locator("#setup-key").fill(staff_key)
    till.locator("#setup button[type=submit]").click()
    expect(till.locator("#pending .staff-approve")).to_be_visible(timeout=10_000)
    assert isolated(till, "#status") == ["Café Ljus", "Kassa 1"]
    assert isolated(till, "#pending .staff-reward") == ["kanelbulle!"]
    till.locator("#pending .staff-approve").click()
    expect(till.locator("#vouchers .staff-redeem")).to_be_visible()
    till.locator("#vouchers .staff-redeem").click()
    expect(till.locator("#vouchers .staff-claim--redeemed")).to_be_visible()
    assert isolated(till, "#vouchers .staff-claim-status") == ["Kassa 1"]


@pytest.mark.parametrize(
    ("locale", "valid"),
    [
        ("en-US", r"^Valid for 1[45] minutes$"),
        ("sv-SE", r"^Gäller i 1[45] minuter$"),
        ("de-DE", r"^Gültig für 1[45] Minuten$"),
        ("ar-EG", r"^صالحة لمدة \S+ دقيقة$"),
    ],
)
def test_the_voucher_says_minutes(service_url, make_sponsor, new_page, locale, valid) -> None:
    sid = make_sponsor("Café Ljus", points_needed=1, voucher_min=15, reward=REWARD)["sid"]
    page = new_page(locale=locale, **PHONE)
    scan(page, f"{service_url}/s/{sid}", locale)
    claim(page)
    expect(page.locator("#voucher")).to_be_visible(timeout=5000)
    expect(page.locator("#voucher-left")).to_have_text(re.compile(valid))
    page.locator("#voucher-close").click()
    expect(page.locator("#claim .claim-text")).to_have_text(re.compile(valid))


@pytest.mark.parametrize(
    ("locale", "ready"),
    [
        ("en-US", f"2 points — enough for {REWARD}!"),
        ("sv-SE", f"2 poäng — räcker till {REWARD}!"),
        ("ar-EG", f"نقطتان — تكفيان لـ {REWARD}!"),
    ],
)
def test_points_past_the_goal(service_url, make_sponsor, new_page, locale, ready) -> None:
    sid = make_sponsor("Café Ljus", points_needed=1, cooldown_min=0, reward=REWARD)["sid"]
    page = new_page(locale=locale, **PHONE)
    scan(page, f"{service_url}/s/{sid}", locale)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#points")).not_to_have_text(re.compile("1"), timeout=8000)
    expect(page.locator("#progress-text")).to_have_text(ready)


@pytest.mark.parametrize(("needed", "word"), [(10, "نقاط"), (11, "نقطة"), (2, "نقطتين")])
def test_arabic_progress_agrees_with_the_goal(
    service_url, make_sponsor, new_page, needed, word
) -> None:
    """ "1 of 10 points": Arabic says نقاط after 3–10, نقطة after 11–99, a dual for 2."""
    sid = make_sponsor("Café Ljus", points_needed=needed, reward=REWARD)["sid"]
    page = new_page(locale="ar-EG", **PHONE)
    scan(page, f"{service_url}/s/{sid}", "ar-EG")
    text = page.locator("#progress-text").inner_text()
    goal = "" if needed == 2 else f"{digits(page, needed)} "
    assert f"{digits(page, 1)} من {goal}{word} — " in text, text


@pytest.mark.parametrize(
    ("locale", "afternoon", "morning"),
    [
        ("en-US", "2:05 PM", "9:05 AM"),
        ("en-GB", "14:05", "9:05"),
        ("sv-SE", "14:05", "9:05"),
        ("de-DE", "14:05", "9:05"),
    ],
)
def test_times_as_the_locale_writes_them(service_url, new_page, locale, afternoon, morning) -> None:
    page = new_page(locale=locale, timezone_id="UTC", **PHONE)
    page.goto(f"{service_url}/wallet")
    times = page.evaluate(
        """async () => {
            const m = await import("/static/js/common.js");
            const at = (h) => Date.UTC(2026, 0, 6, h, 5, 9);
            return [m.timeText(at(14)), m.timeText(at(9)), m.timeText(at(14), {seconds: true})];
        }"""
    )
    times = [re.sub(r"\s", " ", t) for t in times]
    assert times[:2] == [afternoon, morning]
    assert times[2].startswith(afternoon.split(" ")[0] + ":09")


def test_times_in_arabic_use_the_page_language(service_url, new_page) -> None:
    page = new_page(locale="ar-EG", timezone_id="UTC", **PHONE)
    page.goto(f"{service_url}/wallet")
    text = page.evaluate(
        """async () => (await import("/static/js/common.js")).timeText(Date.UTC(2026, 0, 6, 14, 5))"""
    )
    expected = page.evaluate(
        "new Intl.DateTimeFormat('ar-EG', {hour: 'numeric', minute: '2-digit'})"
        ".format(Date.UTC(2026, 0, 6, 14, 5))"
    )
    assert text == expected and not text.startswith(("0", "٠"))


@pytest.mark.parametrize(
    ("country", "locale"),
    [("SE", "sv-SE"), ("DE", "de-DE"), ("US", "en-US"), ("EG", "ar-EG")],
)
def test_a_new_business_gets_the_default_reward_in_its_language(
    service_url, r, new_page, country, locale
) -> None:
    lang = locale[:2]
    reg = register(r, "Café Ljus", "Storgatan 1", country, f"local:test-{uuid.uuid4().hex}")
    reward = run(r, get_rule(reg.sid)).reward
    assert reward == default_rule(lang).reward
    if lang != "en":
        assert reward != default_rule("en").reward
    page = new_page(locale=locale, **PHONE)
    scan(page, f"{service_url}/s/{reg.sid}", locale)
    assert isolated(page, "#progress-text") == [reward]
