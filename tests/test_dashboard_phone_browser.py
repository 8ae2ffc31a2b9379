"""The dashboard on a phone (390 px) and a desktop (1280 px), in English, German, Arabic and
the pseudo-locale (en-XA: every catalog sentence accented and ~40% longer).

Every tab is opened with a business that has scans and claims. On each: every tab title shows
whole, no label is cut, nothing sticks out past the viewport's edge except inside a box that
scrolls; in the pseudo-locale no visible text with ASCII letters is left (it did not pass
through the catalog), apart from the business's own words, ids and codes. Loading the page
and opening its tabs logs no error to the browser's console, nor JupyterLab's version
warnings or anywidget's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import redis
from playwright.sync_api import ConsoleMessage, Page, expect
from support.browser import REWARD, open_as_owner, sponsor_via_core, unique

from ult import run
from ult.claims import claim, decide
from ult.i18n import NAMES, first_supported, translate
from ult.identity import new_secret
from ult.scans import scan

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "dashboard-phone-de.png"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TAB_COUNT = 6
# console warnings a page must not log: module federation's version mismatches, anywidget's
NAMED_WARNINGS = re.compile(r"Unsatisfied version|No satisfying version|\[anywidget\]")

# Elements whose boxes must show their whole text; the tab titles among them.
LABELS = ".ult-app .widget-label, .ult-app .lm-TabBar-tabLabel, .ult-app label, .ult-app button"

# What sticks out: visible elements of the app whose box reaches past the viewport, unless an
# ancestor inside the viewport scrolls (or clips) them; and labels narrower than their text.
LAYOUT_JS = """(labels) => {
  const width = document.documentElement.clientWidth;
  const shown = (el) => el.offsetParent !== null && el.getClientRects().length > 0;
  const scrolled = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (/(auto|scroll|hidden)/.test(s.overflowX)) {
        const r = a.getBoundingClientRect();
        if (r.right <= width + 1 && r.left >= -1) return true;
      }
    }
    return false;
  };
  const name = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`
    + ` "${(el.textContent || "").trim().slice(0, 40)}"`;
  const outside = [];
  for (const el of document.querySelectorAll(".ult-app *")) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    if ((r.right > width + 1 || r.left < -1) && !scrolled(el)) outside.push(name(el));
  }
  const cut = [];
  for (const el of document.querySelectorAll(labels)) {
    if (shown(el) && el.scrollWidth > el.clientWidth + 1) {
      cut.push(`${name(el)} ${el.scrollWidth}>${el.clientWidth}`);
    }
  }
  return {outside: outside.slice(0, 12), cut, page: document.documentElement.scrollWidth - width};
}"""

# Visible text of the app, one entry per text node (inputs' values are the sponsor's own).
TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector(".ult-app"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.textContent.trim();
    if (!text || !el || el.closest("style, script, option, code, .ult-cid, .ult-claim-code,"

        + " .ult-claim-code-small, .ult-logo, .ult-scan-url, .ult-poster-preview, .ult-counter-qr")) continue;
    if (el.offsetParent === null && getComputedStyle(el).position !== "fixed") continue;
    out.push(text);
  }
  for (const el of document.querySelectorAll(".ult-app select")) {
    if (el.offsetParent !== null && el.selectedOptions[0]) out.push(el.selectedOptions[0].text);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def business(redis_url: str):
    """A business with visits, a claim waiting for staff and an approved voucher."""
    rc = redis.Redis.from_url(redis_url, decode_responses=True)
    biz = sponsor_via_core(
        rc, unique("Fika Sisters"), points_needed=2, approval="staff", cooldown_min=0
    )
    for _ in range(2):
        card = new_secret()
        for _visit in range(2):
            run(rc, scan(biz.sid, card, at="table-1"))
        made, _created = run(rc, claim(biz.sid, card))
    run(rc, decide(biz.sid, biz.owner_key, made.id, "approve"))
    rc.close()
    return biz


def open_page(
    new_page,
    url: str,
    business,
    locale: str,
    viewport: dict,
    console: list[ConsoleMessage] | None = None,
) -> Page:
    """The dashboard of ``business`` in a browser of ``locale``, once worded in its language;
    ``console`` collects what the page logs."""
    page = new_page(locale=locale, viewport=viewport)
    if console is not None:
        page.on("console", lambda message: console.append(message))
    open_as_owner(page, url, business)
    brand = translate(first_supported([locale]), "Sponsor dashboard")
    expect(page.locator(".ult-brand-text")).to_have_text(brand, timeout=30_000)
    expect(tabs(page).first).to_have_text(translate(first_supported([locale]), "Live"))
    return page


def tabs(page: Page):
    return page.locator(".ult-tabs .lm-TabBar-tab")


def each_tab(page: Page):
    """Open every tab in turn, yielding its title."""
    for index in range(TAB_COUNT):
        tab = tabs(page).nth(index)
        tab.click()
        expect(tab).to_have_class(re.compile("lm-mod-current"))
        page.wait_for_timeout(250)  # the panel's widgets lay out
        yield tab.inner_text()


def check_layout(page: Page, where: str) -> None:
    found = page.evaluate(LAYOUT_JS, LABELS)
    assert found["page"] <= 1, f"{where}: the page scrolls sideways: {found}"
    assert not found["outside"], f"{where}: past the viewport's edge: {found['outside']}"
    assert not found["cut"], f"{where}: labels cut: {found['cut']}"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("locale", ["en-US", "de-DE", "ar"])
def test_every_tab_fits(dashboard_url, business, new_page, locale, viewport) -> None:
    console: list[ConsoleMessage] = []
    page = open_page(new_page, dashboard_url, business, locale, viewport, console)
    for title in each_tab(page):
        check_layout(page, f"{locale} {viewport['width']} px, tab {title!r}")
    print(f"{locale} {viewport['width']} px: {len(console)} console messages")
    bad = [m for m in console if m.type == "error" or NAMED_WARNINGS.search(m.text)]
    assert not bad, f"the console: {[f'{m.type}: {m.text[:300]}' for m in bad]}"
    if locale == "de-DE" and viewport == PHONE and os.environ.get("ULT_SCREENSHOTS"):
        tabs(page).nth(3).click()  # the claims: the table that scrolls in its box
        page.wait_for_timeout(300)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))  # the README's picture


def untranslated(texts: list[str], own: list[str]) -> list[str]:
    """Texts with ASCII letters once the business's own words, ids and the brand are gone."""
    left = []
    for text in texts:
        rest = " ".join(text.split())
        for word in own:
            rest = rest.replace(word, "")
        rest = re.sub(r"https?://\S+|\bULT\b|\b[0-9a-f]{6,}\b", "", rest)
        if re.search(r"[A-Za-z]", rest):
            left.append(text)
    return left


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_pseudo_locale_shows_only_catalog_text(
    dashboard_url, business, new_page, viewport
) -> None:
    page = open_page(new_page, dashboard_url, business, "en-XA", viewport)
    own = [business.biz, business.sid, business.formatted_address, "table-1", "ULT_PUBLIC_URL"]
    own += [REWARD, *NAMES.values()]  # the reward and language names: theirs
    problems = {}
    for title in each_tab(page):
        left = untranslated(page.evaluate(TEXT_JS), own)
        if left:
            problems[title] = sorted(set(left))
        check_layout(page, f"en-XA {viewport['width']} px, tab {title!r}")
    assert page.title() != "ULT — Sponsor dashboard"
    assert not problems, f"text that did not pass through the catalog: {problems}"


# Resource timing of the widget extensions' content-named files: bytes that came over the wire
# (0 for a cache hit; a revalidation's 304 costs its headers and a round trip).
EXTENSION_FILES_JS = """() => performance.getEntriesByType("resource")
  .filter((e) => e.name.includes("/voila/labextensions/") && /\\.[0-9a-f]{8,}\\.js(\\?|$)/.test(e.name))
  .map((e) => [e.name, e.transferSize])"""


def test_a_returning_page_takes_extension_files_from_its_cache(
    dashboard_url, business, new_page
) -> None:
    """A phone on slow data must not ask again for files that cannot have changed."""
    page = open_page(new_page, dashboard_url, business, "en-US", PHONE)
    first = page.evaluate(EXTENSION_FILES_JS)
    assert first and all(size > 0 for _, size in first), f"first load over the wire: {first}"
    page.reload()
    expect(tabs(page).first).to_have_text(translate("en", "Live"), timeout=30_000)
    again = page.evaluate(EXTENSION_FILES_JS)
    assert len(again) == len(first), f"the same files: {again}"
    asked = [name for name, size in again if size > 0]
    assert not asked, f"asked the server again for {len(asked)} of {len(again)}: {asked}"
