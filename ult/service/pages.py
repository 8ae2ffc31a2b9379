"""HTTP routes: health, the customer scan page, the wallet, the staff page, the PWA files."""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from string import Template

import redis.asyncio
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ult import arun
from ult.messages import TEXTS, page_catalog
from ult.service.health import StorageHealth
from ult.sponsors import get_profile
from ult.validation import FORMATS

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


def _template(name: str) -> Template:
    return Template((PACKAGE / "templates" / name).read_text())


def script_json(data: dict) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_config(**values: object) -> str:
    """The JSON config of a customer page: ``values``, plus the wording of every answer and
    the field formats (declared once, on the server)."""
    return script_json({**values, **_shared_config()})


@cache
def _shared_config() -> dict:
    formats = {name: pattern.pattern for name, (pattern, _) in FORMATS.items()}
    return {"messages": page_catalog(), "formats": formats}


def routes(r: redis.asyncio.Redis, health: StorageHealth | None = None) -> list:
    """The HTTP routes, reading sponsors through ``r``."""
    health = health or StorageHealth()

    async def healthz(request: Request) -> Response:
        try:
            problem = await health.problem(r)
        except Exception:  # any failure to reach Redis means "not healthy"
            return JSONResponse({"status": "unavailable", "redis": "down"}, status_code=503)
        if problem:  # Redis answers but refuses writes: scans fail with storage_full
            body = {"status": "degraded", "redis": "refuses writes", "reason": problem}
            return JSONResponse(body, status_code=503, headers=NO_STORE)
        return JSONResponse({"status": "ok", "redis": "ok"}, headers=NO_STORE)

    async def scan_page(request: Request) -> Response:
        sid = request.path_params["sid"]
        profile = None
        if FORMATS["sid"][0].fullmatch(sid):
            profile = await arun(r, get_profile(sid))
        if profile is None:
            page = _template("not_found.html").safe_substitute(sid=html.escape(sid[:64]))
            return HTMLResponse(page, status_code=404, headers=PAGE_HEADERS)
        page = _template("scan.html").safe_substitute(
            title=html.escape(f"{profile.biz} — loyalty card"),
            biz=html.escape(profile.biz),
            config=page_config(sid=profile.sid, biz=profile.biz),
        )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def wallet(request: Request) -> Response:
        page = _template("wallet.html").safe_substitute(
            title="My loyalty cards", config=page_config()
        )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def staff_page(request: Request) -> Response:
        page = _template("staff.html").safe_substitute(
            title=html.escape(f"ULT — {TEXTS['staff_title']}"), config=page_config(page="staff")
        )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    def root_file(name: str, media_type: str):
        async def serve(request: Request) -> Response:
            return FileResponse(f"{STATIC_DIR}/{name}", media_type=media_type, headers=NO_STORE)

        return serve

    return [
        Route("/healthz", healthz),
        Route("/s/{sid}", scan_page),
        Route("/wallet", wallet),
        Route("/staff", staff_page),
        Route("/sw.js", root_file("sw.js", "text/javascript")),
        Route(
            "/manifest.webmanifest", root_file("manifest.webmanifest", "application/manifest+json")
        ),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
