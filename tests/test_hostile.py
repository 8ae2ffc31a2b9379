"""Hostile traffic against a real `ult serve`: each attack costs a small, fixed amount.

The service runs with small limits so the tests stay quick. Every test plays its own client
address (all of 127.0.0.0/8 is loopback), because per-address state lives in the service.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from support.service import service_env

from ult import run
from ult.embedded import free_port
from ult.keys import sponsor_keys
from ult.launcher import stop_process, wait_http
from ult.sponsors import key_failures

LIMITS = {
    "ULT_NEW_CARDS_PER_MINUTE": "5",
    "ULT_CONNECTIONS_PER_ADDRESS": "20",
    "ULT_HEADER_TIMEOUT": "1",
    "ULT_KEY_GUESSES_PER_MINUTE": "2",
    "ULT_EVENT_RATE": "5",
}


class Service:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path) -> None:
        self.url, self.proc, self.log = url, proc, log

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return (
            int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS:")).split()[1]) * 1024
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def guarded(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`ult serve` with small per-address limits; its log goes to a file we can measure."""
    var = tmp_path_factory.mktemp("var")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = var / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ult", "serve", "--port", str(port)],
            env=service_env(redis_url, var, **LIMITS),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_http(f"{url}/healthz", timeout=30, proc=proc), "service did not start"
        yield Service(url, proc, log)
    finally:
        stop_process(proc)


def session_from(address: str) -> aiohttp.ClientSession:
    """An HTTP session whose connections leave from ``address`` (a second loopback client)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def scan_once(url: str, address: str, payload: dict) -> dict:
    """Connect from ``address``, scan once, disconnect: the reconnect-and-farm pattern."""
    async with session_from(address) as session:
        c = socketio.AsyncClient(reconnection=False, http_session=session)
        await c.connect(url, transports=["websocket"])
        try:
            return await c.call("scan", payload, timeout=5)
        finally:
            await c.disconnect()


async def raw_socket(url: str, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """A Socket.IO connection spoken by hand, so a test can send any frame."""
    ws = await session.ws_connect(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    )
    assert (await ws.receive_str()).startswith("0")  # Engine.IO open
    await ws.send_str("40")  # Socket.IO connect
    assert (await ws.receive_str()).startswith("40")
    return ws


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    """True when the server closes ``ws`` within ``seconds`` (pings are answered)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            return False
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return True
        if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")
    return False


def snapshot(r) -> dict:
    return {k: r.dump(k) for k in r.keys("*")}


def no_address_stored(r) -> bool:
    """No loopback address anywhere in Redis: keys, hash fields, values, stream entries."""
    return all(not ("127.0." in key or b"127.0." in (r.dump(key) or b"")) for key in r.keys("*"))


async def test_reconnect_and_farm_is_capped_per_address(guarded, make_sponsor, r):
    s = make_sponsor(cooldown_min=0)
    k = sponsor_keys(s["sid"])
    keys = [f"{i:02d}" + "f" * 41 for i in range(8)]
    acks = [
        await scan_once(guarded.url, "127.0.0.11", {"sid": s["sid"], "key": key}) for key in keys
    ]
    assert [a["ok"] for a in acks] == [True] * 5 + [False] * 3
    for ack in acks[5:]:
        assert ack["error"]["code"] == "too_many_new_cards"
        assert "try again" in ack["error"]["message"].lower()
    assert r.hlen(k.cards) == 5
    before = snapshot(r)
    refused = await scan_once(guarded.url, "127.0.0.11", {"sid": s["sid"], "key": "z" * 43})
    assert refused["error"]["code"] == "too_many_new_cards" and snapshot(r) == before
    # a returning card from the limited address is not the target
    back = await scan_once(guarded.url, "127.0.0.11", {"sid": s["sid"], "key": keys[0]})
    assert back["ok"] and back["visits"] == 2
    # nor is a customer at another address
    other = await scan_once(guarded.url, "127.0.0.12", {"sid": s["sid"], "key": "y" * 43})
    assert other["ok"] and other["visits"] == 1
    assert no_address_stored(r)


def half_sent(address: str, port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(address, 0))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
    return sock


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_half_sent_requests_are_capped_and_cut_off(guarded):
    port = int(guarded.url.rsplit(":", 1)[1])
    files_before = guarded.open_files()
    socks = [half_sent("127.0.0.13", port) for _ in range(200)]
    try:
        time.sleep(0.3)
        # the address holds at most its 20 connections: the process did not take 200 handles
        assert guarded.open_files() - files_before <= 25
        refused_at_once = sum(closed_by_server(s, 0.05) for s in socks)
        assert refused_at_once >= 180
        # customers at other addresses are served meanwhile
        conn = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.14", 0))
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 200")
        conn.close()
        # past the header deadline (1 s here) the held ones are closed too
        time.sleep(1.2)
        assert all(closed_by_server(s, 1.0) for s in socks)
        assert guarded.open_files() - files_before <= 2
    finally:
        for s in socks:
            s.close()


async def test_binary_attachments_are_refused_on_the_first(guarded):
    rss_before = guarded.rss()
    async with session_from("127.0.0.15") as session:
        ws = await raw_socket(guarded.url, session)
        # an event that announces 5,000 attachments, and 2,000 of them (16 MB) right behind it
        await ws.send_str('455000-["scan",{"_placeholder":true,"num":0}]')
        blob = b"\x00" * 7900
        for _ in range(2000):
            if ws.closed:
                break
            try:
                await ws.send_bytes(blob)
            except (ConnectionError, aiohttp.ClientError):
                break
        assert await closed_within(ws, 3)
        assert guarded.rss() - rss_before < 4_000_000  # nothing was buffered
        ws = await raw_socket(guarded.url, session)
        await ws.send_bytes(b"\x00" * 8000)  # a binary frame out of the blue
        assert await closed_within(ws, 3)


async def test_malformed_frames_and_unknown_events_close_and_log_one_line(guarded):
    log_before = len(guarded.log_text())
    frames = ["42garbage", '42["nope",{}]', '42["connect",{}]', "4{", "43[]", "42" + "[" * 500]
    async with session_from("127.0.0.16") as session:
        for i in range(60):
            ws = await raw_socket(guarded.url, session)
            await ws.send_str(frames[i % len(frames)])
            assert await closed_within(ws, 3), frames[i % len(frames)]
    written = guarded.log_text()[log_before:]
    assert "Traceback" not in written
    assert len(written) < 500  # one summary line a minute at most, not one per frame


async def test_a_connection_that_keeps_flooding_is_closed(guarded, make_sponsor):
    s = make_sponsor()
    frame = "42" + json.dumps(["card", {"sid": s["sid"], "key": "k" * 43}])
    async with session_from("127.0.0.17") as session:
        ws = await raw_socket(guarded.url, session)
        for _ in range(400):
            await ws.send_str(frame)
        assert await closed_within(ws, 5)


async def test_guessed_owner_keys_are_slowed_and_counted(guarded, make_sponsor, r):
    s = make_sponsor()
    wrong = {"sid": s["sid"], "owner_key": "w" * 43}
    async with session_from("127.0.0.18") as session:
        c = socketio.AsyncClient(reconnection=False, http_session=session)
        await c.connect(guarded.url, transports=["websocket"])
        acks = [await c.call("watch", wrong) for _ in range(10)]
        await c.disconnect()
    codes = [a["error"]["code"] for a in acks]
    assert codes == ["unauthorized"] * 4 + ["too_many_attempts"] * 6  # burst: 2 × 2 a minute
    assert "try again in" in acks[-1]["error"]["message"]
    assert run(r, key_failures(s["sid"])) == 4  # the owner can see it: a count, no address
    # the owner, at another address, still gets in while the guesser waits
    async with session_from("127.0.0.19") as session:
        owner = socketio.AsyncClient(reconnection=False, http_session=session)
        await owner.connect(guarded.url, transports=["websocket"])
        ack = await owner.call("watch", {"sid": s["sid"], "owner_key": s["owner_key"]})
        await owner.disconnect()
    assert ack["ok"] is True
    assert no_address_stored(r)


def test_address_keys_and_trusted_proxies():
    from ult.addresses import TrustedProxies, address_key

    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("not an address") == "unknown"
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    assert proxies.client("127.0.0.1", ["198.51.100.4"]) == "198.51.100.4"
    # a client's own X-Forwarded-For is left of what the proxy appended: ignored
    assert proxies.client("127.0.0.1", ["1.2.3.4, 198.51.100.4"]) == "198.51.100.4"
    assert proxies.client("10.1.1.1", ["198.51.100.4, 10.2.2.2"]) == "198.51.100.4"
    # an untrusted peer's header is never believed
    assert proxies.client("203.0.113.9", ["198.51.100.4"]) == "203.0.113.9"
    assert TrustedProxies("").client("127.0.0.1", ["198.51.100.4"]) == "127.0.0.1"


def test_key_guard_slows_an_address_and_a_business_but_not_its_owner():
    from ult.errors import UltError
    from ult.service.guesses import KeyGuard

    guard = KeyGuard(per_minute=1)  # bursts of 2 per address, 10 per business

    def may_try(address: str) -> bool:
        try:
            guard.check(address, "fika-1234")
        except UltError as e:
            assert e.code == "too_many_attempts" and e.extra["retry_in"] > 0
            return False
        return True

    for _ in range(2):
        assert may_try("198.51.100.1")
        guard.failure("198.51.100.1", "fika-1234")
    assert not may_try("198.51.100.1")
    for n in range(2, 12):  # many addresses, one wrong key each: the business's budget runs out
        assert may_try(f"198.51.100.{n}")
        guard.failure(f"198.51.100.{n}", "fika-1234")
    assert not may_try("198.51.100.5")  # has failed before: waits for the business's budget
    assert may_try("203.0.113.7")  # never failed (the owner's dashboard): still checked


def test_per_address_maps_are_bounded():
    from ult.service.ratelimit import BucketMap

    budget = BucketMap(per_minute=5, burst=5, max_keys=1000)
    for n in range(100_000):
        budget.take(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
    assert len(budget) == 1000
    assert [budget.take("192.0.2.1") for _ in range(6)] == [True] * 5 + [False]


def test_healthz_is_ok(guarded):
    with urllib.request.urlopen(f"{guarded.url}/healthz", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ok"
