"""Voilà as the dashboard runs it: a page (and its kernel) only within the caps.

``python -m ult.dashboard.voila_app NOTEBOOK [voila options]`` is ``voila`` with these changes:

- ``GET /`` is admitted by the kernel manager's :class:`~ult.dashboard.kernels.PageLedger`
  (per client address, and in all) before a kernel is taken or started; beyond a cap the
  answer is a short HTML page, 429 or 503 with ``Retry-After``, that costs no kernel.
- The access log never holds a client address: only server errors are logged, without it.
- The widget extensions' files named by their content are cached for good (Voilà asks the
  browser to check each of them again on every load).
- ``GET /favicon.ico`` is the product's icon (Voilà has none: the browser's request was a 403).

Use :func:`ult.dashboard.launch.voila_command` to build the command line.
"""

from __future__ import annotations

import html
import logging
import re
from importlib import resources
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import FileFindHandler
from jupyter_server.utils import url_path_join
from tornado.web import RequestHandler
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

from ult.dashboard.kernels import PageKernelManager, Refusal
from ult.dashboard.keyguard import GUARD_PATH, PASS_COOKIE, KeyGuardHandler

log = logging.getLogger("ult.dashboard")

# Voilà's page runs inline scripts and styles (its template, the widgets' views), anywidget
# imports each widget's module from a blob: URL, and the widgets talk over a websocket to the
# page's own origin; nothing else is loaded from anywhere, and no site may frame the page.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_REFUSAL_TEXT = {
    Refusal.ADDRESS: (
        "Too many dashboard pages are open from your address",
        "Each open dashboard page keeps a small program running on the server, so one "
        "address may hold only {limit} at a time. Close a dashboard tab you no longer need; "
        "a closed page is let go within {retry} seconds.",
    ),
    Refusal.FULL: (
        "The dashboard is busy",
        "All {limit} dashboard pages the server can hold are in use. Pages nobody looks at "
        "are let go within {retry} seconds.",
    ),
}

_REFUSAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — ULT</title>
<style>body{{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1f2933;
max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{text}</p>
<p><strong>Please try again in about {retry} seconds.</strong></p></body></html>
"""


def refusal_page(refusal: Refusal, limit: int, retry_s: int) -> str:
    """The plain HTML a sponsor sees when ``refusal`` keeps the dashboard from opening."""
    title, text = _REFUSAL_TEXT[refusal]
    return _REFUSAL_PAGE.format(
        title=html.escape(title),
        text=html.escape(text.format(limit=limit, retry=retry_s)),
        retry=retry_s,
    )


class _PageKernels:
    """The kernel manager as one page's request sees it: the kernel the page gets is noted."""

    def __init__(self, manager: PageKernelManager, key: str, holder: bool) -> None:
        self._manager = manager
        self._key = key
        self._holder = holder
        self.kernel_id: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    async def get_rendered_notebook(self, *args: Any, **kwargs: Any) -> Any:
        # added to the manager's class by Voila's preheating factory, at run time
        result = await self._manager.get_rendered_notebook(*args, **kwargs)  # type: ignore[attr-defined]
        self._handed(result[2])  # (render task, rendered cells, kernel id)
        return result

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        kernel_id: str = await ensure_async(self._manager.start_kernel(*args, **kwargs))
        self._handed(kernel_id)
        return kernel_id

    def _handed(self, kernel_id: str) -> None:
        self.kernel_id = kernel_id
        self._manager.handed_to_page(self._key, kernel_id, self._holder)


class PageHandler(TornadoVoilaHandler):
    """Voilà's page handler, admitting a new page only within the caps."""

    _page: _PageKernels | None = None
    refused = False

    @property
    def kernel_manager(self) -> Any:
        return self._page or self.settings["kernel_manager"]

    async def get(self, path: str | None = None) -> None:
        if path:  # another file next to the notebook: a redirect, no kernel
            return await super().get(path)
        manager: PageKernelManager = self.settings["kernel_manager"]
        forwarded = self.request.headers.get_list("X-Forwarded-For")
        key = manager.proxies.client(self.request.remote_ip, forwarded)
        holder = manager.passes.valid(self.get_cookie(PASS_COOKIE))
        refusal = manager.ledger.admit(key, holder)
        if refusal is not None:
            self._refuse(refusal, manager)
            return
        self._page = _PageKernels(manager, key, holder)
        try:
            await super().get(path)
        finally:
            if self._page.kernel_id is None:
                manager.ledger.cancel(key, holder)

    def _refuse(self, refusal: Refusal, manager: PageKernelManager) -> None:
        limit = manager.ledger.per_address if refusal is Refusal.ADDRESS else manager.ledger.total
        retry = manager.retry_after_s
        self.refused = True
        self.set_status(refusal.value)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Retry-After", str(retry))
        self.finish(refusal_page(refusal, limit, retry))


def log_request(handler: RequestHandler) -> None:
    """Tornado's access log without the client address: server errors only."""
    status = handler.get_status()
    if status >= 500 and not getattr(handler, "refused", False):
        ms = 1000 * handler.request.request_time()
        log.error("%d %s %s %.0f ms", status, handler.request.method, handler.request.path, ms)


# A widget extension's file named by its content (``remoteEntry.698dcaf7.js``,
# ``528.d9f5934c.js``) never changes under that name.
CONTENT_NAMED = re.compile(r"\.[0-9a-f]{8,}\.(js|css)$")
IMMUTABLE = "public, max-age=31536000, immutable"


class ExtensionFileHandler(FileFindHandler):
    """Voilà's handler of the widget extensions' files, which it marks all ``no-cache``: a
    returning sponsor's browser asked again for each of them in three waves of round trips
    before the widgets could load. Files named by their content are cached for good."""

    def set_headers(self) -> None:
        super().set_headers()
        if CONTENT_NAMED.search(self.request.path):
            self.set_header("Cache-Control", IMMUTABLE)


# The product's icon, the one the customer's pages show: without it the browser's own request
# for /favicon.ico ends at Voilà's file handler, a 403 and an error in the console.
FAVICON = resources.files("ult.service").joinpath("static/icons/icon-32.png")
FAVICON_MAX_AGE_S = 7 * 86_400


class FaviconHandler(RequestHandler):
    """``GET /favicon.ico``: the product's icon."""

    def get(self) -> None:
        self.set_header("Content-Type", "image/png")
        self.set_header("Cache-Control", f"public, max-age={FAVICON_MAX_AGE_S}")
        self.finish(FAVICON.read_bytes())


class DashboardVoila(Voila):
    """Voilà serving one notebook, with bounded pages and an address-free access log."""

    def init_settings(self) -> dict:
        settings = super().init_settings()
        if not isinstance(self.kernel_manager, PageKernelManager):
            raise RuntimeError("set VoilaConfiguration.multi_kernel_manager_class")
        settings["log_function"] = log_request
        settings.setdefault("headers", {})["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return settings

    def init_handlers(self) -> list:
        swap = {TornadoVoilaHandler: PageHandler, FileFindHandler: ExtensionFileHandler}
        routes = [
            (route[0], swap.get(route[1], route[1]), *route[2:])
            for route in super().init_handlers()
        ]
        return [
            (url_path_join(self.base_url, GUARD_PATH), KeyGuardHandler),
            (url_path_join(self.base_url, "favicon.ico"), FaviconHandler),
            *routes,
        ]


main = DashboardVoila.launch_instance

if __name__ == "__main__":
    main()
