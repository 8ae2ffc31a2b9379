"""Owner keys in the dashboard: guessing is slowed per address in the Voilà server and counted
for the owner; a browser holding a business gets in past anonymous pages; names that show
nothing are refused; the page runs under a real Content-Security-Policy.

The slow tests run a real Voilà that believes X-Forwarded-For from 127.0.0.1, so two Chromium
contexts (or plain GETs) count as different client addresses.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
import redis
from playwright.sync_api import expect
from support.browser import open_as_owner, open_dashboard, open_tab, register, sponsor_via_core
from support.voila import voila_process
from support.wait import wait_until

from ult import run
from ult.dashboard.app import failures_html
from ult.dashboard.kernels import PageLedger, Refusal
from ult.dashboard.keyguard import KeyChecks, LocalGuard, PassSigner, answer
from ult.dashboard.voila_app import CONTENT_SECURITY_POLICY
from ult.errors import UltError
from ult.guesses import KeyGuard
from ult.i18n import use
from ult.sponsors import Profile, check_owner, key_failures
from ult.validation import check_text

PER_MINUTE = 3  # wrong keys per address and minute, in bursts of twice that
TOTAL, RESERVED, PER_ADDRESS = 5, 2, 2
BLANK_NAMES = [
    "\u3164",  # HANGUL FILLER
    "\u2800\u2800\u2800",  # BRAILLE PATTERN BLANK
    "\u3164 \u2800 \ufe0f",
    "\u115f\u1160\uffa0",
]
INVISIBLE = "\u200b\u200c\u200d"  # zero-width: refused as not showable
ZALGO = "A" + "\u0301" * 50


# ---- the core ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", BLANK_NAMES)
def test_a_name_that_shows_nothing_is_refused(text: str) -> None:
    with pytest.raises(UltError, match="at least one visible letter, number or symbol"):
        check_text("Business name", text, max_len=80)


def test_invisible_and_stacked_names_are_refused_real_ones_kept(r: redis.Redis) -> None:
    from ult.promotions.parsing import new_promotion
    from ult.rules import Rule
    from ult.sponsors import register as register_sponsor
    from ult.staff import check_name

    with pytest.raises(UltError, match="cannot be shown"):
        check_text("Business name", INVISIBLE, max_len=80)
    with pytest.raises(UltError, match="too many accents"):
        register_sponsor(r, ZALGO, "Storgatan 1", "SE", "local:zalgo")
    with pytest.raises(UltError, match="visible"):
        register_sponsor(r, "\u3164", "Storgatan 1", "SE", "local:filler")
    with pytest.raises(UltError, match="visible"):
        Rule(reward="\u2800").validated()
    with pytest.raises(UltError, match="visible"):
        check_name("\u3164\u3164")
    with pytest.raises(UltError, match="visible"):
        new_promotion("\u2800", "2", start="2030-01-01T10:00+00:00", end="2030-01-02T10:00+00:00")
    for name in ("Phở Việt", "ไก่ย่าง", "Kafé Åsa & 東京", "☕", "7-Eleven"):
        assert check_text("Business name", name, max_len=80) == name


def test_the_service_uses_the_core_guard() -> None:
    from ult.service.guards import Guards
    from ult.settings import load_settings

    assert isinstance(Guards.from_settings(load_settings({})).keys, KeyGuard)


def test_the_guard_slows_one_address_not_the_owner() -> None:
    guard = KeyGuard(PER_MINUTE)
    tried = 0
    for _ in range(100):
        if guard.wait_s("attacker", "shop"):
            break
        tried += 1
        guard.failure("attacker", "shop")
    assert tried == 2 * PER_MINUTE  # the burst, then refused without looking
    assert guard.wait_s("owner", "shop") == 0  # an address that never failed


def test_page_checks_count_every_wrong_key(r: redis.Redis) -> None:
    shop = sponsor_via_core(r, "Guarded Café")
    checks = KeyChecks(lambda: r, LocalGuard(PER_MINUTE))
    refused = 0
    for _ in range(20):
        try:
            checks.checked(shop.sid, check_owner(shop.sid, "x" * 43))
        except UltError as e:
            refused += e.code == "too_many_attempts"
    assert run(r, key_failures(shop.sid)) == 2 * PER_MINUTE
    assert refused == 20 - 2 * PER_MINUTE


def test_the_server_guard_answers_per_page_address() -> None:
    """The Voilà server's answer: by the address of the page that holds the kernel."""
    ledger = PageLedger(0, 0)
    manager = SimpleNamespace(key_guard=KeyGuard(PER_MINUTE), ledger=ledger, passes=PassSigner())
    for kernel, address in (("k-attack", "198.51.100.7"), ("k-owner", "203.0.113.9")):
        ledger.admit(address)
        ledger.bind(address, kernel)
    tried = 0
    while not answer(manager, "k-attack", "shop", "check")["wait"] and tried < 100:
        answer(manager, "k-attack", "shop", "failure")
        tried += 1
    assert tried == 2 * PER_MINUTE
    assert answer(manager, "k-owner", "shop", "check") == {"wait": 0}
    issued = answer(manager, "k-owner", "shop", "proved")["pass"]
    assert manager.passes.valid(issued)


def test_a_pass_is_signed_by_this_server() -> None:
    signer = PassSigner()
    issued = signer.issue("fika-3fa9")
    assert signer.valid(issued)
    assert not PassSigner().valid(issued)  # another server's secret
    for forged in ("", "fika-3fa9", "fika-3fa9.", issued[:-1] + "0", "x" + issued):
        assert not signer.valid(forged) or forged == issued


def test_the_reserve_keeps_pages_for_browsers_holding_a_business() -> None:
    ledger = PageLedger(per_address=2, total=5, reserved=2)
    assert [ledger.admit(a) for a in ("a", "a", "b")] == [None] * 3
    assert ledger.admit("c") is Refusal.FULL  # anonymous pages are full
    assert ledger.admit("d", holder=True) is None
    assert ledger.admit("d", holder=True) is None
    assert ledger.admit("e", holder=True) is Refusal.FULL  # the total holds
    ledger.cancel("d", holder=True)
    ledger.cancel("a")
    assert ledger.anonymous == 2 and ledger.pages == 3
    assert ledger.admit("c") is None


def test_the_owner_sees_the_wrong_keys_tried() -> None:
    use("en")
    profile = Profile.from_hash({"sid": "s-1", "biz": "B", "created_ms": "1767225600000"})
    assert failures_html(0, profile, 60) == ""
    line = failures_html(12, profile, 60)
    assert "12 wrong keys were tried for this business since Jan 1, 2026." in line
    assert "1 wrong key was tried" in failures_html(1, profile, 60)


def test_the_policy_is_tight() -> None:
    for part in (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "connect-src 'self' ws: wss:",
    ):
        assert part in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


# ---- a real Voilà ------------------------------------------------------------------------


@pytest.fixture
def keyed_voila(
    redis_url: str, service_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Voilà with small caps, a reserve, a small key budget; X-Forwarded-For from 127.0.0.1
    is believed."""
    settings = {
        "ULT_DASHBOARD_KERNELS_PER_ADDRESS": str(PER_ADDRESS),
        "ULT_DASHBOARD_KERNELS": str(TOTAL),
        "ULT_DASHBOARD_KERNELS_RESERVED": str(RESERVED),
        "ULT_DASHBOARD_KERNEL_TIMEOUT": "30",
        "ULT_KEY_GUESSES_PER_MINUTE": str(PER_MINUTE),
        "ULT_TRUSTED_PROXIES": "127.0.0.1",
    }
    var_dir = tmp_path_factory.mktemp("var")
    with voila_process(redis_url, var_dir, service_url, **settings) as (launch, _proc):
        yield launch.url


def get_status(url: str, source: str) -> int:
    """``GET /`` from the loopback address ``source``, without a cookie."""
    parts = urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=90)
    try:
        conn.request("GET", "/", headers={"X-Forwarded-For": source})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def csp_violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and found.append(m.text))
    return found


@pytest.mark.slow
@pytest.mark.browser
def test_guessing_from_one_address_is_slowed_while_the_owner_gets_in(
    keyed_voila: str, redis_url: str, new_page
) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    shop = sponsor_via_core(r, "Guessed Café")
    attacker = new_page(extra_http_headers={"X-Forwarded-For": "198.51.100.7"})
    violations = csp_violations(attacker)
    response = attacker.goto(keyed_voila)
    assert (
        response is not None and "object-src 'none'" in response.headers["content-security-policy"]
    )
    open_dashboard(attacker, None)
    attacker.get_by_text("Add a business registered elsewhere").click()
    attacker.locator(".ult-import-sid input").fill(shop.sid)
    message = attacker.locator(".ult-import .ult-message")

    def failures() -> int:
        return int(r.hget(f"ult:{{{shop.sid}}}:profile", "key_failures") or 0)

    for i in range(3 * PER_MINUTE):
        before = failures()
        attacker.locator(".ult-import-key input").fill(f"{i:x}".rjust(43, "x"))
        attacker.get_by_role("button", name="Add to this browser").click()
        wait_until(
            lambda n=before: failures() > n or "Too many" in message.inner_text(),
            20,
            message="the page did not answer the key",
        )
    wrong = failures()
    print(f"wrong keys checked from one address: {wrong} of {3 * PER_MINUTE} tried")
    assert wrong == 2 * PER_MINUTE
    expect(message).to_contain_text("Too many wrong keys")

    owner = new_page()  # another address (127.0.0.1), the right key in its storage
    owner_violations = csp_violations(owner)
    open_as_owner(owner, keyed_voila, shop)
    expect(owner.locator(".ult-key-failures")).to_contain_text(
        f"{wrong} wrong keys were tried for this business"
    )
    assert not violations and not owner_violations


@pytest.mark.slow
@pytest.mark.browser
def test_a_sponsor_with_a_saved_key_gets_in_past_anonymous_pages(
    keyed_voila: str, new_page
) -> None:
    page = new_page()
    violations = csp_violations(page)
    open_dashboard(page, keyed_voila)
    page.locator(".ult-name input").fill("\u3164\u3164")
    page.locator(".ult-address input").fill("Kungsgatan 4, Stockholm")
    page.locator(".ult-country select").select_option(label="Sweden")
    page.get_by_role("button", name="Validate address").click()
    expect(page.locator(".ult-register .ult-message")).to_contain_text("visible letter")
    business = register(page, "Reserve Café", "Kungsgatan 4, Stockholm")
    page.get_by_role("button", name="I have saved it").click()
    open_tab(page, "QR & poster")
    expect(page.locator(".ult-scan-url")).to_contain_text(f"/s/{business['sid']}")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["ult_pass"].startswith(business["sid"] + ".")
    assert not violations, violations

    # anonymous pages from other addresses take every page but the reserve
    statuses = [get_status(keyed_voila, f"198.51.100.{i}") for i in (1, 1, 2, 2)]
    assert statuses.count(200) == TOTAL - RESERVED - 1  # the sponsor's first page was anonymous
    assert get_status(keyed_voila, "198.51.100.3") == 503

    again = new_page(page.context)  # a second tab of the same browser: it has the pass
    open_dashboard(again, keyed_voila)
    expect(again.locator(".ult-biz-name")).to_have_text(business["biz"])
    assert get_status(keyed_voila, "198.51.100.4") == 503  # still bounded
