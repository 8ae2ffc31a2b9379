"""HTTP routes: health, the customer scan page, the wallet, the staff page, the PWA files."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ult import arun
from ult.connection import AsyncClient
from ult.i18n import direction, negotiate, translate
from ult.messages import TEXTS, page_catalog
from ult.service.assets import Piece, StaticAssets, csp_hash, encoded, gzip_join
from ult.service.health import StorageHealth
from ult.sponsors import get_profile
from ult.validation import FORMATS, LIMITS

PACKAGE = resources.files("ult.service")
STATIC_DIR = str(PACKAGE / "static")
NO_STORE = {"Cache-Control": "no-store"}
# The pages load nothing from other origins; the only inline script or style is the scan
# page's own, allowed by its hash.
CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
PAGE_GZIP_LEVEL = 6  # a page is compressed per request: level 9 costs more CPU for ~1 %
SW_VERSION_MARK = "__ULT_STATIC_VERSION__"


# A page's words follow the browser's Accept-Language (caches must keep one copy per language).
def _headers(lang: str, csp: str = CSP) -> dict[str, str]:
    return {
        **PAGE_HEADERS,
        "Content-Security-Policy": csp,
        "Vary": "Accept-Language",
        "Content-Language": lang,
    }


@cache
def assets() -> StaticAssets:
    """The static files, read, hashed and compressed once per process."""
    return StaticAssets(Path(STATIC_DIR))


@dataclass(frozen=True)
class ScanShell:
    """What the scan page inlines, so that a phone needs nothing but the page to count a
    visit: the socket opener (first in <head>), the style sheet, the page's modules as one
    script, then Socket.IO; and the policy that allows exactly these."""

    boot: str
    style: str
    scripts: str
    csp: str

    def pieces(self) -> dict[str, Piece]:
        """The constant parts, deflated once (see ``page_response``)."""
        return {"style": Piece.of(self.style), "scripts": Piece.of(self.scripts)}


@cache
def scan_shell() -> ScanShell:
    """The scan page's inline parts, built once from the static files."""
    a = assets()
    boot, style = a.text("js/boot.js"), a.text("css/ult.css")
    sio, bundle = a.text("vendor/socket.io.min.js"), a.bundle("js/scan.js")
    scripts = " ".join(csp_hash(text) for text in (boot, sio, bundle))
    csp = f"{CSP}; script-src 'self' {scripts}; style-src 'self' {csp_hash(style)}"
    csp += "; worker-src 'self'"  # the proof of work a shared address's new card may need
    return ScanShell(
        boot=f"<script>{boot}</script>",
        style=f"<style>{style}</style>",
        # the page's own script first, and classic (it runs where it stands, not after the
        # parse): the scan leaves before Socket.IO's script, needed only after it, runs
        scripts=f"<script>{bundle}</script>\n<script>{sio}</script>",
        csp=csp,
    )


@cache
def module_preloads(entry: str) -> str:
    """``<link rel="modulepreload">`` for every module ``entry`` imports: fetched at once, not
    one level of imports after another."""
    a = assets()
    deps = [name for name in a.module_graph(entry) if name != entry]
    return "".join(f'\n  <link rel="modulepreload" href="{a.url(name)}">' for name in deps)


@cache
def scan_pieces() -> dict[str, Piece]:
    """The scan page's constant parts, deflated once."""
    return scan_shell().pieces()


def piece_mark(name: str) -> str:
    """Where a constant ``Piece`` goes in a rendered page (NUL never occurs in a page)."""
    return f"\0{name}\0"


def page_response(
    request: Request,
    page: str,
    lang: str,
    status: int = 200,
    csp: str = CSP,
    cache_control: str = "no-store",
    pieces: dict[str, Piece] | None = None,
) -> Response:
    """An HTML page, gzipped when the browser takes it. ``page`` may hold ``piece_mark``s:
    there the ``pieces`` go, already compressed (a scan page is ~110 KB, ~95 KB constant)."""
    parts: list[bytes | Piece] = []
    for i, text in enumerate(page.split("\0")):
        parts.append((pieces or {})[text] if i % 2 else text.encode())
    body = b"".join(p.raw if isinstance(p, Piece) else p for p in parts)
    packed = gzip_join(parts, PAGE_GZIP_LEVEL)
    headers = {**_headers(lang, csp), "Cache-Control": cache_control}
    content, headers = encoded(request, body, packed, headers)
    return Response(content, status_code=status, media_type="text/html", headers=headers)


def _template(name: str) -> Template:
    return Template((PACKAGE / "templates" / name).read_text())


def script_json(data: dict) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=False)  # the page is UTF-8: Arabic stays 2 bytes a letter
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_config(lang: str = "en", **values: object) -> str:
    """The JSON config of a customer page: ``values``, plus the wording of every answer in
    ``lang``, the field formats and the text limits (declared once, on the server)."""
    return script_json({**values, **_shared_config(lang)})


@cache
def _shared_config(lang: str) -> dict:
    formats = {name: pattern.pattern for name, (pattern, _) in FORMATS.items()}
    return {"messages": page_catalog(lang), "formats": formats, "limits": dict(LIMITS)}


def page_language(request: Request) -> str:
    """The language a page is rendered in: the browser's Accept-Language, else English."""
    return negotiate(request.headers.get("accept-language"))


def render(name: str, lang: str, **values: str) -> str:
    """Template ``name`` in ``lang``: ``${t_<id>}`` is text ``<id>`` of the catalog (escaped),
    ``$lang`` and ``$dir`` the page's language and direction; ``values`` are already HTML."""
    texts = {f"t_{key}": html.escape(translate(lang, text)) for key, text in TEXTS.items()}
    static = assets().prefix
    return _template(name).safe_substitute(
        texts, lang=lang, dir=direction(lang), static=static, **values
    )


def _fill_html(lang: str, key: str, **markup: str) -> str:
    """Text ``key`` escaped, with its ``{placeholders}`` replaced by the HTML ``markup``."""
    text = html.escape(translate(lang, TEXTS[key]))
    for name, fragment in markup.items():
        text = text.replace(f"{{{name}}}", fragment)
    return text


def _not_found_detail(lang: str, sid: str) -> str:
    return _fill_html(
        lang, "not_found_detail", sid=f'<code class="sid">{html.escape(sid[:64])}</code>'
    )


def routes(
    r: AsyncClient, health: StorageHealth | None = None, wallets: tuple[str, ...] = ()
) -> list:
    """The HTTP routes, reading sponsors through ``r``; ``wallets``: the kinds of wallet pass
    on offer (the pages show their buttons)."""
    sponsored = SponsorPages(r, health or StorageHealth(), wallets)
    scan_pieces()  # built now, not by the first customer's request
    return [
        Route("/healthz", sponsored.healthz),
        Route("/s/{sid}", sponsored.scan_page),
        Route("/wallet", partial(wallet, wallets)),
        Route("/staff", staff_page),
        Route("/static/offline.html", offline_page),
        Route("/sw.js", service_worker),
        Route("/manifest.webmanifest", partial(root_file, "manifest.webmanifest")),
        Route("/static/{path:path}", assets().serve),
    ]


class SponsorPages:
    """The routes that read Redis: the health check and a sponsor's scan page."""

    def __init__(self, r: AsyncClient, health: StorageHealth, wallets: tuple[str, ...]) -> None:
        self.r = r
        self.health = health
        self.wallets = list(wallets)

    async def healthz(self, request: Request) -> Response:
        """200 when Redis answers and takes writes; 503 and why otherwise (docs/protocol.md)."""
        try:
            problem = await self.health.problem(self.r)
        except Exception:  # any failure to reach Redis means "not healthy"
            return JSONResponse({"status": "unavailable", "redis": "down"}, status_code=503)
        if problem:  # Redis answers but refuses writes: scans fail with storage_full
            body = {"status": "degraded", "redis": "refuses writes", "reason": problem}
            return JSONResponse(body, status_code=503, headers=NO_STORE)
        return JSONResponse({"status": "ok", "redis": "ok"}, headers=NO_STORE)

    async def scan_page(self, request: Request) -> Response:
        """The page a customer's QR code opens: counts the visit (404 for an unknown sid)."""
        sid = request.path_params["sid"]
        lang = page_language(request)
        profile = None
        if FORMATS["sid"][0].fullmatch(sid):
            profile = await arun(self.r, get_profile(sid))
        if profile is None:
            page = render("not_found.html", lang, detail=_not_found_detail(lang, sid))
            return page_response(request, page, lang, status=404)
        shell = scan_shell()
        link = f'<a href="/wallet">{html.escape(translate(lang, TEXTS["my_cards"]))}</a>'
        page = render(
            "scan.html",
            lang,
            title=html.escape(translate(lang, TEXTS["scan_title"]).format(biz=profile.biz)),
            biz=html.escape(profile.biz),
            fineprint=_fill_html(lang, "scan_fineprint", link=link),
            config=page_config(
                lang,
                sid=profile.sid,
                biz=profile.biz,
                pow_worker=assets().url("js/pow-worker.js"),
                wallets=self.wallets,
            ),
            boot=shell.boot,
            style=piece_mark("style"),
            scripts=piece_mark("scripts"),
        )
        return page_response(request, page, lang, csp=shell.csp, pieces=scan_pieces())


async def wallet(wallets: tuple[str, ...], request: Request) -> Response:
    """The customer's cards on this phone (``wallets``: the kinds of pass on offer)."""
    lang = page_language(request)
    config = page_config(lang, wallets=list(wallets))
    page = render("wallet.html", lang, config=config, preload=module_preloads("js/wallet.js"))
    return page_response(request, page, lang)


async def offline_page(request: Request) -> Response:
    """The page the service worker shows for a scan made offline."""
    # The service worker keeps it, in the language the browser asked for when it installed.
    lang = page_language(request)
    page = render("offline.html", lang)
    return page_response(request, page, lang, cache_control="no-cache")


async def staff_page(request: Request) -> Response:
    """The staff page: claims to decide at the counter."""
    lang = page_language(request)
    title = html.escape(f"ULT — {translate(lang, TEXTS['staff_title'])}")
    config = page_config(lang, page="staff")
    preload = module_preloads("js/staff.js")
    page = render("staff.html", lang, title=title, config=config, preload=preload)
    return page_response(request, page, lang)


async def root_file(name: str, request: Request) -> Response:
    """A static file served from the site's root (the service worker's scope needs it)."""
    asset = assets().files[name]
    body, headers = encoded(request, asset.body, asset.gzipped, NO_STORE)
    return Response(body, media_type=asset.media_type, headers=headers)


@cache
def _service_worker_script() -> bytes:
    return assets().text("sw.js").replace(SW_VERSION_MARK, assets().version).encode()


async def service_worker(request: Request) -> Response:
    """The service worker, naming this deploy's static version (a deploy updates it)."""
    body = _service_worker_script()
    headers = {**NO_STORE, "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type="text/javascript", headers=headers)
