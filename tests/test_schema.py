"""Facts declared once: the Lua scripts, the Python readers and the docs agree with
``ult.schema`` and ``ult.rules.Rule``, and nothing else spells a stream field code."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from importlib import resources
from pathlib import Path

from ult import demo, ops, run
from ult.cards import read_card
from ult.keys import sponsor_keys
from ult.rules import RULE_FIELDS, Rule
from ult.scans import scan
from ult.schema import (
    ATTRIBUTES,
    CARD_RECORD,
    CARD_REPLY,
    CLAIM_STATES,
    CLAIM_STATUSES,
    COLUMNS,
    KINDS,
    OPEN_CLAIM_STATES,
    SCAN_REPLY,
    CardRecord,
    Event,
    F,
    parse_entry,
)

ROOT = Path(__file__).resolve().parent.parent
LUA = resources.files("ult").joinpath("lua")
CODES = set(ATTRIBUTES)
# Codes that are also ordinary words (DataFrame columns, JSON keys): flagged only on a stream
# entry's fields (a mapping named like one, or ``entry[1]``); the others are flagged anywhere.
WORD_CODES = {F.CLAIM, F.REF, F.RULE, F.BY, F.PROMOTION}
ENTRY_NAMES = {"f", "fields", "entry", "e", "flat", "raw"}


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
    assert run(r, read_card(sid, "k" * 43)).rule == Rule()


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


def _lua_code(name: str) -> str:
    """A script without its comments."""
    return re.sub(r"--[^\n]*", "", lua_source(name))


def test_the_scripts_take_every_field_code_from_the_generated_header() -> None:
    """No script spells a field code: each names it as ``F.NAME`` of the header that
    ``ult.ops`` generates from ``ult.schema`` (a kind may equal a code: ``F.KIND, 'rule'``)."""
    names = {name for name in vars(F) if name.isupper()}
    scripts = [p.name[:-4] for p in LUA.iterdir() if p.name.endswith(".lua")]
    used: set[str] = set()
    for name in scripts:
        code = _lua_code(name)
        used |= set(re.findall(r"\bF\.([A-Z_]+)", code))
        for m in re.finditer(r"'([^']*)'", code):
            kind_value = re.search(r"F\.KIND,\s*$", code[: m.start()])
            assert m.group(1) not in CODES or kind_value, (name, m.group(1))
    assert used <= names, used - names
    assert {"KIND", "CARD", "VISIT", "POINTS", "REASON", "STATUS", "CLAIM", "BY"} <= used
    for name in scripts:
        header = ops.script_source(name)[0]
        assert "local F = {" in header and "local CARD_RECORD = {" in header


def _literal(node: ast.AST) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _on_entry(node: ast.AST) -> bool:
    """Whether ``node`` looks like a stream entry's fields: ``fields``, ``f``, ``entry[1]``..."""
    if isinstance(node, ast.Name):
        return node.id in ENTRY_NAMES or node.id.endswith("fields")
    return isinstance(node, ast.Subscript) and _literal(node.slice) == 1


def _spelled_codes(tree: ast.AST) -> list[tuple[int, str]]:
    """Field codes read from an entry (``x["c"]``, ``x.get("c")``, ``"c" in x``) or written
    with XADD (a dict literal or keyword in an ``xadd`` / ``"XADD"`` call)."""
    found: list[tuple[int, str]] = []

    def flag(node: ast.AST, key: ast.AST, on: ast.AST | None) -> None:
        code = _literal(key)
        if code in CODES and (code not in WORD_CODES or on is None or _on_entry(on)):
            found.append((node.lineno, str(code)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            flag(node, node.slice, node.value)
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            flag(node, node.left, node.comparators[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get", "pop") and node.args:
                flag(node, node.args[0], node.func.value)
            is_xadd = node.func.attr == "xadd" or (
                node.args and str(_literal(node.args[0])).upper() == "XADD"
            )
            if is_xadd:
                for arg in [*node.args[1:], *(k.value for k in node.keywords)]:
                    keys = arg.keys if isinstance(arg, ast.Dict) else [arg]
                    for key in keys:
                        if key is not None:
                            flag(arg, key, None)
    return sorted(found)


def test_only_the_schema_module_spells_a_field_code() -> None:
    """Python reads entries through ``schema.parse_entry`` (an :class:`Event`) and writes them
    with ``schema.F``; card records are split by ``schema.CardRecord`` only."""
    offenders = []
    for path in sorted((ROOT / "ult").rglob("*.py")):
        if path == ROOT / "ult" / "schema.py":
            continue
        source = path.read_text()
        rel = path.relative_to(ROOT)
        offenders += [f"{rel}:{line}: {code!r}" for line, code in _spelled_codes(ast.parse(source))]
        if re.search(r"""\.split\(\s*["']\|["']\s*\)""", source):
            offenders.append(f"{rel}: splits a packed card record")
    assert offenders == []


def test_the_field_code_check_catches_raw_reads_and_writes() -> None:
    """The check above is not vacuous."""
    bad = """
kind = fields.get("t")
card = entry[1]["c"]
ok = "p" in fields
claim = f["id"]
r.xadd(key, {"t": "scan", "v": 1})
pipe.execute_command("XADD", key, "*", "ref", x)
column = frame["ref"]
"""
    codes = [code for _, code in _spelled_codes(ast.parse(bad))]
    assert codes == ["t", "c", "p", "id", "t", "v", "ref"]


def test_parse_entry_reads_every_declared_field() -> None:
    names = {f.name for f in fields(Event)} - {"id", "ms"}
    assert names == set(ATTRIBUTES.values())
    assert {name.lower() for name in vars(F) if name.isupper()} == names
    raw = {code: "7" for code in ATTRIBUTES} | {"biz": "x"}
    event = parse_entry((b"1700000000000-3", {k.encode(): v.encode() for k, v in raw.items()}))
    assert (event.id, event.ms, event.kind, event.visit, event.points) == (
        "1700000000000-3",
        1_700_000_000_000,
        "7",
        7,
        7,
    )
    assert all(getattr(event, name) in ("7", 7) for name in names)
    assert parse_entry(("5-0", {F.KIND: "scan"})) == Event("5-0", 5, kind="scan")


def test_the_card_record_is_read_by_its_declared_fields(r, make_sponsor) -> None:
    sid = make_sponsor(cooldown_min=0)["sid"]
    done = [
        run(r, scan(sid, "k" * 43, nonce=f"n{i}", now_ms=1_800_000_000_000 + i)) for i in (1, 2)
    ]
    record = CardRecord.parse(r.hget(sponsor_keys(sid).cards, done[0].cid))
    assert tuple(f.name for f in fields(CardRecord)) == CARD_RECORD
    assert (record.visits, record.points, record.day_count) == (2, 2, 2)
    assert (record.first_ms, record.last_ms) == (1_800_000_000_001, 1_800_000_000_002)
    assert record.nonces == "n1,n2" and record.recent_ids == ",".join(d.entry_id for d in done)
    assert CardRecord.parse("") == CardRecord()


def test_the_scripts_answer_the_declared_reply_shapes(r, make_sponsor) -> None:
    sid = make_sponsor()["sid"]
    k = sponsor_keys(sid)
    scan_reply = r.eval(
        ops.script_source("scan")[0],
        8,
        *[k.profile, k.rule, k.cards, k.events, k.watched, k.claims, k.top, k.archived],
        *["c" * 32, "", "", 1_800_000_000_000, "none", "1", "0"],
    )
    assert len(scan_reply) == 1 and len(scan_reply[0]) == len(SCAN_REPLY)
    card_reply = r.eval(
        ops.script_source("card")[0],
        5,
        *[k.profile, k.rule, k.cards, k.events, k.claims],
        *["c" * 32, 1_800_000_000_000],
    )
    assert len(card_reply) == len(CARD_REPLY)
    assert set(COLUMNS) <= {F.KIND, *(c for codes in KINDS.values() for c in codes)}


def test_claim_states_are_the_statuses_and_expired() -> None:
    assert set(CLAIM_STATES) == {*CLAIM_STATUSES, "expired"}
    assert set(OPEN_CLAIM_STATES) <= set(CLAIM_STATES)


def _doc_tables() -> tuple[dict[str, str], dict[str, set[str]]]:
    """The "Stream fields" tables of docs/architecture.md: code → F name, kind → its fields."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Stream fields", 1)[1].split("\n## ", 1)[0]
    codes: dict[str, str] = {}
    kinds: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `"):
            continue
        first = cells[0].strip("`")
        if len(cells) == 3:
            codes[first] = cells[1].strip("`")
        else:
            kinds[first] = set(re.findall(r"`([^`]+)`", cells[1].split("(")[0]))
    return codes, kinds


def test_the_architecture_doc_lists_every_field_and_kind() -> None:
    codes, kinds = _doc_tables()
    assert codes == {code: name for name, code in vars(F).items() if name.isupper()}
    assert kinds == {kind: set(fields) for kind, fields in KINDS.items()}
