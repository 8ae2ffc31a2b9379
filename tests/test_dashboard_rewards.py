"""The dashboard's rewards side without a browser: the rule editor's every field, the
claims panel (Approve / Reject / Void, fed live by the reader), voiding a scan from the feed,
the rotating counter code (clock injected) and velocity alerts.

Panels are driven from Python as a click would drive them (``ActionTable.act`` is what the
page's button message calls). ``claim_update`` goes to a recorder here; the browser tests
check the real Socket.IO path.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from support.dashboard import EVIL, Shop, earn_and_claim, set_shop_rule
from support.wait import wait_until

import ult.dashboard.alerts as alerts_module
from ult import counter_code, qr, run
from ult.cards import read_card
from ult.claims import list_claims
from ult.dashboard.alerts import alerts_html
from ult.dashboard.app import CLAIMS_TAB
from ult.dashboard.feed import describe
from ult.dashboard.rule_editor import check_number
from ult.dashboard.storage import Business
from ult.errors import UltError
from ult.identity import card_id, short_cid
from ult.keys import sponsor_keys
from ult.rules import Rule, get_rule
from ult.scans import scan
from ult.schema import Event
from ult.sponsors import check_owner
from ult.velocity import Alert

KEY_A = "a" * 43
KEY_B = "b" * 43
LIVE_WAIT_S = 3.0  # the reader shows an entry within ~1 s; generous for a busy machine


# --- rule editor ---------------------------------------------------------------------------------


def test_rule_editor_saves_every_field(shop: Shop, r: redis.Redis) -> None:
    editor = shop.dash.rules
    values = {
        "points_per_scan": 2,
        "points_needed": 6,
        "voucher_min": 20,
        "cooldown_min": 0,
        "daily_cap": 1,
        "expiry_days": 90,
    }
    for name, value in values.items():
        editor.inputs[name].value = value
    editor.reward.value = "A free <cake>"
    editor.approval.value = "staff"
    editor.require_code.value = True
    editor._on_save()
    assert "Saved" in editor.message.value

    expected = Rule(reward="A free <cake>", approval="staff", require_code=True, **values)
    assert run(r, get_rule(shop.sid)) == expected
    [(_, logged)] = [e for e in r.xrange(sponsor_keys(shop.sid).events) if e[1]["t"] == "rule"]
    assert json.loads(logged["rule"]) == expected.to_dict()
    summary = editor.summary.value
    assert "&lt;cake&gt;" in summary and "<cake>" not in summary
    for words in ("valid for 20 minutes", "at most 1 counted visit per card", "counter screen"):
        assert words in summary
    # the panels that depend on the rule follow it
    assert "is on" in shop.dash.counter.required.value
    assert "staff approve each reward" in shop.dash.claims.mode.value

    # a reopened page shows the saved rule
    editor.show(shop.business)
    assert editor.require_code.value is True and editor.inputs["voucher_min"].value == 20


def test_rule_editor_errors_are_plain_words(shop: Shop) -> None:
    editor = shop.dash.rules
    editor.reward.value = "   "
    editor._on_save()
    assert "Reward is required" in editor.message.value
    with pytest.raises(UltError, match=r"^Points for a reward must be a whole number from 1 to"):
        check_number("points_needed", 0)
    with pytest.raises(UltError, match="Minutes a voucher stays valid"):
        check_number("voucher_min", 10**6)
    shop.dash.rules.business = Business(shop.sid, "x", "local:x", "z" * 43)
    editor.reward.value = "Coffee"
    editor._on_save()
    assert "does not match" in editor.message.value


# --- claims --------------------------------------------------------------------------------------


def test_claims_appear_live_and_staff_approve_reject_void(shop: Shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, points_needed=2, cooldown_min=0, approval="staff", reward="Cake")
    panel = shop.dash.claims
    assert panel.pending.rows == [] and shop.dash.tabs.get_title(CLAIMS_TAB) == "Claims"

    first = earn_and_claim(r, shop.sid, KEY_A, 2)
    started = time.monotonic()
    wait_until(lambda: panel.pending.row_ids == [first.id], LIVE_WAIT_S, interval=0.02)
    print(f"claim to dashboard: {time.monotonic() - started:.2f} s")  # a figure, not a bound
    row = panel.pending.row(first.id)
    assert row["cells"]["code"] == first.code and row["cells"]["reward"] == "Cake"
    assert row["cells"]["card"] == short_cid(card_id(KEY_A))
    assert [a["name"] for a in row["actions"]] == ["approve", "reject"]
    assert shop.dash.tabs.get_title(CLAIMS_TAB) == "Claims (1)"
    assert ">1</span>" in panel.badge.value

    assert panel.pending.act("approve", first.id)
    assert f"Approved {first.code}" in panel.message.value
    [(sid, cid, data)] = shop.notes.sent
    assert (sid, cid) == (shop.sid, card_id(KEY_A))  # the full card id: the card's room
    assert data["status"] == "approved" and data["code"] == first.code
    assert data["cid"] == short_cid(card_id(KEY_A))  # the payload shows the short form only
    assert panel.pending.rows == [] and shop.dash.tabs.get_title(CLAIMS_TAB) == "Claims"
    recent = panel.recent.row(first.id)
    assert recent["cells"]["status"].startswith("Approved · valid until")
    assert [a["name"] for a in recent["actions"]] == ["redeem", "void"]

    second = earn_and_claim(r, shop.sid, KEY_B, 2)
    wait_until(lambda: panel.pending.row_ids == [second.id], LIVE_WAIT_S)
    assert panel.pending.act("reject", second.id)
    assert shop.notes.sent[-1][2]["status"] == "rejected"
    assert run(r, read_card(shop.sid, KEY_B)).points == 2  # points given back
    assert panel.recent.row(second.id)["actions"] == []  # nothing left to do

    assert panel.recent.act("void", first.id)
    assert shop.notes.sent[-1][2]["status"] == "void"
    assert run(r, read_card(shop.sid, KEY_A)).points == 2
    assert panel.recent.row(first.id)["cells"]["status"] == "Voided · points given back"
    assert [c.status for c in run(r, list_claims(shop.sid))] == ["rejected", "void"]

    # a page showing an old list: the row no longer offers it; a late click is explained
    assert not panel.recent.act("void", first.id)
    panel._on_action("approve", second.id)
    assert "Someone already dealt with this claim" in panel.message.value
    assert len(shop.notes.sent) == 3


def test_claim_actions_need_the_owner_key(shop: Shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, points_needed=1, cooldown_min=0, approval="staff")
    made = earn_and_claim(r, shop.sid, KEY_A, 1)
    panel = shop.dash.claims
    wait_until(lambda: panel.pending.row_ids == [made.id], LIVE_WAIT_S)
    panel.business = Business(shop.sid, "x", "local:x", "z" * 43)
    assert panel.pending.act("approve", made.id)
    assert "does not match" in panel.message.value
    assert run(r, list_claims(shop.sid))[0].status == "requested" and shop.notes.sent == []


def test_a_failed_notification_is_a_warning_not_an_error(shop: Shop, r: redis.Redis) -> None:
    class Broken:
        def claim_update(self, *_args: object) -> None:
            raise ConnectionError("redis down")

    shop.dash.ctx.__dict__["notifier"] = Broken()
    set_shop_rule(r, shop, points_needed=1, cooldown_min=0, approval="staff")
    made = earn_and_claim(r, shop.sid, KEY_A, 1)
    panel = shop.dash.claims
    wait_until(lambda: panel.pending.row_ids == [made.id], LIVE_WAIT_S)
    panel.pending.act("approve", made.id)
    assert "ask them to reload" in panel.message.value and "ult-note-warn" in panel.message.value
    assert run(r, list_claims(shop.sid))[0].status == "approved"


def test_claim_text_stays_text(shop: Shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, points_needed=1, cooldown_min=0, approval="staff", reward=EVIL)
    made = earn_and_claim(r, shop.sid, KEY_A, 1)
    panel = shop.dash.claims
    wait_until(lambda: panel.pending.row_ids == [made.id], LIVE_WAIT_S)
    assert panel.pending.row(made.id)["cells"]["reward"] == EVIL  # table.js: textContent
    for html in (panel.badge.value, panel.mode.value, panel.message.value):
        assert "<img" not in html


# --- the live feed: void a scan ------------------------------------------------------------------


def test_void_a_scan_from_the_feed(shop: Shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, cooldown_min=0, points_per_scan=2)
    first = run(r, scan(shop.sid, KEY_A, at="table-2"))
    second = run(r, scan(shop.sid, KEY_A))
    feed = shop.dash.live.feed
    wait_until(lambda: feed.row_ids[:2] == [second.entry_id, first.entry_id], LIVE_WAIT_S)
    assert feed.offers(second.entry_id, "void") and feed.offers(first.entry_id, "void")

    assert feed.act("void", second.entry_id)
    card = run(r, read_card(shop.sid, KEY_A))
    assert (card.visits, card.points) == (1, 2)
    assert "Visit voided" in shop.dash.live.message.value
    voided = feed.row(second.entry_id)
    assert voided["css"] == "ult-row-voided" and voided["actions"] == []
    assert voided["cells"]["what"].endswith("voided")
    wait_until(lambda: "Visit voided by you" in feed.rows[0]["cells"]["what"], LIVE_WAIT_S)
    assert feed.offers(first.entry_id, "void")

    # once only, whatever the page sends
    assert not feed.act("void", second.entry_id)
    shop.dash.live._on_feed_action("void", second.entry_id)
    assert "already voided" in shop.dash.live.message.value
    assert run(r, read_card(shop.sid, KEY_A)).points == 2

    # a reopened page knows which visits were voided
    shop.dash.live.show(shop.business, 0)
    assert not shop.dash.live.feed.offers(second.entry_id, "void")
    assert shop.dash.live.feed.offers(first.entry_id, "void")


def test_void_needs_the_owner_key(shop: Shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, cooldown_min=0)
    done = run(r, scan(shop.sid, KEY_A))
    live = shop.dash.live
    wait_until(lambda: live.feed.offers(done.entry_id, "void"), LIVE_WAIT_S)
    live.business = Business(shop.sid, "x", "local:x", "z" * 43)
    live.feed.act("void", done.entry_id)
    assert "does not match" in live.message.value
    assert run(r, read_card(shop.sid, KEY_A)).points == 1


def test_feed_words_for_claims_and_voids() -> None:
    def words(**fields: str) -> str:
        return describe(Event("2-0", 2, **fields))[1]

    assert words(kind="claim", status="requested") == "Reward claimed — waiting for staff"
    assert words(kind="claim", status="approved") == "Reward given"
    assert words(kind="void", ref="1-0").startswith("Visit voided")
    assert words(kind="void", claim="x").startswith("Reward voided")


# --- the rotating counter code -------------------------------------------------------------------


def test_counter_code_rotates_every_window(shop: Shop, r: redis.Redis) -> None:
    panel = shop.dash.counter
    secret = run(r, check_owner(shop.sid, shop.business.owner_key)).code_secret
    now = [counter_code.WINDOW_S * 56_666_667 + 10.0]  # 10 s into a 30-second window
    panel.clock = lambda: now[0]
    assert panel.refresh(force=True)
    first = panel.token
    base = qr.scan_url(shop.dash.ctx.settings.public_url, shop.sid)
    assert panel.screen.url == f"{base}?code={first}"
    assert panel.screen.svg.startswith("<svg") and panel.screen.seconds_left == 20
    assert counter_code.check(secret, shop.sid, first, now[0]) == "ok"
    assert "Scans of your printed poster still count" in panel.required.value
    assert not panel.refresh()  # the page asked twice in the same instant

    serial = panel.screen.serial
    now[0] += 15  # still the same window
    panel.refresh()
    assert panel.token == first and panel.screen.seconds_left == 5
    now[0] += 5  # the next window
    panel.refresh()
    second = panel.token
    assert second != first and panel.screen.serial == serial + 2
    assert counter_code.check(secret, shop.sid, second, now[0]) == "ok"
    assert counter_code.check(secret, shop.sid, first, now[0]) == "ok"  # grace: one window
    assert counter_code.check(secret, shop.sid, first, now[0] + 30) == "bad"

    # the secret itself never reaches the page
    assert secret not in json.dumps(panel.screen.get_state(), default=str)

    # the page's "refresh" message is the same call
    now[0] += 30
    panel._on_message(panel.screen, {"event": "refresh"}, [])
    assert panel.token not in (first, second)


def test_required_counter_code_refuses_a_photo(shop: Shop, r: redis.Redis) -> None:
    editor = shop.dash.rules
    editor.require_code.value = True
    editor.inputs["cooldown_min"].value = 0
    editor._on_save()
    panel = shop.dash.counter
    assert "is on" in panel.required.value
    panel.refresh(force=True)
    secret = run(r, check_owner(shop.sid, shop.business.owner_key)).code_secret
    state = counter_code.check(secret, shop.sid, panel.token)  # what the service does
    assert run(r, scan(shop.sid, KEY_A, code_state=state)).visits == 1
    with pytest.raises(UltError) as refused:
        run(r, scan(shop.sid, KEY_B))  # the poster's URL, or a photo of it at home
    assert refused.value.code == "code_required"
    assert refused.value.message.startswith("Scan the code at the counter.")


# --- velocity alerts -----------------------------------------------------------------------------


def test_alert_for_a_hammered_card(
    shop: Shop, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts_module, "ALERTS_EVERY_S", 0.2)
    set_shop_rule(r, shop, cooldown_min=0)
    area = shop.dash.live.alerts.widget
    assert area.value == ""
    for _ in range(5):
        run(r, scan(shop.sid, KEY_A))
    wait_until(lambda: "counted 5 scans" in area.value, timeout=5)
    assert short_cid(card_id(KEY_A)) in area.value and "Unusual activity" in area.value
    assert [a.kind for a in shop.dash.live.alerts.alerts] == ["card_scans"]


def test_alerts_are_escaped() -> None:
    html = alerts_html([Alert("card_scans", EVIL, 9, "abc")])
    assert "<img" not in html and "&lt;img" in html
    assert alerts_html([]) == ""
