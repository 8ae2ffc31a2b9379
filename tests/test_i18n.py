"""The languages: catalogs complete and in step with the code, language choice, plurals and
waits at their boundaries, pages and posters in the browser's (or the business's) language."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
import redis
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from ult.dashboard import Context, Dashboard
from ult.dashboard.app import CLAIMS_TAB
from ult.i18n import (
    LANGUAGES,
    first_supported,
    language_of_country,
    negotiate,
    plural_samples,
    translate_plural,
    use,
)
from ult.messages import PLURALS, TEXTS, format_message, in_words, page_catalog, wait_parts
from ult.qr import poster_html
from ult.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "ult" / "locale"
PAGES = ROOT / "ult" / "service"
KEYWORDS = {"_": None, "N_": None, "NP_": (1, 2)}


def source_messages() -> set[object]:
    """Every message marked in the code (what `make i18n` extracts)."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "ult"), keywords=KEYWORDS, comment_tags=()
    ):
        found.add(tuple(message) if isinstance(message, (list, tuple)) else message)
    return found


@pytest.mark.parametrize("lang", LANGUAGES[1:])
def test_catalog_has_every_message_and_no_unused_one(lang: str) -> None:
    with open(LOCALE / lang / "LC_MESSAGES" / "ult.po", "rb") as f:
        catalog = read_po(f, locale=lang)
    ids = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}
    wanted = source_messages()
    assert wanted - ids == set(), "run `make i18n` and translate the new messages"
    assert ids - wanted == set(), "messages no code uses any more: run `make i18n`"
    for message in catalog:
        if message.id:
            forms = [message.string] if isinstance(message.string, str) else message.string
            assert all(forms) and "fuzzy" not in message.flags, message.id
            assert len(forms) == (catalog.num_plurals if message.pluralizable else 1)
            for form in forms:  # the same placeholders as the English (except {n})
                english = message.id if isinstance(message.id, str) else message.id[1]
                names = set(re.findall(r"\{(\w+)\}", english)) - {"n"}
                assert set(re.findall(r"\{(\w+)\}", form)) - {"n"} == names, (message.id, form)
    with open(LOCALE / lang / "LC_MESSAGES" / "ult.mo", "rb") as f:
        compiled = read_mo(f)

    def pairs(messages) -> dict:
        return {
            str(m.id if isinstance(m.id, str) else tuple(m.id)): str(
                m.string if isinstance(m.string, str) else tuple(m.string)
            )
            for m in messages
            if m.id
        }

    assert pairs(compiled) == pairs(catalog), "the .mo is older than the .po: run `make i18n`"


def test_every_page_text_is_used_and_every_used_text_exists() -> None:
    scripts = "".join(p.read_text() for p in (PAGES / "static" / "js").glob("*.js"))
    templates = "".join(p.read_text() for p in (PAGES / "templates").glob("*.html"))
    python = (PAGES / "pages.py").read_text() + (ROOT / "ult" / "messages.py").read_text()
    said = set(re.findall(r"\bsay\(\s*\"(\w+)\"", scripts))
    # ids chosen by a condition: say(copied ? "copied" : "copy_by_hand")
    said |= {
        i for pair in re.findall(r"say\([^()]*?\? \"(\w+)\" : \"(\w+)\"", scripts) for i in pair
    }
    counted = set(re.findall(r"\bcount\(\"(\w+)\"", scripts))
    in_html = set(re.findall(r"\$\{t_(\w+)\}", templates))
    in_html |= set(re.findall(r'data-say="(\w+)"', templates))
    # ids chosen at run time from a fixed set: listed as string literals (e.g. "staff_approve")
    said |= set(re.findall(r'"(\w+)"', scripts)) & set(TEXTS)
    said |= {
        f"{prefix}{suffix}"
        for prefix in re.findall(r"`(\w+_)\$\{", scripts)
        for suffix in ("requested", "approved", "redeemed", "expired", "rejected", "void")
        + ("approve", "reject", "redeem")
        if f"{prefix}{suffix}" in TEXTS
    }
    in_python = set(re.findall(r"TEXTS\[\"(\w+)\"\]|_fill_html\(\s*lang,\s*\"(\w+)\"", python))
    in_python = {i for pair in in_python for i in pair if i}
    assert said | in_html | in_python <= set(TEXTS)
    assert counted <= set(PLURALS) and "more_points" in PLURALS
    assert set(TEXTS) - (said | in_html | in_python) == set()
    assert set(PLURALS) - counted - {"more_points"} == set()


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("sv-SE,sv;q=0.9,en-US;q=0.8", "sv"),
        ("ja-JP, de;q=0.5, fr;q=0.7", "fr"),
        ("ar-EG", "ar"),
        ("ja, zh-CN", "en"),
        ("", "en"),
        (None, "en"),
        ("de;q=0, es;q=0.1", "es"),
        ("*;q=1, xx-YY", "en"),
        ("de" + ", zz" * 10_000, "de"),
        ("zz, " * 10_000 + "de", "en"),  # only the first entries are read
        ("%%%;;;q=abc,\x00", "en"),
    ],
)
def test_accept_language_picks_a_catalog_or_english(header, lang) -> None:
    assert negotiate(header) == lang


def test_browser_languages_and_countries() -> None:
    assert first_supported(["nb-NO", "sv-SE", "en"]) == "sv"
    assert first_supported([None, 42, "fr-CA"]) == "fr"
    assert first_supported([]) == "en"
    got = {c: language_of_country(c) for c in ("SE", "DE", "AT", "FR", "ES", "MX", "EG", "US", "x")}
    assert got == {
        "SE": "sv", "DE": "de", "AT": "de", "FR": "fr", "ES": "es", "MX": "es", "EG": "ar",
        "US": "en", "x": "en",
    }  # fmt: skip


def test_plurals_at_their_boundaries() -> None:
    points = PLURALS["points"]
    assert [translate_plural("en", points, n) for n in (0, 1, 2)] == [
        "0 points", "1 point", "2 points",
    ]  # fmt: skip
    assert [translate_plural("de", points, n) for n in (1, 2)] == ["1 Punkt", "2 Punkte"]
    assert [translate_plural("fr", points, n) for n in (0, 1, 2)] == [
        "0 point", "1 point", "2 points",
    ]  # fmt: skip
    # Arabic: zero, one, two, few (3–10), many (11–99), other (100–102)
    arabic = [translate_plural("ar", points, n) for n in (0, 1, 2, 3, 10, 11, 99, 100, 102)]
    assert arabic == [
        "لا نقاط", "نقطة واحدة", "نقطتان", "3 نقاط", "10 نقاط", "11 نقطة", "99 نقطة",
        "100 نقطة", "102 نقطة",
    ]  # fmt: skip
    assert plural_samples("ar") == {
        "zero": 0, "one": 1, "two": 2, "few": 3, "many": 11, "other": 100,
    }  # fmt: skip
    page = page_catalog("ar")["plurals"]["points"]
    assert len(set(page.values())) == 5 and page["few"] == "{n} نقاط" and page["two"] == "نقطتان"


def test_waits_in_words_at_their_boundaries() -> None:
    english = [in_words(s) for s in (44, 45, 60, 61, 3599, 3600, 5400, 86399, 86400 * 2)]
    assert english == [
        "a few seconds", "1 minute", "1 minute", "2 minutes", "1 hour", "1 hour",
        "1 hour 30 minutes", "1 day", "2 days",
    ]  # fmt: skip
    assert in_words(2520, "de") == "42 Minuten" and in_words(5400, "sv") == "1 timme 30 minuter"
    assert in_words(60, "ar") == "دقيقة" and in_words(5400, "ar") == "ساعة و30 دقيقة"
    assert format_message("cooldown", wait=in_words(2520)) == (
        "Already counted — thanks! Your next visit counts in 42 minutes."
    )
    assert format_message("cooldown", "fr", wait=in_words(2520, "fr")) == (
        "Déjà comptée — merci ! Votre prochaine visite comptera dans 42 minutes."
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_words_waits_from_the_words_the_server_words_them_with(lang: str) -> None:
    """The page's wait words (page_catalog "waits", filled as common.js fills them) are the
    server's: one wording, from one CLDR source."""
    waits = page_catalog(lang)["waits"]
    rule = Locale.parse(lang).plural_form

    def page_words(seconds: int) -> str:
        if seconds < waits["few_seconds"]:
            return page_catalog(lang)["texts"]["a_few_seconds"]
        parts = []
        for n, unit in wait_parts(seconds):
            forms = waits["units"][unit]
            parts.append(
                forms.get(rule(n), forms["other"]).replace("{n}", format_decimal(n, locale=lang))
            )
        return waits["pair"].format(a=parts[0], b=parts[1]) if len(parts) > 1 else parts[0]

    for seconds in (20, 45, 60, 61, 120, 660, 2520, 3600, 5400, 7260, 86400, 86400 * 3):
        assert page_words(seconds) == in_words(seconds, lang), seconds


def test_poster_in_the_business_language() -> None:
    url = "https://ult.example/s/fika-sisters-3fa9"
    assert "Scan to earn rewards" in poster_html("Fika", url)
    swedish = poster_html("Fika", url, "table-3", lang="sv")
    assert "Skanna och tjäna belöningar" in swedish and "Plats: table-3" in swedish
    assert 'dir="rtl"' in poster_html("Fika", url, lang="ar")


def _get(url: str, language: str | None) -> tuple[int, str, Message]:
    request = urllib.request.Request(url, headers={"Accept-Language": language} if language else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers


def test_pages_in_the_requested_language(service_url, make_sponsor) -> None:
    sid = make_sponsor("Fika Sisters")["sid"]
    status, page, headers = _get(f"{service_url}/s/{sid}", "de-DE,de;q=0.9")
    assert status == 200 and '<html lang="de" dir="ltr">' in page
    assert "Deine Treuekarte bei" in page and headers["Content-Language"] == "de"
    assert "Accept-Language" in headers["Vary"]
    status, page, _ = _get(f"{service_url}/wallet", "ar")
    assert '<html lang="ar" dir="rtl">' in page and "بطاقاتي" in page
    status, page, _ = _get(f"{service_url}/s/no-such-place-0000", "es")
    assert status == 404 and "No conocemos este código QR" in page
    assert '<code class="sid">no-such-place-0000</code>' in page
    _, page, _ = _get(f"{service_url}/static/offline.html", "sv")
    assert "Du är offline" in page
    _, page, _ = _get(f"{service_url}/s/{sid}", "ja" + ",x" * 5000)
    assert '<html lang="en" dir="ltr">' in page and "Your loyalty card at" in page


@pytest.fixture
def dashboard(r: redis.Redis, redis_url: str):
    dash = Dashboard(Context(load_settings({"REDIS_URL": redis_url})))
    yield dash
    dash.close()
    use("en")


def test_a_german_browser_gets_a_german_dashboard_and_can_switch(dashboard) -> None:
    dashboard.store.value = {"uid": "a" * 32}
    dashboard.store.locale = "de-DE"
    dashboard.store.loaded = True
    assert dashboard.language.value == "de"
    assert not hasattr(dashboard, "tabs")  # a first visit builds the form alone
    assert "Willkommen" in dashboard.title.value and "Dashboard für Geschäfte" in (
        dashboard.brand.value
    )
    assert dashboard.form.name.description == "Name des Geschäfts"
    assert dashboard.body.children == (dashboard.register_box,)
    assert "lang" not in dashboard.store.value  # the browser's language is not a choice
    dashboard.language.value = "fr"  # the switcher; remembered on this browser
    assert dashboard.form.name.description == "Nom du commerce"
    assert dashboard.body.children == (dashboard.register_box,)  # the rebuilt form shows
    assert dashboard.store.value["lang"] == "fr"


def test_switching_language_keeps_the_business_and_its_poster_speaks_its_country(
    dashboard, make_sponsor
) -> None:
    fika = make_sponsor("Fika Sisters")  # registered in Sweden
    business = {"sid": fika["sid"], "biz": fika["biz"], "place_id": "local:fika"}
    dashboard.store.value = {"uid": "a" * 32, "businesses": [{**business, **fika}]}
    dashboard.store.locale = "en-US"
    dashboard.store.loaded = True
    assert dashboard.language.value == "en" and dashboard.current.sid == fika["sid"]
    assert dashboard.poster.lang.value == "sv"  # the poster speaks the business's language
    preview = dashboard.poster.posters.children[0].children[0].value
    assert "Skanna och tjäna belöningar" in preview
    dashboard.poster.lang.value = "en"  # changeable
    assert "Scan to earn rewards" in dashboard.poster.posters.children[0].children[0].value
    dashboard.tabs.selected_index = 2
    dashboard.language.value = "ar"
    assert dashboard.current.sid == fika["sid"] and dashboard.body.children == (dashboard.tabs,)
    assert dashboard.tabs.selected_index == 2 and dashboard.tabs.get_title(2) == "المكافآت"
    assert dashboard.tabs.get_title(CLAIMS_TAB) == "طلبات الاستبدال"
    assert "معرّف النشاط التجاري" in dashboard.title.value
    assert dashboard.store.value["lang"] == "ar"
    assert "ult-rtl" in dashboard.widget._dom_classes
