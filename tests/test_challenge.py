"""Proof-of-work challenges: a shared address past its new-card budget still gets honest first
visits counted, one solved challenge per card, while a farm that does not solve gets no more
cards than the budget. A real `ult serve` with a small budget; Chromium for the page."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import altcha
import pytest
import socketio
from support.service import running_service

from ult.identity import card_id
from ult.keys import sponsor_keys
from ult.service import challenge as pow_challenge
from ult.service.challenge import Challenges, stored_key

BUDGET = 3  # new cards per minute per address in this service


@pytest.fixture(scope="module")
def budgeted(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ult serve` with a small new-card budget (other per-address limits off)."""
    var = tmp_path_factory.mktemp("var")
    with running_service(redis_url, var, ULT_NEW_CARDS_PER_MINUTE=str(BUDGET)) as url:
        yield url


def scan(url: str, payload: dict) -> dict:
    """Connect, scan once, disconnect (from 127.0.0.1, like the browser)."""
    with socketio.SimpleClient() as c:
        c.connect(url, transports=["websocket"])
        return c.call("scan", payload, timeout=10)


def solve(challenge: dict) -> str:
    """The `pow` field for ``challenge``, solved with the altcha package's own solver."""
    found = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    assert found is not None
    fields = ("algorithm", "challenge", "salt", "signature")
    payload = {name: challenge[name] for name in fields} | {"number": found.number}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def new_key(n: int) -> str:
    return f"pow{n:04d}{time.time_ns()}".ljust(43, "q")


def use_up_budget(url: str, sid: str) -> list[dict]:
    """Scans of new cards until the address is refused: the budget is used up."""
    acks = [scan(url, {"sid": sid, "key": new_key(i)}) for i in range(BUDGET + 2)]
    assert not acks[-1]["ok"]
    return acks


# ---- the service ----------------------------------------------------------------------


def test_a_farm_that_does_not_solve_gets_the_budget_only(budgeted, make_sponsor, r):
    sid = make_sponsor(cooldown_min=0)["sid"]
    acks = [scan(budgeted, {"sid": sid, "key": new_key(i)}) for i in range(BUDGET + 6)]
    refused = [a for a in acks if not a["ok"]]
    assert r.hlen(sponsor_keys(sid).cards) == len(acks) - len(refused) <= BUDGET
    for ack in refused:
        assert ack["error"]["code"] == "too_many_new_cards"
        assert set(ack["challenge"]) == {"algorithm", "challenge", "salt", "signature", "maxnumber"}


def test_a_solved_challenge_starts_that_one_card(budgeted, make_sponsor, r):
    sid = make_sponsor(cooldown_min=0)["sid"]
    use_up_budget(budgeted, sid)
    before = r.hlen(sponsor_keys(sid).cards)
    key = new_key(100)
    refused = scan(budgeted, {"sid": sid, "key": key, "nonce": "n1"})
    pow = solve(refused["challenge"])
    ack = scan(budgeted, {"sid": sid, "key": key, "nonce": "n1", "pow": pow})
    assert ack["ok"] and ack["visits"] == 1
    assert r.hlen(sponsor_keys(sid).cards) == before + 1
    # the solution is for that card: another new card gets nothing from it
    other = scan(budgeted, {"sid": sid, "key": new_key(101), "pow": pow})
    assert other["error"]["code"] == "too_many_new_cards"
    assert r.hlen(sponsor_keys(sid).cards) == before + 1


def test_a_forged_solution_is_refused(budgeted, make_sponsor, r):
    sid = make_sponsor(cooldown_min=0)["sid"]
    use_up_budget(budgeted, sid)
    before = r.hlen(sponsor_keys(sid).cards)
    key = new_key(200)
    c = scan(budgeted, {"sid": sid, "key": key})["challenge"]
    real = json.loads(base64.b64decode(solve(c)))
    forgeries = [
        real | {"number": real["number"] + 1},  # a wrong answer
        real | {"signature": "0" * 64},  # not signed by the service
        {**real, "salt": real["salt"].replace("for=", "for=0")},  # bound to another card
    ]
    for forged in forgeries:
        pow = base64.b64encode(json.dumps(forged).encode()).decode()
        ack = scan(budgeted, {"sid": sid, "key": key, "pow": pow})
        assert ack["error"]["code"] == "too_many_new_cards" and "challenge" in ack
    garbage = scan(budgeted, {"sid": sid, "key": key, "pow": "bm90IGpzb24="})
    assert garbage["error"]["code"] == "too_many_new_cards"
    assert r.hlen(sponsor_keys(sid).cards) == before


# ---- the module -----------------------------------------------------------------------


def test_a_solution_is_spent_once_and_expires(monkeypatch):
    challenges = Challenges("k" * 32)
    c = challenges.issue("10.0.0.1", "cafe", "a" * 43)
    pow = solve(c)
    assert challenges.redeem("10.0.0.1", pow, "cafe", "a" * 43)
    assert not challenges.redeem("10.0.0.1", pow, "cafe", "a" * 43)  # replayed
    assert not Challenges("other key" * 4).redeem("10.0.0.1", solve(c), "cafe", "a" * 43)
    monkeypatch.setattr(pow_challenge, "TTL_S", -1)
    stale = challenges.issue("10.0.0.1", "cafe", "b" * 43)
    assert not challenges.redeem("10.0.0.1", solve(stale), "cafe", "b" * 43)


def test_a_farm_that_solves_pays_more_per_card():
    challenges = Challenges("k" * 32)
    first = challenges.max_number("10.0.0.2")
    for _ in range(4 * pow_challenge.FREE_SOLUTIONS_PER_MINUTE):
        challenges.recent.add("10.0.0.2")
    assert challenges.max_number("10.0.0.2") >= 4 * first
    assert challenges.max_number("10.0.0.3") == first  # the next café pays the base price
    assert challenges.max_number("10.0.0.2") <= pow_challenge.MAX_FACTOR * first


def test_the_workers_of_one_host_share_the_key(tmp_path: Path):
    assert stored_key(tmp_path) == stored_key(tmp_path)
    assert (tmp_path / "challenge.key").stat().st_mode & 0o077 == 0


# ---- the page -------------------------------------------------------------------------


@pytest.mark.browser
def test_a_phone_behind_a_busy_address_gets_its_first_visit(budgeted, make_sponsor, r, new_page):
    from playwright.sync_api import expect
    from support.browser import PHONE
    from test_customer_browser import scans_in_stream, sent_events

    sid = make_sponsor(cooldown_min=0)["sid"]
    fresh = new_page(**PHONE)
    sent = sent_events(fresh)
    use_up_budget(budgeted, sid)  # the browser's address (127.0.0.1) is now over budget
    before = len(scans_in_stream(r, sid))
    fresh.goto(f"{budgeted}/s/{sid}")
    expect(fresh.locator("#headline")).to_have_text("Visit 1 recorded", timeout=15000)
    scans = [payload for name, payload in sent if name == "scan"]
    assert len(scans) == 2 and "pow" not in scans[0] and "pow" in scans[1]
    assert scans[0]["nonce"] == scans[1]["nonce"]  # the same visit, sent again
    key = json.loads(fresh.evaluate("localStorage.getItem('ult.cards')"))[sid]["key"]
    assert r.hexists(sponsor_keys(sid).cards, card_id(key))
    assert len(scans_in_stream(r, sid)) == before + 1
