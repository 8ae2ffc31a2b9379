"""The test browser reaches this machine only (``CHROMIUM_ARGS``' host resolver rules): a
page on loopback loads by address and as ``localhost``, but no other name resolves inside the
browser, not even one the system resolves to that same page."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.browser


@pytest.fixture
def port(tmp_path) -> Iterator[int]:
    """A page titled "here" served on 127.0.0.1."""
    (tmp_path / "index.html").write_text("<title>here</title>")

    def handler(*args):
        return http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_loads(new_page, port: int, host: str) -> None:
    page = new_page()
    page.goto(f"http://{host}:{port}/")
    assert page.title() == "here"


def test_other_names_do_not_resolve(new_page, port: int) -> None:
    name = socket.gethostname()
    if socket.gethostbyname(name) != "127.0.0.1":
        pytest.skip(f"this machine's name {name} is not 127.0.0.1 in its hosts file")
    page = new_page()
    for url in (f"http://{name}:{port}/", "http://example.com/"):
        with pytest.raises(PlaywrightError, match="ERR_NAME_NOT_RESOLVED"):
            page.goto(url)
