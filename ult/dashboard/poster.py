"""The QR tab: the business's code on a printable poster, per-spot posters, print, downloads.

A spot tag (``table-3``) is baked into the code's URL as ``?at=table-3``, so the live feed
says where a scan came from. The code never changes when the reward rule does.
"""

from __future__ import annotations

import io
import ipaddress
import re
import zipfile
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import ipywidgets as W

from ult import qr
from ult.dashboard.browser import DownloadButton, PrintButton
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import FIELD_STYLE, Message, classed, esc, guarded
from ult.errors import UltError
from ult.i18n import DEFAULT, LANGUAGES, N_, NAMES, _, direction, language_of_country
from ult.validation import FORMATS

MAX_SPOTS = 24
EXAMPLE_PUBLIC_URL = "https://loyalty.example.com"
UNREACHABLE = {
    "loopback": N_(
        "Phones can't reach this address — set ULT_PUBLIC_URL to the address phones use "
        "(e.g. {example}) and restart ULT before you print."
    ),
    "private": N_(
        "Only phones on your own network can reach this address — set ULT_PUBLIC_URL to a "
        "public address (e.g. {example}) and restart ULT before you print."
    ),
}
_SPOT = FORMATS["at"][0]


def parse_spots(text: str) -> list[str]:
    """``"table-1, table-2 bar"`` → ``["table-1", "table-2", "bar"]`` (duplicates dropped).

    Raises UltError naming the first tag that cannot go into a QR code's URL.
    """
    spots = list(dict.fromkeys(part for part in re.split(r"[,;\s]+", text or "") if part))
    for spot in spots:
        if not _SPOT.fullmatch(spot):
            raise UltError(
                "bad_request",
                N_(
                    "“{spot}” cannot be a spot name: use up to 32 letters, digits, - and _ "
                    "(for example table-3)."
                ),
                params={"spot": spot[:40]},
            )
    if len(spots) > MAX_SPOTS:
        raise UltError(
            "bad_request", N_("At most {most} spots at a time."), params={"most": MAX_SPOTS}
        )
    return spots


def reach(public_url: str) -> str:
    """Who can open ``public_url``: ``loopback`` (this machine only), ``private`` (the local
    network only) or ``public``."""
    host = (urlsplit(public_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    if host.endswith((".local", ".lan", ".internal", ".home.arpa")):
        return "private"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "public"
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    return "private" if ip.is_private or ip.is_link_local else "public"


def reach_warning(public_url: str) -> str:
    """A warning (HTML) when phones cannot open the posters' address; else nothing."""
    words = UNREACHABLE.get(reach(public_url))
    if words is None:
        return ""
    text = esc(_(words)).replace("{example}", f"<code>{EXAMPLE_PUBLIC_URL}</code>")
    return f'<p class="ult-note ult-note-warn ult-reach-warning" role="alert">{text}</p>'


def numbered_spots(count: int, prefix: str = "table") -> list[str]:
    """``table-1`` … ``table-N``."""
    return [f"{prefix}-{n}" for n in range(1, count + 1)]


def posters_document(biz: str, items: list[tuple[str, str | None]], lang: str = DEFAULT) -> str:
    """One printable HTML document with a poster per ``(url, spot)``, one per page."""
    pages = "".join(
        f'<div class="ult-page">{qr.poster_html(biz, url, spot, lang)}</div>' for url, spot in items
    )
    return (
        f'<!doctype html><html lang="{lang}" dir="{direction(lang)}"><head><meta charset="utf-8">'
        f"<title>{esc(_('{biz} — QR posters').format(biz=biz))}</title>"
        "<style>body{margin:0} .ult-page{break-after:page;page-break-after:always}"
        ".ult-page:last-child{break-after:auto;page-break-after:auto}</style>"
        f"</head><body>{pages}</body></html>"
    )


def posters_zip(
    biz: str, sid: str, items: list[tuple[str, str | None]], lang: str = DEFAULT
) -> bytes:
    """Every poster as a PNG, zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for url, spot in items:
            archive.writestr(f"{sid}-{spot or 'poster'}.png", qr.poster_png(biz, url, spot, lang))
    return buffer.getvalue()


class PosterPanel:
    """QR code, poster preview, print and download buttons for the selected business."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.items: list[tuple[str, str | None]] = []
        self._downloads: list[DownloadButton] = []

        self.link = classed(W.HTML(), "ult-scan-link")
        self.print = PrintButton(label=_("Print poster"))
        self.tools = W.HBox([self.print])
        self.spots = classed(
            W.Text(
                description=_("Spots"),
                placeholder=_("optional: table-1, table-2, bar"),
                style=FIELD_STYLE,
            ),
            "ult-spots",
        )
        self.make = classed(W.Button(description=_("Make posters")), "ult-make-posters")
        self.tables = classed(
            W.BoundedIntText(
                value=6, min=1, max=MAX_SPOTS, description=_("Tables"), style=FIELD_STYLE
            ),
            "ult-tables",
        )
        self.number = classed(W.Button(description=_("Number the tables")), "ult-number-tables")
        self.lang = classed(
            W.Dropdown(
                description=_("Poster language"),
                options=[(NAMES[lang], lang) for lang in LANGUAGES],
                value=DEFAULT,
                style=FIELD_STYLE,
            ),
            "ult-poster-lang",
        )
        self.message = Message()
        self.posters = classed(W.VBox(), "ult-posters")
        lead = _(
            "Print the poster and put it where customers see it. Changing the rewards later "
            "never needs a new poster."
        )
        intro = W.HTML(f'<p class="ult-lead">{esc(lead)}</p>')
        spots_words = _(
            "One poster per table or spot (optional): the live feed then shows where each scan "
            "came from."
        )
        spot_help = W.HTML(f'<p class="ult-hint">{esc(spots_words)}</p>')
        self.widget = classed(
            W.VBox(
                [
                    intro,
                    self.link,
                    self.lang,
                    self.tools,
                    spot_help,
                    W.HBox([self.spots, self.make]),
                    W.HBox([self.tables, self.number]),
                    self.message,
                    self.posters,
                ]
            ),
            "ult-tab-poster",
        )
        self.make.on_click(self._on_make)
        self.number.on_click(self._on_number)
        self.lang.observe(self._on_lang, names="value")
        self._spots: Sequence[str | None] = [None]

    def show(self, business: Business, country: str | None = None) -> None:
        """Show ``business``'s single poster (no spot), in the language of its ``country``."""
        self.business = business
        self.spots.value = ""
        self.message.clear()
        self._spots = [None]
        lang = language_of_country(country)
        if self.lang.value != lang:
            self.lang.value = lang  # renders
        else:
            self._render(self._spots)

    @guarded(lambda self: self.message)
    def _on_lang(self, _change: dict) -> None:
        self._render(self._spots)

    @guarded(lambda self: self.message)
    def _on_make(self, _button: W.Button | None = None) -> None:
        self.message.clear()
        spots = parse_spots(self.spots.value)
        self._spots = spots or [None]
        self._render(self._spots)

    @guarded(lambda self: self.message)
    def _on_number(self, _button: W.Button | None = None) -> None:
        self.spots.value = ", ".join(numbered_spots(int(self.tables.value)))
        self._on_make()

    def _render(self, spots: Sequence[str | None]) -> None:
        business = self.business
        if business is None:
            return
        base = qr.scan_url(self.ctx.settings.public_url, business.sid)
        self.items = [
            (qr.scan_url(self.ctx.settings.public_url, business.sid, spot), spot) for spot in spots
        ]
        old, self._downloads = self._downloads, []
        link = (
            f'<a class="ult-scan-url" href="{esc(base)}" target="_blank" rel="noopener">'
            f"{esc(base)}</a>"
        )
        words = esc(_("Your code opens {link} — open it in another tab to try a scan."))
        warning = reach_warning(self.ctx.settings.public_url)
        self.link.value = f"<p>{words.replace('{link}', link)}</p>{warning}"
        self.posters.children = [
            self._poster(business, url, spot, self.lang.value) for url, spot in self.items
        ]
        lang = self.lang.value
        self.print.html = posters_document(business.biz, self.items, lang)
        count = len(self.items)
        self.print.label = (
            _("Print poster") if count == 1 else _("Print {count} posters").format(count=count)
        )
        tools: list[W.Widget] = [self.print]
        if count > 1:
            items = list(self.items)
            tools.append(
                self._download(
                    _("All posters (ZIP)"),
                    f"{business.sid}-posters.zip",
                    "application/zip",
                    lambda: posters_zip(business.biz, business.sid, items, lang),
                )
            )
        self.tools.children = tools
        for button in old:  # after the page stopped showing them
            button.close()

    def _poster(self, business: Business, url: str, spot: str | None, lang: str) -> W.VBox:
        stem = f"{business.sid}-{spot}" if spot else business.sid
        downloads = W.HBox(
            [
                self._download(
                    _("Poster (PNG)"),
                    f"{stem}-poster.png",
                    "image/png",
                    lambda: qr.poster_png(business.biz, url, spot, lang),
                ),
                self._download(
                    _("QR code (PNG)"), f"{stem}-qr.png", "image/png", lambda: qr.png_bytes(url)
                ),
                self._download(
                    _("QR code (SVG)"),
                    f"{stem}-qr.svg",
                    "image/svg+xml",
                    lambda: qr.svg_text(url).encode(),
                ),
            ]
        )
        preview = classed(
            W.HTML(qr.poster_html(business.biz, url, spot, lang)), "ult-poster-preview"
        )
        return classed(W.VBox([preview, downloads]), "ult-poster-item")

    def _download(
        self, label: str, filename: str, mime: str, produce: Callable[[], bytes]
    ) -> DownloadButton:
        button = DownloadButton(label, filename, mime, produce)
        self._downloads.append(button)
        return button
