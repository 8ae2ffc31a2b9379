"""How the pages and static files are served to a phone on slow data: gzipped, the scan page
self-contained (its scripts inline, allowed by hash), versioned files immutable, and a next
visit's page from the service worker without asking the network for it."""

from __future__ import annotations

import asyncio
import gzip
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect
from support.browser import visit

from ult.embedded import free_port
from ult.service.assets import Piece, StaticAssets, csp_hash, gzip_join

INLINE_SCRIPT = re.compile(r"<script(?: type=\"module\")?>(.*?)</script>", re.S)


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and the body as sent (not decompressed)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def test_the_scan_page_is_gzipped_and_carries_its_scripts(service_url, make_sponsor) -> None:
    sid = make_sponsor()["sid"]
    status, headers, packed = get(f"{service_url}/s/{sid}", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in headers["vary"] and "Accept-Language" in headers["vary"]
    page = gzip.decompress(packed).decode()
    assert len(packed) < 45_000 and len(packed) * 2.5 < len(page)
    _, plain_headers, plain = get(f"{service_url}/s/{sid}")
    assert "content-encoding" not in plain_headers and len(plain) == len(page.encode())
    # Socket.IO, the opener and the page's modules are inline: no script or style from a URL.
    assert "<script src" not in page and 'rel="stylesheet"' not in page
    assert page.index("/socket.io/") < page.index("<title>")  # the socket opens first
    scripts = INLINE_SCRIPT.findall(page)
    assert len(scripts) == 3 and "import " not in scripts[-1].split("\n", 1)[0]
    csp = headers["content-security-policy"]
    for text in scripts:
        assert csp_hash(text) in csp  # each inline script allowed by its hash, nothing else
    assert "'unsafe-inline'" not in csp


def test_versioned_static_files_are_immutable_and_gzipped(service_url) -> None:
    _, _, wallet = get(f"{service_url}/wallet")
    css = re.search(r'href="(/static/v/[0-9a-f]+/css/ult\.css)"', wallet.decode())
    assert css, "the wallet names its style sheet by version"
    preloads = re.findall(r'rel="modulepreload" href="(/static/v/[^"]+)"', wallet.decode())
    assert {Path(p).name for p in preloads} >= {"cards.js", "claim.js", "common.js", "promos.js"}
    status, headers, body = get(service_url + css[1], **{"Accept-Encoding": "gzip, br"})
    assert status == 200 and "immutable" in headers["cache-control"]
    assert headers["content-encoding"] == "gzip" and len(body) * 3 < len(gzip.decompress(body))
    status, headers, body = get(f"{service_url}/static/v/0123456789ab/css/ult.css")
    assert status == 404  # another deploy's version is not served as this one's
    status, headers, sio = get(f"{service_url}/static/vendor/socket.io.min.js")
    assert status == 200 and headers["cache-control"] == "no-cache" and headers["etag"]
    status, _, _ = get(
        f"{service_url}/static/vendor/socket.io.min.js", **{"If-None-Match": headers["etag"]}
    )
    assert status == 304
    _, _, worker = get(f"{service_url}/sw.js")
    version = css[1].split("/")[3]
    assert f'"{version}"' in worker.decode() and "__ULT_STATIC_VERSION__" not in worker.decode()


def test_the_bundle_scopes_modules_and_refuses_forms_it_cannot_join(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js/a.js").write_text("export const A = 1;\nexport function f() { return A; }\n")
    (tmp_path / "js/b.js").write_text('import { A, f as g } from "./a.js";\nexport class B {}\n')
    (tmp_path / "js/main.js").write_text('import {\n  B,\n} from "./b.js";\nconst A = 2;\n')
    assets = StaticAssets(tmp_path)
    assert assets.module_graph("js/main.js") == ["js/a.js", "js/b.js", "js/main.js"]
    bundle = assets.bundle("js/main.js")
    assert "import " not in bundle and "export " not in bundle
    assert 'const { A, f: g } = __ult["js/a.js"];' in bundle
    assert "return { A, f };" in bundle and "return { B };" in bundle
    (tmp_path / "js/main.js").write_text("export default 1;\n")
    with pytest.raises(ValueError, match="bundler"):
        StaticAssets(tmp_path).bundle("js/main.js")


def test_a_page_joined_from_precompressed_pieces_is_one_valid_gzip() -> None:
    piece = Piece.of("console.log('constant');" * 500)
    joined = gzip_join([b"<p>head</p>", piece, b"<p>tail</p>"])
    assert gzip.decompress(joined) == b"<p>head</p>" + piece.raw + b"<p>tail</p>"
    assert len(joined) < len(piece.raw) // 10


# ---- a next visit from the service worker, counted at a proxy ------------------------------


class CountingProxy:
    """A loopback TCP proxy noting the path of every HTTP request that passes it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.paths: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if up:  # websocket frames from a browser are masked: no false request lines
                    self.paths += [
                        m.decode() for m in re.findall(rb"(?m)^GET (\S+) HTTP/1\.1\r$", data)
                    ]
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._pipe(reader, up_writer, True), self._pipe(up_reader, writer, False)
        )

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()


@pytest.fixture
def proxy(service_url: str) -> Iterator[CountingProxy]:
    target = urlparse(service_url)
    p = CountingProxy((target.hostname or "127.0.0.1", target.port or 80))
    thread = threading.Thread(target=p.run, daemon=True)
    thread.start()
    p.ready.wait(10)
    yield p
    p.loop.call_soon_threadsafe(p.loop.stop)
    thread.join(10)


@pytest.mark.browser
def test_a_next_visit_takes_its_page_from_the_service_worker(
    proxy, make_sponsor, r, new_page
) -> None:
    sid = make_sponsor(cooldown_min=0)["sid"]
    url = f"http://127.0.0.1:{proxy.port}/s/{sid}"
    page = new_page()
    visit(page, url, "Visit 1 recorded")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function(
        "caches.open('ult-scan-pages').then((c) => c.match(location.pathname)).then(Boolean)",
        timeout=10000,
    )
    assert proxy.paths.count(f"/s/{sid}") == 2  # the visit, and the worker keeping the page
    asked = len(proxy.paths)

    again = page.context.new_page()
    response = again.goto(url + "?at=t1")
    expect(again.locator("#headline")).to_have_text("Visit 2 recorded", timeout=5000)
    assert response is not None and response.from_service_worker
    since = proxy.paths[asked:]
    assert not [p for p in since if p.startswith("/s/")], since  # no page from the network
    assert [p.split("?")[0] for p in since if "transport=websocket" in p] == ["/socket.io/"]
    events = [f for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan"]
    assert len(events) == 2  # one counted visit each
