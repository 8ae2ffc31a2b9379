"""Real nginx in front of a real `ult serve`, configured with the files of deploy/nginx/.

Clients play different addresses (127.0.0.2, .3, …): the service must see each one through
the trusted proxy, and must not believe X-Forwarded-For from anyone else.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from support.service import service_env

from ult.embedded import free_port
from ult.launcher import stop_process, wait_http

ROOT = Path(__file__).resolve().parent.parent  # the checkout

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
DEPLOY = ROOT / "deploy" / "nginx"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make nginx)"),
]

CONFIG = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {deploy}/ult-http.conf;
    upstream ult_scan {{ server 127.0.0.1:{service_port}; }}
    server {{
        listen 127.0.0.1:{port};
        include {deploy}/ult-site.conf;
    }}
}}
"""


@pytest.fixture(scope="module")
def behind_nginx(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`ult serve` trusting 127.0.0.1, and nginx on 127.0.0.1 in front of it."""
    service_port, port = free_port(), free_port()
    env = service_env(
        redis_url,
        tmp_path_factory.mktemp("var"),
        ULT_TRUSTED_PROXIES="127.0.0.1",
        ULT_NEW_CARDS_PER_MINUTE="3",
        ULT_CONNECTIONS_PER_ADDRESS="4",
    )
    service = subprocess.Popen(
        [sys.executable, "-m", "ult", "serve", "--port", str(service_port)], env=env
    )
    tmp: Path = tmp_path_factory.mktemp("nginx")
    conf = tmp / "nginx.conf"
    conf.write_text(CONFIG.format(tmp=tmp, deploy=DEPLOY, service_port=service_port, port=port))
    nginx = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        assert wait_http(f"http://127.0.0.1:{service_port}/healthz", timeout=30, proc=service)
        assert wait_http(f"http://127.0.0.1:{port}/healthz", timeout=10, proc=nginx), (
            nginx.stderr.read().decode() if nginx.poll() is not None else "nginx did not answer"
        )
        yield {"url": f"http://127.0.0.1:{port}", "direct": f"http://127.0.0.1:{service_port}"}
    finally:
        stop_process(nginx)
        stop_process(service)


async def scan_from(url: str, address: str, payload: dict, **headers: str) -> dict:
    """Connect from ``address`` over websocket, scan once, hang up."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        c = socketio.AsyncClient(reconnection=False, http_session=session)
        await c.connect(url, transports=["websocket"], headers=headers)
        try:
            return await c.call("scan", payload, timeout=5)
        finally:
            await c.disconnect()


async def test_scans_and_pages_pass_through_nginx(behind_nginx, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    with urllib.request.urlopen(f"{behind_nginx['url']}/s/{s['sid']}", timeout=5) as resp:
        assert resp.status == 200 and "Fika Sisters" in resp.read().decode()
    for visit in (1, 2):
        payload = {"sid": s["sid"], "key": "p" * 43}
        ack = await scan_from(behind_nginx["url"], "127.0.0.2", payload)
        assert ack["ok"] and ack["visits"] == visit


async def test_limits_see_the_client_through_the_trusted_proxy_only(behind_nginx, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    url, direct = behind_nginx["url"], behind_nginx["direct"]

    def new_card(n: int) -> dict:
        return {"sid": s["sid"], "key": f"{n:03d}" + "c" * 40}

    # through nginx, 127.0.0.3 is limited as itself: its 4th new card this minute is refused,
    # and a forged X-Forwarded-For does not buy it a fresh budget
    acks = [await scan_from(url, "127.0.0.3", new_card(n)) for n in range(4)]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"]["code"] == "too_many_new_cards"
    forged = await scan_from(url, "127.0.0.3", new_card(10), **{"X-Forwarded-For": "192.0.2.1"})
    assert forged["error"]["code"] == "too_many_new_cards"
    # another client behind the same proxy is not lumped in with it
    assert (await scan_from(url, "127.0.0.4", new_card(20)))["ok"]
    # straight to the service from an untrusted address, X-Forwarded-For is ignored
    acks = [
        await scan_from(
            direct, "127.0.0.5", new_card(30 + n), **{"X-Forwarded-For": f"192.0.2.{n}"}
        )
        for n in range(4)
    ]
    assert [a["ok"] for a in acks] == [True, True, True, False]


async def test_connections_are_counted_per_client_behind_the_proxy(behind_nginx):
    """nginx's own connections are not capped as one address; each client behind it is."""
    url = behind_nginx["url"]
    sessions, clients = [], []

    async def connect(address: str) -> bool:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
        sessions.append(session)
        c = socketio.AsyncClient(reconnection=False, http_session=session)
        clients.append(c)
        try:
            await c.connect(url, transports=["websocket"])
        except socketio.exceptions.ConnectionError:
            return False
        return True

    try:
        assert [await connect("127.0.0.7") for _ in range(5)] == [True] * 4 + [False]
        assert await connect("127.0.0.8")
    finally:
        for c in clients:
            if c.connected:
                await c.disconnect()
        for session in sessions:
            await session.close()


def test_security_headers_arrive_through_nginx(behind_nginx, make_sponsor):
    s = make_sponsor()
    for path in (f"/s/{s['sid']}", "/healthz"):
        with urllib.request.urlopen(f"{behind_nginx['url']}{path}", timeout=5) as resp:
            headers = resp.headers
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert headers.get_all("X-Content-Type-Options") == ["nosniff"]
        assert headers.get_all("Referrer-Policy") == ["no-referrer"]
        policies = headers.get_all("Content-Security-Policy")
        assert any("frame-ancestors 'none'" in p for p in policies)
    # the customer page keeps the service's own policy (its inline script's hash) too
    with urllib.request.urlopen(f"{behind_nginx['url']}/s/{s['sid']}", timeout=5) as resp:
        policies = resp.headers.get_all("Content-Security-Policy")
    assert any("default-src 'self'" in p for p in policies)
