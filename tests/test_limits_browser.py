"""The page scripts read the text limits from their config (ult/validation.py LIMITS)."""

from __future__ import annotations

import base64
import json

import pytest

from ult.validation import LIMITS

pytestmark = pytest.mark.browser


def test_a_recovery_code_name_is_cut_at_the_declared_limit(service_url, new_page) -> None:
    long = "F" * (3 * LIMITS["business_name"])
    body = json.dumps({"v": 1, "cards": {"fika-1234": {"key": "k" * 43, "biz": long}}})
    code = "ULT1." + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    page = new_page()
    page.goto(f"{service_url}/wallet")
    names = page.evaluate(
        """async (code) => {
            const cards = await import("/static/js/cards.js");
            const common = await import("/static/js/common.js");
            return [cards.parseCode(code)["fika-1234"].biz, common.limit("business_name")];
        }""",
        code,
    )
    assert names == ["F" * LIMITS["business_name"], LIMITS["business_name"]]
