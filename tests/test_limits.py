"""Every text limit is declared once (ult/validation.py LIMITS): each check, hint, page and
doc reads it there, so no restated number can drift from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ult import demo
from ult.dashboard.registration import check_form, name_hint
from ult.dashboard.storage import Business
from ult.errors import UltError
from ult.places import OfflineResolver
from ult.qr import poster_html
from ult.rules import Rule
from ult.service.pages import page_config
from ult.sponsors import register
from ult.staff import check_name as check_staff_name
from ult.validation import LIMITS, clip_text

ROOT = Path(__file__).resolve().parent.parent
MOST = LIMITS["business_name"]
URL = "http://127.0.0.1:8000/s/fika-1234"


def name_checks(r) -> dict[str, object]:
    """Every place a business name is checked, as name → call."""
    return {
        "places": lambda name: OfflineResolver().resolve(name, "Storgatan 1", "SE"),
        "sponsors": lambda name: register(r, name, "Storgatan 1", "SE", f"local:{len(name)}"),
        "dashboard form": lambda name: check_form(name, "Storgatan 1", "SE"),
        "poster": lambda name: poster_html(name, URL),
    }


def test_every_business_name_check_takes_the_same_longest_name(r) -> None:
    for where, check in name_checks(r).items():
        check("x" * MOST)  # accepted everywhere
        with pytest.raises(UltError) as e:
            check("x" * (MOST + 1))
        assert e.value.code == "bad_request", where


def test_the_dashboard_hint_states_the_limit_it_checks() -> None:
    assert f"up to {MOST} characters" in name_hint("Fika")
    assert f"at most {MOST}" in name_hint("x" * (MOST + 1))
    assert "ult-hint-error" not in name_hint("x" * MOST)


def test_other_texts_use_their_declared_limits() -> None:
    Rule(reward="r" * LIMITS["reward"]).validated()
    with pytest.raises(UltError):
        Rule(reward="r" * (LIMITS["reward"] + 1)).validated()
    assert check_staff_name("s" * LIMITS["staff_name"])
    with pytest.raises(UltError):
        check_staff_name("s" * (LIMITS["staff_name"] + 1))


def test_the_pages_get_the_limits_in_their_config() -> None:
    assert json.loads(page_config("en"))["limits"] == LIMITS


def test_a_stored_name_longer_than_the_limit_still_shows() -> None:
    long = "Café " + "y" * (2 * MOST)
    item = {"sid": "fika-1234", "biz": long, "place_id": "local:1", "owner_key": "k" * 43}
    business = Business.from_json(item)
    assert business is not None and len(business.biz) == MOST and business.biz.endswith("…")
    assert clip_text("  Fika   Sisters ", "business_name") == "Fika Sisters"


def test_the_demo_names_fit() -> None:
    names = [name for kind in demo.businesses.KINDS for name in kind.names]
    assert names and all(len(name) <= MOST for name in names)


def test_no_limit_is_restated_as_a_literal() -> None:
    """Text lengths are checked through LIMITS: no ``max_len=<number>`` in the code, and the
    page scripts take their limits from the config."""
    literal = re.compile(r"max_len=\d")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "ult").rglob("*.py")
        if literal.search(path.read_text())
    ]
    assert offenders == []
    scripts = ROOT / "ult" / "service" / "static" / "js"
    for name in ("cards.js", "common.js", "scan.js", "wallet.js"):
        source = (scripts / name).read_text()
        assert not re.search(r"MAX_\w+\s*=\s*\d", source), name
    assert 'limit("business_name")' in (scripts / "cards.js").read_text()
