"""The languages ULT speaks: gettext catalogs (managed with Babel) under ``ult/locale``.

Every sentence is written once, in English, in the code (``ult/messages.py`` for the customer
pages, the dashboard's modules for the sponsor), marked with :func:`N_` / :func:`NP_` (kept for
later) or :func:`gettext` (translated at once). ``make i18n`` extracts them into
``ult/locale/ult.pot``, updates one ``.po`` catalog per language and compiles the ``.mo`` files
read here. English is the source language: it needs no catalog and is the fallback for anything
else. Adding a language is one catalog step (README, "Languages").
"""

from __future__ import annotations

import gettext as _gettext
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit

DOMAIN = "ult"
DEFAULT = "en"
LOCALE_DIR = resources.files("ult") / "locale"
# English (the source) and every language with a compiled catalog: adding a catalog adds it.
LANGUAGES = (DEFAULT,) + tuple(
    sorted(
        d.name
        for d in LOCALE_DIR.iterdir()
        if d.is_dir() and (d / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
    )
)
RTL = frozenset(x for x in LANGUAGES if Locale.parse(x).character_order == "right-to-left")
NAMES = {
    lang: (Locale.parse(lang).get_display_name(lang) or lang).capitalize() for lang in LANGUAGES
}
# The pseudo-locale: every catalog sentence accented and ~40% longer, made from the msgids at
# run time. Tests read the dashboard in it to see untranslated text and labels that overflow;
# a browser asking for en-XA gets it, the language switcher never offers it.
PSEUDO = "en-XA"
_PSEUDO_LETTERS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "áƀçđéƒĝĥíĵķļɱñóþǫŕšţúṽŵẋýžÁƁÇĐÉƑĜĤÍĴĶĻṀÑÓÞǪŔŠŢÚṼŴẊÝŽ",
)
_PSEUDO_KEEP = re.compile(r"(\{[^{}]*\}|<[^<>]*>|&[#\w]+;|https?://\S+)")
# An Accept-Language header is read only this far, and only this many of its entries.
_MAX_HEADER = 500
_MAX_ENTRIES = 16
_ENTRY = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?"
)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs without translating it (translated where it is shown)."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with a plural for the catalogs: ``("{n} point", "{n} points")``."""
    return singular, plural


def pseudo(message: str) -> str:
    """``message`` in the pseudo-locale: letters accented, vowels doubled (about 40% longer);
    placeholders, markup and addresses kept as they are."""
    parts = _PSEUDO_KEEP.split(message)
    for index in range(0, len(parts), 2):
        doubled = re.sub(r"([aeiouyAEIOUY])", r"\1\1", parts[index])
        parts[index] = doubled.translate(_PSEUDO_LETTERS)
    return "".join(parts)


class PseudoTranslations(_gettext.NullTranslations):
    """The pseudo-locale's catalog: :func:`pseudo` of every msgid."""

    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return pseudo(msgid1 if n == 1 else msgid2)


def babel_locale(lang: str) -> str:
    """The CLDR locale that formats numbers and dates for ``lang`` (the pseudo-locale: English)."""
    return DEFAULT if lang == PSEUDO else lang


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English and unknown languages: the source text)."""
    if lang == PSEUDO:
        return PseudoTranslations()
    if lang not in LANGUAGES or lang == DEFAULT:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, str(LOCALE_DIR), [lang], fallback=True)


def translate(lang: str, message: str) -> str:
    """``message`` in ``lang``."""
    return translations(lang).gettext(message)


@lru_cache(maxsize=4096)  # every scan's English message says its points: parse them once
def translate_plural(lang: str, forms: tuple[str, str], n: int) -> str:
    """The form of ``forms`` for the number ``n`` in ``lang``, with ``{n}`` filled in."""
    return plural_form(lang, forms, n).replace("{n}", number(n, lang))


def number(n: float, lang: str) -> str:
    """``1,234`` (English), ``1.234`` (German): a number as ``lang`` writes it."""
    return format_decimal(n, locale=babel_locale(lang))


def plural_form(lang: str, forms: tuple[str, str], n: int) -> str:
    """The catalog's form of ``forms`` for the number ``n`` in ``lang`` (``{n}`` unfilled)."""
    return translations(lang).ngettext(forms[0], forms[1], n)


def supported(tag: object) -> str | None:
    """The catalog language for a language tag (``sv-SE`` → ``sv``), or None."""
    if not isinstance(tag, str):
        return None
    if tag[:5].replace("_", "-").lower() == PSEUDO.lower():
        return PSEUDO
    match = _ENTRY.match(tag[:40])
    lang = match.group(1).lower() if match else ""
    return lang if lang in LANGUAGES else None


def first_supported(tags: Iterable[object]) -> str:
    """The first of ``tags`` (most wanted first) that has a catalog, else English."""
    for tag in list(tags)[:_MAX_ENTRIES]:
        lang = supported(tag)
        if lang:
            return lang
    return DEFAULT


def negotiate(accept_language: str | None) -> str:
    """The language to answer an ``Accept-Language`` header in (English when none fits)."""
    wanted: list[tuple[float, int, str]] = []
    for index, entry in enumerate((accept_language or "")[:_MAX_HEADER].split(",")[:_MAX_ENTRIES]):
        match = _ENTRY.match(entry)
        if not match:
            continue
        try:
            q = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if q > 0:
            wanted.append((-q, index, match.group(1)))
    return first_supported(tag for _, _, tag in sorted(wanted))


def direction(lang: str) -> str:
    """``rtl`` or ``ltr``: the writing direction of ``lang``."""
    return "rtl" if lang in RTL else "ltr"


def language_of_country(country: str | None) -> str:
    """The language of ``country`` (ISO code): its official language most people speak (CLDR)
    when ULT has a catalog for it, else English (Finland: Finnish has no catalog → English,
    not Swedish)."""
    if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2}", country):
        return DEFAULT
    lang = _main_language(country.upper())
    return lang if lang in LANGUAGES else DEFAULT


@cache
def _main_language(territory: str) -> str | None:
    """The official (or de facto official) language of ``territory`` with most speakers."""
    from babel.languages import get_territory_language_info

    official = {"official", "de_facto_official"}
    spoken = [
        (info.get("population_percent") or 0.0, lang)
        for lang, info in get_territory_language_info(territory).items()
        if info.get("official_status") in official
    ]
    return max(spoken)[1].split("_")[0] if spoken else None


@cache
def plural_samples(lang: str) -> dict[str, int]:
    """One number for each CLDR plural category of ``lang``: ``{"one": 1, "other": 0}``.

    The page picks a category with ``Intl.PluralRules``; the catalog's form for the category is
    the one gettext chooses for its sample number (Arabic: zero, one, two, few, many, other).
    """
    rule = Locale.parse(babel_locale(lang)).plural_form
    samples: dict[str, int] = {}
    for n in [*range(0, 1000), 1_000_000]:
        samples.setdefault(rule(n), n)
    return samples


def unit(n: int, name: str, lang: str = DEFAULT, length: Literal["short", "long"] = "long") -> str:
    """``42 minutes`` in ``lang`` (CLDR's unit names; ``length`` short: ``42 min``): ``name``
    is second, minute, hour or day."""
    words = format_unit(n, f"duration-{name}", length=length, locale=babel_locale(lang))
    return pseudo(words) if lang == PSEUDO else words


def units(parts: list[str], lang: str = DEFAULT) -> str:
    """``1 hour 30 minutes``: amounts of units joined the way ``lang`` joins them."""
    if len(parts) == 2:
        # Babel's format_list repeats the last item for locales whose CLDR data lack the
        # two-item pattern (Arabic); the end pattern is the same thing for two items.
        try:
            style = Locale.parse(babel_locale(lang)).list_patterns["unit-narrow"]
            return (style.get("2") or style["end"]).format(*parts)
        except KeyError:
            pass
    return format_list(parts, style="unit-narrow", locale=babel_locale(lang))


# The dashboard's language: a Voilà kernel serves one sponsor's page, so one per process.
_current = DEFAULT


def use(lang: str) -> str:
    """Make ``lang`` (English if it has no catalog) the language of :func:`_`; returns it."""
    global _current
    _current = lang if lang in LANGUAGES or lang == PSEUDO else DEFAULT
    return _current


def current() -> str:
    """The language :func:`_` translates into."""
    return _current


def _(message: str) -> str:
    """``message`` in the current language (the dashboard's gettext)."""
    return translate(_current, message)


def when(moment: datetime, style: str = "time", lang: str | None = None) -> str:
    """``moment`` as ``lang`` (default: the current language) writes it. ``style``: ``time``
    (11:43:05), ``short_time`` (11:43), ``date`` (2 Dec 2025), ``day_time`` (2 Dec, 11:43)."""
    lang = lang or _current
    loc = babel_locale(lang)
    if style == "short_time":
        text = format_time(moment, "short", locale=loc)
    elif style == "date":
        text = format_date(moment, "medium", locale=loc)
    elif style == "day_time":
        day = format_skeleton("MMMd", moment, locale=loc)
        text = str(get_datetime_format("short", locale=loc)).format(
            format_time(moment, "short", locale=loc), day
        )
    else:
        text = format_time(moment, "medium", locale=loc)
    return pseudo(text) if lang == PSEUDO else text
