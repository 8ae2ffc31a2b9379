"""Hostile traffic against a real `ult serve`: each attack costs a small, fixed amount.

The service runs with small limits so the tests stay quick. Every test plays its own client
address (all of 127.0.0.0/8 is loopback), because per-address state lives in the service.
"""

from __future__ import annotations

import asyncio
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


def start_service(redis_url: str, var: Path, limits: dict[str, str]) -> Iterator[Service]:
    """`ult serve` with ``limits``; its log goes to a file we can measure."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = var / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ult", "serve", "--port", str(port)],
            env=service_env(redis_url, var, **limits),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert wait_http(f"{url}/healthz", timeout=30, proc=proc), "service did not start"
        yield Service(url, proc, log)
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def guarded(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`ult serve` with small per-address limits."""
    yield from start_service(redis_url, tmp_path_factory.mktemp("var"), LIMITS)


CROWDED_CAP = 60  # connections in all: 3 addresses at their 20 fill it


@pytest.fixture(scope="module")
def crowded(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`ult serve` whose connection cap a few addresses can fill."""
    limits = LIMITS | {"ULT_MAX_CONNECTIONS": str(CROWDED_CAP), "ULT_HEADER_TIMEOUT": "5"}
    yield from start_service(redis_url, tmp_path_factory.mktemp("var"), limits)


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
    from ult.guesses import KeyGuard

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


# ---- a full server, huge headers, polling, refusal floods, a till among guessers ----------


def port_of(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


def http_get(port: int, source: str, path: str, headers: bytes = b"") -> bytes:
    """One request from ``source`` on its own connection; the answer's first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as s:
        s.sendall(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + headers
            + b"\r\n"
        )
        reply = b""
        try:
            while len(reply) < 65536 and (chunk := s.recv(65536)):
                reply += chunk
        except ConnectionResetError:
            pass
        return reply


def read_to_end(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sends until it closes ``sock`` (None: still open after ``timeout``)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return None
    return data


async def test_a_full_server_lets_a_newcomer_and_healthz_in(crowded, make_sponsor):
    s = make_sponsor()
    files_before = crowded.open_files()
    sessions = [session_from(f"127.0.0.{31 + i}") for i in range(3)]
    held = [await raw_socket(crowded.url, session) for session in sessions for _ in range(20)]
    try:
        assert len(held) == CROWDED_CAP  # the server is full
        # a client holding nothing still gets in: /healthz, and a customer who scans
        assert http_get(port_of(crowded), "127.0.0.34", "/healthz").startswith(b"HTTP/1.1 200")
        ack = await scan_once(crowded.url, "127.0.0.35", {"sid": s["sid"], "key": "n" * 43})
        assert ack["ok"] is True
        # a newcomer took the slot of one connection of an address holding the most (the
        # customer may have had the one /healthz gave back)
        closed = await asyncio.gather(*(closed_within(ws, 1.5) for ws in held))
        assert 1 <= sum(closed) <= 2
        # an address at its share takes nobody's slot: the cost stays the cap
        assert crowded.open_files() - files_before <= CROWDED_CAP + 4
    finally:
        for ws in held:
            await ws.close()
        for session in sessions:
            await session.close()


def test_a_server_full_of_fair_shares_still_answers_healthz(crowded):
    port = port_of(crowded)
    files_before = crowded.open_files()
    socks = [half_sent(f"127.0.1.{n}", port) for n in range(1, CROWDED_CAP + 1)]
    try:
        time.sleep(0.3)
        # everyone holds one: nobody's slot is taken, yet /healthz answers from the reserve
        assert http_get(port, "127.0.0.36", "/healthz").startswith(b"HTTP/1.1 200")
        assert http_get(port, "127.0.0.37", "/").startswith(b"HTTP/1.1 503")
        assert all(not closed_by_server(sock, 0.01) for sock in socks)
        assert crowded.open_files() - files_before <= CROWDED_CAP + 4
    finally:
        for sock in socks:
            sock.close()


def test_huge_request_headers_are_refused_with_431(guarded):
    port = port_of(guarded)
    rss_before = guarded.rss()
    big = b"Accept-Language: " + b"a" * 20_000 + b"\r\n"
    assert http_get(port, "127.0.0.41", "/healthz", big).startswith(b"HTTP/1.1 431")
    # a 300 MB header ends after its first 16 KB: the rest is never read
    sock = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.41", 0))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
    sent = 0
    try:
        while sent < 300_000_000:
            sock.sendall(b"b" * 65536)
            sent += 65536
    except OSError:
        pass
    reply = read_to_end(sock, 2)
    sock.close()
    assert reply is not None and reply[:12] in (b"", b"HTTP/1.1 431")  # answered, or reset
    assert sent < 10_000_000
    assert guarded.rss() - rss_before < 4_000_000
    # honest headers (10 KB of cookies) pass, and another address is served meanwhile
    cookies = b"Cookie: " + b"c" * 10_000 + b"\r\n"
    assert http_get(port, "127.0.0.41", "/healthz", cookies).startswith(b"HTTP/1.1 200")
    assert http_get(port, "127.0.0.42", "/healthz").startswith(b"HTTP/1.1 200")


async def test_polling_sessions_are_refused_at_once(guarded, make_sponsor):
    port = port_of(guarded)
    rss_before = guarded.rss()
    for _ in range(200):
        reply = http_get(port, "127.0.0.43", "/socket.io/?EIO=4&transport=polling")
        assert reply.startswith(b"HTTP/1.1 400") and b"Invalid transport" in reply
    assert guarded.rss() - rss_before < 2_000_000  # no session was kept
    s = make_sponsor()
    ack = await scan_once(guarded.url, "127.0.0.44", {"sid": s["sid"], "key": "p" * 43})
    assert ack["ok"] is True
    assert http_get(port, "127.0.0.44", "/healthz").startswith(b"HTTP/1.1 200")


def test_refused_scans_of_returning_cards_cost_a_bounded_amount(make_sponsor, r):
    from ult.clock import DAY_MS
    from ult.dashboard.today import DayStats
    from ult.errors import UltError
    from ult.scans import scan
    from ult.schema import REFUSAL_EVERY_MS, CardRecord, parse_entry

    s = make_sponsor(cooldown_min=600)
    k = sponsor_keys(s["sid"])
    noon = (time.time_ns() // 1_000_000 // DAY_MS + 1) * DAY_MS + DAY_MS // 2  # tomorrow, UTC
    keys = [f"{i:02d}" + "r" * 41 for i in range(5)]
    for key in keys:
        run(r, scan(s["sid"], key, now_ms=noon))
    entries_before = r.xlen(k.events)

    def refuse_all(at: int, rounds: int) -> None:
        for n in range(rounds):
            for key in keys:
                with pytest.raises(UltError) as e:
                    run(r, scan(s["sid"], key, nonce=f"n{at}x{n}", now_ms=at + n))
                assert e.value.code == "cooldown"

    refuse_all(noon + 1000, 200)  # 1,000 refusals with fresh nonces
    assert r.xlen(k.events) - entries_before == len(keys)  # one entry per card
    cards_size, events_size = r.memory_usage(k.cards), r.memory_usage(k.events)
    refuse_all(noon + 2000, 200)
    assert r.xlen(k.events) - entries_before == len(keys)
    assert r.memory_usage(k.events) == events_size
    assert r.memory_usage(k.cards) - cards_size < 100  # counters in the records, no growth
    refuse_all(noon + 1000 + REFUSAL_EVERY_MS, 1)  # a window later: one entry per card again
    assert r.xlen(k.events) - entries_before == 2 * len(keys)
    # the figures count every refusal: the entries' counts plus what the records hold now
    events = [parse_entry(e) for e in r.xrange(k.events)]
    folded = sum(CardRecord.parse(v).refused_n for v in r.hvals(k.cards))
    assert sum(e.refusals for e in events) + folded == 2005
    today = DayStats(noon - DAY_MS // 2)
    for event in events:
        today.add(event)
    assert today.refused == 2005


def test_refusal_figures_weigh_entries_by_their_count():
    import pandas as pd

    from ult.analytics.figures.refusals import refusals

    events = pd.DataFrame(
        {
            "time": pd.to_datetime([0, 1, 2], unit="s", utc=True),
            "sid": ["s", "s", "s"],
            "cid": ["a", "a", "b"],
            "type": ["scan", "refused", "refused"],
            "reason": [None, "cooldown", "cooldown"],
            "count": [None, 5, None],
        }
    )
    row = refusals(events, k=1).loc[("s", "cooldown")]
    assert (row["refused"], row["cards"]) == (6, 2)
    assert row["share_of_attempts"] == pytest.approx(6 / 7)


async def test_a_till_that_proved_its_key_is_not_locked_out_by_guessers(guarded, make_sponsor):
    s = make_sponsor()
    right = {"sid": s["sid"], "staff_key": s["owner_key"]}
    async with session_from("127.0.0.45") as till_session, session_from("127.0.0.45") as other:
        till = socketio.AsyncClient(reconnection=False, http_session=till_session)
        await till.connect(guarded.url, transports=["websocket"])
        assert (await till.call("watch", right))["ok"] is True
        guesser = socketio.AsyncClient(reconnection=False, http_session=other)
        await guesser.connect(guarded.url, transports=["websocket"])
        wrong = {"sid": s["sid"], "staff_key": "w" * 43}
        codes = [(await guesser.call("claims", wrong))["error"]["code"] for _ in range(8)]
        assert codes[-1] == "too_many_attempts"  # the shared address is out of guesses
        # the till keeps working, and a new connection of that address still waits
        assert (await till.call("claims", right))["ok"] is True
        late = await guesser.call("claims", right)
        assert late["error"]["code"] == "too_many_attempts"
        await till.disconnect()
        await guesser.disconnect()
