"""Redeeming a voucher from the dashboard's claims panel, the live feed's words for it, the
poster's warning when phones cannot reach ULT_PUBLIC_URL, and core errors in the sponsor's
language."""

from __future__ import annotations

import pytest
import redis
from support.dashboard import earn_and_claim, set_shop_rule

from ult import run
from ult.claims import list_claims
from ult.dashboard.claims_panel import NO_PENDING
from ult.dashboard.feed import describe
from ult.dashboard.poster import reach, reach_warning
from ult.errors import UltError
from ult.i18n import LANGUAGES, translate, use
from ult.identity import new_secret
from ult.schema import Event
from ult.validation import check_text


def test_the_claims_panel_redeems_an_approved_voucher(shop, r: redis.Redis) -> None:
    set_shop_rule(r, shop, points_needed=1, approval="staff", cooldown_min=0)
    made = earn_and_claim(r, shop.sid, new_secret(), 1)
    claims = shop.dash.claims
    claims.reload()
    assert claims.pending.act("approve", made.id)
    assert claims.recent.offers(made.id, "redeem") and claims.recent.offers(made.id, "void")
    assert claims.recent.act("redeem", made.id)
    assert "Redeemed" in claims.message.value and made.code in claims.message.value
    [after] = [c for c in run(r, list_claims(shop.sid)) if c.id == made.id]
    assert after.state == "redeemed" and after.by == "owner"
    row = claims.recent.row(made.id)
    assert row is not None and row["cells"]["status"].startswith("Used at")
    assert not claims.recent.offers(made.id, "redeem")  # once only
    assert shop.notes.sent[-1][2]["state"] == "redeemed"  # the customer's phone was told


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_feed_words_a_redeemed_voucher(lang: str) -> None:
    use(lang)
    try:
        css, text = describe(Event(id="1-0", ms=0, kind="claim", status="redeemed"))
    finally:
        use("en")
    assert css == "ult-ev-claim" and text == translate(lang, "Voucher redeemed")
    assert lang == "en" or text != "Voucher redeemed"


@pytest.mark.parametrize(
    ("url", "who"),
    [
        ("http://127.0.0.1:8000", "loopback"),
        ("http://localhost:8000", "loopback"),
        ("http://[::1]:8000", "loopback"),
        ("http://0.0.0.0:8000", "loopback"),
        ("http://192.168.1.20:8000", "private"),
        ("http://10.0.0.5", "private"),
        ("http://cafe.local", "private"),
        ("https://loyalty.example.com", "public"),
        ("https://93.184.216.34", "public"),
    ],
)
def test_who_can_reach_the_public_url(url: str, who: str) -> None:
    assert reach(url) == who


def test_the_poster_warns_in_the_sponsors_language(shop) -> None:
    poster = shop.dash.poster
    assert "ult-reach-warning" in poster.link.value  # the tests' service is on 127.0.0.1
    assert "Phones can&#x27;t reach this address" in poster.link.value
    assert reach_warning("https://loyalty.example.com") == ""
    use("de")
    try:
        assert "Telefone erreichen diese Adresse nicht" in reach_warning("http://127.0.0.1")
    finally:
        use("en")


def test_core_errors_keep_their_code_and_read_in_any_language() -> None:
    with pytest.raises(UltError) as caught:
        check_text("Business name", "", max_len=80)
    error = caught.value
    assert error.code == "bad_request" and error.message == "Business name is required."
    assert error.words("de") == "Name des Geschäfts fehlt."
    assert error.to_ack()["error"] == {"code": "bad_request", "message": error.message}


def test_the_empty_claims_list_is_translated() -> None:
    assert translate("de", NO_PENDING) != NO_PENDING
