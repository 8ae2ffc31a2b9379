"""The scan page's early socket (static/js/boot.js, docs/protocol.md "The scan page's early
socket"): the Socket.IO CONNECT and the scan leave together, without waiting for the server's
answers, and the server answers both in order; the page's client then takes the socket."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
import websocket
from playwright.sync_api import Page, expect
from support.wait import wait_until

KEY = "e" * 43
ACK_ID = 999999  # boot.js's id for the early request


def frames_until(ws: websocket.WebSocket, prefix: str, limit: int = 10) -> list[str]:
    """The frames the server sends, up to the first that starts with ``prefix``."""
    seen: list[str] = []
    while len(seen) < limit:
        seen.append(ws.recv())
        if seen[-1].startswith(prefix):
            return seen
    raise AssertionError(f"no {prefix!r} in {seen}")


def test_a_scan_sent_right_behind_the_connect_is_answered(service_url, make_sponsor, r):
    sid = make_sponsor(cooldown_min=0)["sid"]
    url = f"ws://{urlparse(service_url).netloc}/socket.io/?EIO=4&transport=websocket"
    scan = json.dumps(["scan", {"sid": sid, "key": KEY, "nonce": "early-1"}])
    ws = websocket.create_connection(url, timeout=5)
    try:
        # before reading anything, the server's Engine.IO open packet included
        ws.send("40")
        ws.send(f"42{ACK_ID}{scan}")
        ws.send(f"42{ACK_ID + 1}{scan}")  # the same visit again: counted once
        frames = frames_until(ws, f"43{ACK_ID + 1}[")
    finally:
        ws.close()
    kinds = [re.match(r"\d+", f)[0] for f in frames]  # type: ignore[index]
    assert kinds == ["0", "40", f"43{ACK_ID}", f"43{ACK_ID + 1}"], frames
    first, again = (json.loads(re.sub(r"^43\d+", "", f))[0] for f in frames[2:])
    assert first["ok"] and first["visits"] == 1 and not first["duplicate"]
    assert again["ok"] and again["visits"] == 1 and again["duplicate"]
    assert len([f for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan"]) == 1


def frames(page: Page) -> tuple[list[str], list[str]]:
    """Every text frame the page sends and receives on its websockets, in order."""
    sent: list[str] = []
    got: list[str] = []

    def watch(ws) -> None:
        ws.on("framesent", lambda p: sent.append(str(p)))
        ws.on("framereceived", lambda p: got.append(str(p)))

    page.on("websocket", watch)
    return sent, got


@pytest.mark.browser
def test_the_page_sends_connect_and_scan_at_once_then_its_client_takes_over(
    service_url, make_sponsor, r, new_page
):
    sid = make_sponsor(cooldown_min=0, points_needed=1, reward="A free bun")["sid"]
    page = new_page()
    sent, got = frames(page)
    page.goto(f"{service_url}/s/{sid}")
    expect(page.locator("#headline")).to_have_text("Visit 1 recorded", timeout=5000)
    assert sent[0] == "40" and sent[1].startswith(f'42{ACK_ID}["scan",')
    # the client's own CONNECT is not sent (the server has one): one connection, one scan
    assert sent.count("40") == 1
    assert len([f for f in sent if f.startswith("42")]) == 1
    # the client has the socket: a claim goes through it and its answer reaches the page
    page.get_by_role("button", name="Claim now").click()
    page.get_by_role("button", name="Yes, claim it").click()
    claimed = re.compile(r'42(\d+)\["claim"')
    wait_until(lambda: any(map(claimed.match, sent)), 5, sleep=page.wait_for_timeout)
    [claim_id] = [m[1] for m in map(claimed.match, sent) if m]
    assert claim_id != str(ACK_ID)
    answered = f"43{claim_id}["
    wait_until(lambda: any(f.startswith(answered) for f in got), 5, sleep=page.wait_for_timeout)
    scans = [f for _, f in r.xrange(f"ult:{{{sid}}}:events") if f.get("t") == "scan"]
    assert len(scans) == 1
