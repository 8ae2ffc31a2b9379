"""Real Chromium pages (Playwright's sync API): a customer's phone and the sponsor's
dashboard, and running asyncio beside them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis
from playwright.sync_api import Page, expect

from ult import run
from ult.dashboard.storage import STORAGE_KEY, Business
from ult.rules import Rule, set_rule
from ult.sponsors import register as register_sponsor

T = TypeVar("T")

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESK = {"viewport": {"width": 1200, "height": 900}}
REWARD = "10% off your tab"
FIRST_RENDER_S = 60  # how long a page may take to render before a test gives up (typically ~2 s)


def in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a worker thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=30)


# ---- the customer's phone -------------------------------------------------------------


def visit(page: Page, url: str, expected: str) -> None:
    """Open a scan URL and see ``expected`` as the headline."""
    page.goto(url)
    expect(page.locator("#headline")).to_have_text(expected, timeout=5000)


def key_of(page: Page, sid: str) -> str:
    """The card key the phone keeps for ``sid``."""
    return json.loads(page.evaluate("localStorage.getItem('ult.cards')"))[sid]["key"]


def earn(page: Page, base: str, sid: str, visits: int) -> None:
    """Scan ``visits`` times, each one counted."""
    for n in range(1, visits + 1):
        visit(page, f"{base}/s/{sid}", f"Visit {n} recorded")


def start_claim(page: Page, valid_for: str) -> None:
    """Tap Claim now and see the confirmation (the final tap is the caller's)."""
    box = page.locator("#claim")
    expect(box.locator(".claim-reward")).to_have_text(REWARD)
    box.get_by_role("button", name="Claim now").click()
    expect(box.locator(".claim-text")).to_contain_text(f"the voucher is valid for {valid_for}")


def confirm(page: Page) -> None:
    """The final tap of a claim."""
    page.locator("#claim").get_by_role("button", name="Yes, claim it").click()


# ---- the sponsor's dashboard ----------------------------------------------------------


def unique(name: str) -> str:
    """``name`` with a random suffix: Redis is shared between the browser tests."""
    return f"{name} {uuid.uuid4().hex[:6]}"


def open_dashboard(page: Page, url: str | None) -> float:
    """Load ``url`` (None: reload) until the form or a business shows; returns the seconds."""
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

    started = time.monotonic()
    if url is None:
        page.reload()
    else:
        page.goto(url)
    ready = page.locator(".ult-name input:visible, .ult-biz-name:visible").first
    try:
        expect(ready).to_be_visible(timeout=FIRST_RENDER_S * 1000)
    except AssertionError:
        print("\n".join(console))
        raise
    return time.monotonic() - started


def open_tab(page: Page, title: str) -> None:
    """Click the dashboard tab ``title``."""
    page.get_by_role("tab", name=title).click()


def register(page: Page, name: str, address: str, country: str = "Sweden") -> dict:
    """Fill, validate, approve; returns the business as stored in localStorage."""
    if page.locator(".ult-tabs").is_visible():
        open_tab(page, "Add a business")
    page.locator(".ult-name input").fill(name)
    page.locator(".ult-address input").fill(address)
    page.locator(".ult-country select").select_option(label=country)
    page.get_by_role("button", name="Validate address").click()
    found = page.locator(".ult-found")
    expect(found).to_contain_text("Not verified by Google")
    expect(found).to_contain_text("local:")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".ult-owner-key")).to_be_visible()
    stored = json.loads(page.evaluate("localStorage.getItem('ult.sponsor')"))
    business = stored["businesses"][-1]
    assert business["biz"] == " ".join(name.split())
    assert page.locator(".ult-owner-key").inner_text() == business["owner_key"]
    return business


def sponsor_via_core(r: redis.Redis, name: str, **rule: object) -> Business:
    """Register through the core (as `ult register` does) and set the rule."""
    place = f"local:test-{uuid.uuid4().hex}"
    reg = register_sponsor(r, name, "Storgatan 1, Stockholm", "SE", place)
    run(r, set_rule(reg.sid, reg.owner_key, Rule(**rule)))
    return Business(reg.sid, reg.biz, place, reg.owner_key, "Storgatan 1, Stockholm", 1)


def open_as_owner(page: Page, url: str, business: Business) -> None:
    """Put the business into the browser's profile the way the dashboard keeps it, then open
    the dashboard (the owner key comes from there, as after a registration)."""
    page.goto(f"{url}/voila/static/voila.js")  # the origin, without starting a kernel
    profile = {"v": 1, "uid": uuid.uuid4().hex, "businesses": [business.to_json()]}
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [STORAGE_KEY, json.dumps(profile)])
    open_dashboard(page, url)
    expect(page.locator(".ult-biz-name")).to_have_text(business.biz)
