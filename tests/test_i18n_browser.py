"""Customer pages and the dashboard in real Chromium with the browser's language set.

Set ULT_SCREENSHOTS=1 to refresh docs/img/customer-scan-sv.png and customer-scan-ar.png
(the README shows them side by side).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# locale → (lang, dir, headline of a first visit, points line, eyebrow)
SCAN_WORDS = {
    "sv-SE": ("sv", "ltr", "Besök 1 registrerat", "1 poäng", "Ditt stämpelkort hos"),
    "de-DE": ("de", "ltr", "Besuch 1 erfasst", "1 Punkt", "Deine Treuekarte bei"),
    "fr-FR": ("fr", "ltr", "Visite 1 enregistrée", "1 point", "Votre carte de fidélité chez"),
    "es-ES": ("es", "ltr", "Visita 1 registrada", "1 punto", "Tu tarjeta de fidelidad en"),
    "ar-EG": ("ar", "rtl", "تم تسجيل الزيارة 1", "نقطة واحدة", "بطاقة ولائك لدى"),
    "ja-JP": ("en", "ltr", "Visit 1 recorded", "1 point", "Your loyalty card at"),  # no catalog
}


def html_lang(page: Page) -> tuple[str, str]:
    return tuple(page.evaluate("[document.documentElement.lang, document.documentElement.dir]"))


@pytest.mark.parametrize("locale", list(SCAN_WORDS))
def test_scan_page_in_the_browser_language(service_url, make_sponsor, new_page, locale) -> None:
    lang, direction, headline, points, eyebrow = SCAN_WORDS[locale]
    sid = make_sponsor("Fika Sisters", points_needed=5, reward="A free bun")["sid"]
    page = new_page(locale=locale, **PHONE)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text(headline, timeout=8000)
    assert html_lang(page) == (lang, direction)
    expect(page.locator("#points")).to_have_text(points)
    expect(page.locator(".eyebrow")).to_have_text(eyebrow)
    if lang == "ar":  # mirrored: the brand starts on the right, the wallet link on the left
        brand = page.locator(".brand").bounding_box()
        link = page.locator(".topbar-link").bounding_box()
        assert brand["x"] > link["x"]
    if lang in ("sv", "ar"):
        out = ROOT / "docs" / "img" if os.environ.get("ULT_SCREENSHOTS") else None
        if out:
            page.screenshot(path=str(out / f"customer-scan-{lang}.png"))


def test_wallet_in_swedish_with_relative_time(service_url, make_sponsor, new_page) -> None:
    sid = make_sponsor("Fika Sisters", points_needed=5, reward="En bulle")["sid"]
    page = new_page(locale="sv-SE", **PHONE)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text("Besök 1 registrerat", timeout=8000)
    page.goto(f"{service_url}/wallet")
    assert html_lang(page) == ("sv", "ltr")
    expect(page.locator("h1")).to_have_text("Mina kort")
    card = page.locator(f'li.card[data-sid="{sid}"]')
    expect(card.locator(".card-visits")).to_have_text("1 besök")
    expect(card.locator(".card-progress")).to_have_text("1 av 5 poäng — 4 till för En bulle")
    card.locator("summary").click()
    # Intl.RelativeTimeFormat: the default rule counts one visit an hour
    expect(card.locator(".fact", has_text="Nästa besök räknas")).to_contain_text("om 1 timme")


def test_voucher_in_german(service_url, make_sponsor, new_page) -> None:
    sid = make_sponsor("Fika Sisters", points_needed=1, reward="Ein Franzbrötchen")["sid"]
    page = new_page(locale="de-DE", **PHONE)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text("Besuch 1 erfasst", timeout=8000)
    box = page.locator("#claim")
    box.get_by_role("button", name="Jetzt einlösen").click()
    expect(box.locator(".claim-text")).to_have_text(
        "Zeig das jetzt dem Personal — der Gutschein gilt 15 Minuten."
    )
    box.get_by_role("button", name="Ja, einlösen").click()
    voucher = page.locator("#voucher")
    expect(voucher).to_be_visible(timeout=5000)
    expect(page.locator("#voucher-hint")).to_have_text("Zeig diesen Bildschirm dem Personal")
    expect(page.locator("#voucher-left")).to_contain_text("Gültig für")
    expect(page.locator("#points")).to_have_text("0 Punkte")


def test_arabic_plural_forms_and_numbers_in_the_page(service_url, new_page) -> None:
    page = new_page(locale="ar")
    page.goto(f"{service_url}/wallet")
    assert html_lang(page) == ("ar", "rtl")
    words = page.evaluate(
        """async () => {
            const m = await import("/static/js/common.js");
            return {
              points: [0, 1, 2, 3, 11, 100].map((n) => m.count("points", n)),
              waits: [2520, 3600].map(m.relativeWait),
            };
        }"""
    )
    digits = [page.evaluate(f"new Intl.NumberFormat('ar').format({n})") for n in (3, 11, 100)]
    assert words["points"] == [
        "لا نقاط", "نقطة واحدة", "نقطتان", f"{digits[0]} نقاط", f"{digits[1]} نقطة",
        f"{digits[2]} نقطة",
    ]  # fmt: skip
    assert all(w.strip() for w in words["waits"]) and words["waits"][0] != words["waits"][1]


@pytest.mark.slow
def test_a_german_browser_gets_a_german_dashboard(dashboard_url, new_page) -> None:
    page = new_page(locale="de-DE")
    page.goto(dashboard_url)
    expect(page.locator(".ult-biz-name")).to_have_text("Willkommen", timeout=30_000)
    expect(page.locator(".ult-brand-text")).to_have_text("Dashboard für Geschäfte")
    expect(page.get_by_role("combobox", name="Sprache")).to_have_value("Deutsch")  # the switcher
