"""The Rewards tab's promotion editor without a browser, driven as clicks would drive it."""

from __future__ import annotations

import redis
from support.dashboard import register_in

from ult import promotions as pr
from ult import run
from ult.dashboard.feed import describe
from ult.dashboard.storage import Business
from ult.keys import sponsor_keys
from ult.scans import scan
from ult.schema import Event


def test_promotion_editor_adds_lists_and_deletes(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    editor = dash.promos
    assert "largest multiplier wins" in editor.widget.children[0].value
    assert "No promotions yet" in editor.table.value
    assert editor.zone.value == "Europe/Stockholm"

    editor.name.value = "Double <b>points</b>"
    editor.multiplier.value = 2
    editor.start.value = "2099-12-24 14:00"
    editor.end.value = "2099-12-24 17:00"
    editor._on_add()
    assert "Added" in editor.message.value
    editor.kind.value = "weekly"
    assert editor.once_box.layout.display == "none" and editor.weekly_box.layout.display == ""
    editor.name.value = "Happy hour"
    editor.multiplier.value = 1.5
    editor.days.value, editor.from_time.value, editor.to_time.value = "tue-thu", "22:00", "01:00"
    editor._on_add()

    stored = pr.list_promotions(r, business.sid)
    assert [(p.name, p.multiplier) for p in stored] == [
        ("Double <b>points</b>", 2.0),
        ("Happy hour", 1.5),
    ]
    once = stored[0]
    assert once.to_dict()["start"] == "2099-12-24T13:00:00Z"  # typed in Stockholm time
    table = editor.table.value
    assert "&lt;b&gt;points" in table and "<b>points" not in table
    assert "Tue, Wed, Thu 22:00–01:00" in table and "×1.5" in table
    assert [v for _, v in editor.to_delete.options] == [p.id for p in stored]

    editor.to_delete.value = once.id
    editor._on_delete()
    assert [p.name for p in pr.list_promotions(r, business.sid)] == ["Happy hour"]
    assert "Double" not in editor.table.value

    editor.zone.value = "America/New_York"
    editor._on_zone()
    assert "America/New_York" in editor.message.value
    assert pr.sponsor_zone(r, business.sid) == "America/New_York"
    kinds = [e["s"] for _, e in r.xrange(sponsor_keys(business.sid).events) if e["t"] == "promo"]
    assert kinds == ["add", "add", "delete", "tz"]


def test_promotion_editor_refuses_bad_input_in_plain_words(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    editor = dash.promos
    cases = [
        (
            {
                "name": "Oops",
                "multiplier": 11,
                "start": "2099-01-01 10:00",
                "end": "2099-01-01 11:00",
            },
            "at most 10",
        ),
        (
            {
                "name": "Oops",
                "multiplier": 0,
                "start": "2099-01-01 10:00",
                "end": "2099-01-01 11:00",
            },
            "more than 0",
        ),
        (
            {
                "name": "Oops",
                "multiplier": 2,
                "start": "2099-01-01 10:00",
                "end": "2099-01-01 09:00",
            },
            "after the start",
        ),
        ({"name": "Oops", "multiplier": 2, "start": "soon", "end": "2099-01-01 09:00"}, "ISO 8601"),
    ]
    for values, words in cases:
        for name, value in values.items():
            getattr(editor, name).value = value
        editor._on_add()
        assert words in editor.message.value, (values, editor.message.value)
    editor.kind.value = "weekly"
    editor.days.value, editor.from_time.value, editor.to_time.value = (
        "tue-caturday",
        "14:00",
        "17:00",
    )
    editor._on_add()
    assert "Unknown weekday" in editor.message.value
    editor.zone.value = "Atlantis/Central"
    editor._on_zone()
    assert "Unknown time zone" in editor.message.value
    editor.business = Business(business.sid, "x", "local:x", "z" * 43)  # a stale owner key
    editor.days.value = "tue"
    editor._on_add()
    assert "does not match" in editor.message.value
    assert pr.list_promotions(r, business.sid) == []
    assert not [e for _, e in r.xrange(sponsor_keys(business.sid).events) if e["t"] == "promo"]
    assert run(r, scan(business.sid, "k" * 43)).gained == 1


def test_the_live_feed_words_promotions() -> None:
    changed = Event("1-0", 1, kind="promo", status="add")
    assert describe(changed) == ("ult-ev-info", "Promotions changed")
    promoted = Event("2-0", 2, kind="scan", visit=3, points=2, promo="0000beef")
    assert describe(promoted)[1] == "Visit 3 · +2 points (promotion)"
