"""A connection over its client address's cap is refused with the catalog's words: a real
Socket.IO client gets `{code, message}`, the scan page says why instead of "offline".

The service trusts 127.0.0.1 as a proxy, so each test plays a client address of its own
through X-Forwarded-For (the connection gate does not cap a trusted proxy's connections;
the Socket.IO connect counts each client behind it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import socketio
from playwright.sync_api import expect
from support.service import running_service
from support.wait import wait_until

from ult.i18n import translate
from ult.messages import ERRORS, format_message

CAP = 1  # connections per client address


@pytest.fixture(scope="module")
def capped(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ult serve` behind a trusted 127.0.0.1, one connection per client address."""
    var = tmp_path_factory.mktemp("var")
    limits = {"ULT_TRUSTED_PROXIES": "127.0.0.1", "ULT_CONNECTIONS_PER_ADDRESS": str(CAP)}
    with running_service(redis_url, var, **limits) as base:
        yield base


async def connect_from(url: str, client: str, refusals: list) -> socketio.AsyncClient:
    c = socketio.AsyncClient(reconnection=False)
    c.on("connect_error", refusals.append)
    await c.connect(url, transports=["websocket"], headers={"X-Forwarded-For": client})
    return c


async def test_a_connection_over_the_cap_gets_the_code_and_the_catalog_sentence(capped):
    refusals: list = []
    first = await connect_from(capped, "192.0.2.1", refusals)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect_from(capped, "192.0.2.1", refusals)
        other = await connect_from(capped, "192.0.2.2", refusals)  # its own cap
        await other.disconnect()
    finally:
        await first.disconnect()
    sentence = format_message("too_many_connections")
    data = {"code": "too_many_connections", "message": sentence}
    assert refusals == [{"message": sentence, "data": data}]
    again = await connect_from(capped, "192.0.2.1", refusals)  # the slot is free again
    await again.disconnect()
    assert len(refusals) == 1


@pytest.mark.browser
def test_the_scan_page_says_too_many_connections_and_its_retry_counts(
    capped, make_sponsor, new_page
):
    sid = make_sponsor(cooldown_min=0)["sid"]
    tab = {"extra_http_headers": {"X-Forwarded-For": "192.0.2.3"}}
    holder = new_page(**tab)  # an open tab on the same network holds the one connection
    holder.goto(f"{capped}/s/{sid}")
    expect(holder.locator("#headline")).to_have_text("Visit 1 recorded", timeout=10000)
    page = new_page(**tab)
    page.goto(f"{capped}/s/{sid}")
    title, detail = (translate("en", text) for text in ERRORS["too_many_connections"])
    expect(page.locator("#headline")).to_have_text(title, timeout=8000)
    expect(page.locator("#detail")).to_have_text(detail)
    page.wait_for_timeout(6000)  # past the page's own "offline" timer: the refusal stays
    expect(page.locator("#headline")).to_have_text(title)

    holder.close()  # the tab is closed: Try again connects and counts the visit

    def counted() -> bool:
        if page.locator("#headline").text_content() == "Visit 1 recorded":
            return True
        if page.locator("#retry").is_visible():
            page.locator("#retry").click()
        return False

    wait_until(counted, 10, interval=0.5, sleep=page.wait_for_timeout, message="not counted")
