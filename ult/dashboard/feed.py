"""The live feed: one row per stream event in plain words, with a Void button per counted visit."""

from __future__ import annotations

import redis

from ult.dashboard.table import Action, Column, Row
from ult.dashboard.ui import local_time
from ult.identity import short_cid
from ult.keys import sponsor_keys
from ult.schema import Entry, entry_ms

FEED_COLUMNS = [
    Column("time", "Time"),
    Column("card", "Card", "ult-cid"),
    Column("what", "What happened"),
    Column("spot", "Spot"),
]
VOID_SCAN = Action("void", "Void", "plain", confirm="Confirm void")
CLAIM_WORDS = {
    "requested": "Reward claimed — waiting for staff",
    "approved": "Reward given",
    "rejected": "Reward claim rejected",
}

REFUSAL_WORDS = {
    "cooldown": "scanned again too soon",
    "daily_cap": "daily limit reached",
    "code_required": "counter code missing",
    "code_invalid": "counter code expired",
}


def describe(fields: dict[str, str]) -> tuple[str, str]:
    """(css class, plain-text description) of one event."""
    kind = fields.get("t", "")
    if kind == "scan":
        points = fields.get("p", "0")
        unit = "point" if points == "1" else "points"
        promo = " (promotion)" if fields.get("pr") else ""
        return "ult-ev-scan", f"Visit {fields.get('v', '?')} · +{points} {unit}{promo}"
    if kind == "refused":
        reason = fields.get("r", "")
        return "ult-ev-refused", f"Not counted: {REFUSAL_WORDS.get(reason, reason)}"
    if kind == "registered":
        return "ult-ev-info", "Business registered"
    if kind == "rule":
        return "ult-ev-info", "Reward rule changed"
    if kind == "promo":
        return "ult-ev-info", "Promotions changed"
    if kind == "expired":
        return "ult-ev-info", "Points expired after a long absence"
    if kind == "claim":
        return "ult-ev-claim", CLAIM_WORDS.get(fields.get("s", ""), "Reward claim")
    if kind == "void":
        if fields.get("ref"):
            return "ult-ev-refused", "Visit voided by you · points taken back"
        return "ult-ev-refused", "Reward voided by you · points given back"
    return "ult-ev-info", kind.replace("_", " ").capitalize() or "Event"


def feed_row(entry: Entry, offset_min: int, voided: set[str]) -> Row:
    """One feed row as plain text (table.js inserts it with ``textContent``)."""
    entry_id, fields = entry
    css, text = describe(fields)
    is_scan = fields.get("t") == "scan"
    was_voided = is_scan and entry_id in voided
    if was_voided:
        text, css = f"{text} · voided", "ult-ev-voided"
    return Row(
        id=entry_id,
        cells={
            "time": local_time(entry_ms(entry_id), offset_min),
            "card": short_cid(fields.get("c", "")),
            "what": text,
            "spot": fields.get("a", ""),
        },
        css="ult-row-voided" if was_voided else "",
        cell_css={"what": css},
        actions=(VOID_SCAN,) if is_scan and not was_voided else (),
    )


def feed_rows(entries: list[Entry], offset_min: int, voided: set[str]) -> list[Row]:
    """The live feed, newest first; counted visits not yet voided get a Void button."""
    return [feed_row(entry, offset_min, voided) for entry in entries]


def voided_among(r: redis.Redis, sid: str, entries: list[Entry]) -> set[str]:
    """Which of these scans the sponsor has voided."""
    ids = [entry_id for entry_id, fields in entries if fields.get("t") == "scan"]
    if not ids:
        return set()
    flags = r.smismember(sponsor_keys(sid).voided, ids)
    return {entry_id for entry_id, flag in zip(ids, flags, strict=True) if flag}
