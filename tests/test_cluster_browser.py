"""The sponsor dashboard's live feed in real Chromium, on the Redis Cluster: Voilà and the
scan service both pointed at one node of it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import socketio
from playwright.sync_api import expect
from support.browser import in_own_loop, open_dashboard, open_tab, register, unique

from ult.identity import card_id, short_cid

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster_dashboard_url(cluster, cluster_services, tmp_path_factory) -> Iterator[str]:
    from support.voila import running_voila

    with running_voila(cluster.url, tmp_path_factory.mktemp("var"), cluster_services[0]) as v:
        yield v.url


async def scan_on(url: str, sid: str, key: str) -> dict:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, transports=["websocket"])
    try:
        return await client.call("scan", {"sid": sid, "key": key, "at": "bar"})
    finally:
        await client.disconnect()


def test_live_feed_on_the_cluster(cluster_dashboard_url, cluster_services, new_page) -> None:
    page = new_page()
    open_dashboard(page, cluster_dashboard_url)
    sid = register(page, unique("Klusterkrogen"), "Nodgatan 5, Oslo", "Norway")["sid"]
    open_tab(page, "Live")
    expect(page.locator(".ult-stat-scans .ult-stat-value")).to_have_text("0")
    key = uuid.uuid4().hex + uuid.uuid4().hex
    sent = time.monotonic()
    ack = in_own_loop(scan_on(cluster_services[1], sid, key))  # the other service process
    assert ack["ok"], ack
    feed = page.locator(".ult-feed")
    expect(feed).to_contain_text(short_cid(card_id(key)), timeout=5000)
    print(f"scan to live feed on the cluster: {time.monotonic() - sent:.2f} s")
    expect(feed).to_contain_text("bar")
    expect(page.locator(".ult-stat-scans .ult-stat-value")).to_have_text("1")
