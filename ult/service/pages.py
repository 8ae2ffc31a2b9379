"""HTTP routes: health, the customer scan page, the wallet, the staff page, the PWA files."""

from __future__ import annotations

import html
import json
from functools import cache, partial
from importlib import resources
from string import Template

import redis.asyncio
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ult import arun
from ult.i18n import direction, negotiate, translate
from ult.messages import TEXTS, page_catalog
from ult.service.health import StorageHealth
from ult.sponsors import get_profile
from ult.validation import FORMATS, LIMITS

PACKAGE = resources.files("ult.service")
STATIC_DIR = str(PACKAGE / "static")
NO_STORE = {"Cache-Control": "no-store"}
# The pages have no inline script or style and load nothing from other origins.
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# A page's words follow the browser's Accept-Language (caches must keep one copy per language).
def _headers(lang: str) -> dict[str, str]:
    return {**PAGE_HEADERS, "Vary": "Accept-Language", "Content-Language": lang}


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
    return _template(name).safe_substitute(texts, lang=lang, dir=direction(lang), **values)


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


def routes(r: redis.asyncio.Redis, health: StorageHealth | None = None) -> list:
    """The HTTP routes, reading sponsors through ``r``."""
    sponsored = SponsorPages(r, health or StorageHealth())
    return [
        Route("/healthz", sponsored.healthz),
        Route("/s/{sid}", sponsored.scan_page),
        Route("/wallet", wallet),
        Route("/staff", staff_page),
        Route("/static/offline.html", offline_page),
        Route("/sw.js", partial(root_file, "sw.js", "text/javascript")),
        Route(
            "/manifest.webmanifest",
            partial(root_file, "manifest.webmanifest", "application/manifest+json"),
        ),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


class SponsorPages:
    """The routes that read Redis: the health check and a sponsor's scan page."""

    def __init__(self, r: redis.asyncio.Redis, health: StorageHealth) -> None:
        self.r = r
        self.health = health

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
            return HTMLResponse(page, status_code=404, headers=_headers(lang))
        link = f'<a href="/wallet">{html.escape(translate(lang, TEXTS["my_cards"]))}</a>'
        page = render(
            "scan.html",
            lang,
            title=html.escape(translate(lang, TEXTS["scan_title"]).format(biz=profile.biz)),
            biz=html.escape(profile.biz),
            fineprint=_fill_html(lang, "scan_fineprint", link=link),
            config=page_config(lang, sid=profile.sid, biz=profile.biz),
        )
        return HTMLResponse(page, headers=_headers(lang))


async def wallet(request: Request) -> Response:
    """The customer's cards on this phone."""
    lang = page_language(request)
    page = render("wallet.html", lang, config=page_config(lang))
    return HTMLResponse(page, headers=_headers(lang))


async def offline_page(request: Request) -> Response:
    """The page the service worker shows for a scan made offline."""
    # The service worker keeps it, in the language the browser asked for when it installed.
    lang = page_language(request)
    page = render("offline.html", lang)
    return HTMLResponse(page, headers={**_headers(lang), "Cache-Control": "no-cache"})


async def staff_page(request: Request) -> Response:
    """The staff page: claims to decide at the counter."""
    lang = page_language(request)
    title = html.escape(f"ULT — {translate(lang, TEXTS['staff_title'])}")
    page = render("staff.html", lang, title=title, config=page_config(lang, page="staff"))
    return HTMLResponse(page, headers=_headers(lang))


async def root_file(name: str, media_type: str, request: Request) -> Response:
    """A static file served from the site's root (the service worker's scope needs it)."""
    return FileResponse(f"{STATIC_DIR}/{name}", media_type=media_type, headers=NO_STORE)
