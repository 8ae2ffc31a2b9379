"""Facts declared once: the Lua scripts agree with ``ult.schema`` and ``ult.rules.Rule``."""

from __future__ import annotations

import re
from dataclasses import fields
from importlib import resources

from ult import demo, run
from ult.keys import sponsor_keys
from ult.rules import RULE_FIELDS, Rule
from ult.scans import scan
from ult.schema import CLAIM_STATUSES, COLUMNS, KINDS, SCAN_REPLY, F

LUA = resources.files("ult").joinpath("lua")


def lua_source(name: str) -> str:
    return LUA.joinpath(f"{name}.lua").read_text()


def lua_list(name: str) -> list[str]:
    """The strings of ``local NAME = {'a', 'b', ...}`` in lib.lua."""
    body = re.search(rf"local {name} = \{{(.*?)\}}", lua_source("lib"), re.S)
    assert body, f"{name} not found in lib.lua"
    return re.findall(r"'([^']*)'", body.group(1))


def test_lua_reads_the_rule_fields_of_rule_with_its_defaults() -> None:
    assert lua_list("RULE_FIELDS") == list(RULE_FIELDS)
    defaults = Rule().to_hash()
    assert lua_list("RULE_DEFAULTS") == [defaults[name] for name in RULE_FIELDS]
    assert tuple(f.name for f in fields(Rule)) == RULE_FIELDS


def test_a_sponsor_without_a_stored_rule_scans_under_rule_defaults(r, make_sponsor) -> None:
    sid = make_sponsor(points_needed=3)["sid"]
    r.delete(sponsor_keys(sid).rule)
    result = run(r, scan(sid, "k" * 43))
    assert result.rule == Rule()
    assert result.next_scan_in == Rule().cooldown_min * 60


def test_every_field_the_scripts_write_is_declared(r) -> None:
    """Every script that writes the stream, run by the demo: each entry's kind and fields are
    declared in ``ult.schema``."""
    report = demo.load(r, demo.DemoConfig(sponsors=5, days=60, seed=4), progress=False)
    seen: dict[str, set[str]] = {}
    statuses: set[str] = set()
    for sponsor in report.sponsors:
        for _, entry in r.xrange(sponsor_keys(sponsor["sid"]).events):
            seen.setdefault(entry[F.KIND], set()).update(set(entry) - {F.KIND})
            if entry[F.KIND] in ("claim", "void") and F.STATUS in entry:
                statuses.add(entry[F.STATUS])
    assert statuses == set(CLAIM_STATUSES)
    assert set(seen) == set(KINDS)
    for kind, written in seen.items():
        assert written <= set(KINDS[kind]), (kind, written - set(KINDS[kind]))


def test_the_scan_script_answers_the_declared_reply_shape(r, make_sponsor) -> None:
    sid = make_sponsor()["sid"]
    k = sponsor_keys(sid)
    reply = r.eval(
        LUA.joinpath("lib.lua").read_text() + lua_source("scan"),
        6,
        *[k.profile, k.rule, k.cards, k.events, k.watched, k.claims],
        *["c" * 32, "", "", 1_800_000_000_000, "none", "1"],
    )
    assert len(reply) == 1 and len(reply[0]) == len(SCAN_REPLY)
    assert set(COLUMNS) <= {F.KIND, *(c for codes in KINDS.values() for c in codes)}
