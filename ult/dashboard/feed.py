"""The live feed: one row per stream event in plain words, with a Void button per counted visit."""

from __future__ import annotations

import redis

from ult.dashboard.table import Action, Column, Row
from ult.dashboard.ui import local_time
from ult.i18n import N_, _, current
from ult.identity import short_cid
from ult.keys import sponsor_keys
from ult.messages import plural
from ult.schema import Entry, entry_ms

FEED_COLUMNS = [
    Column("time", N_("Time")),
    Column("card", N_("Card"), "ult-cid"),
    Column("what", N_("What happened")),
    Column("spot", N_("Spot")),
]
VOID_SCAN = Action("void", N_("Void"), "plain", confirm=N_("Confirm void"))
CLAIM_WORDS = {
    "requested": N_("Reward claimed — waiting for staff"),
    "approved": N_("Reward given"),
    "rejected": N_("Reward claim rejected"),
}

REFUSAL_WORDS = {
    "cooldown": N_("scanned again too soon"),
    "daily_cap": N_("daily limit reached"),
    "code_required": N_("counter code missing"),
    "code_invalid": N_("counter code expired"),
}


def describe(fields: dict[str, str]) -> tuple[str, str]:
    """(css class, plain-text description) of one event."""
    kind = fields.get("t", "")
    if kind == "scan":
        points = fields.get("p", "0")
        amount = plural(int(points), "point", current()) if points.isdigit() else points
        words = _("Visit {visits} · +{points}")
        if fields.get("pr"):
            words = _("Visit {visits} · +{points} (promotion)")
        return "ult-ev-scan", words.format(visits=fields.get("v", "?"), points=amount)
    if kind == "refused":
        reason = fields.get("r", "")
        why = _(REFUSAL_WORDS[reason]) if reason in REFUSAL_WORDS else reason
        return "ult-ev-refused", _("Not counted: {why}").format(why=why)
    if kind == "registered":
        return "ult-ev-info", _("Business registered")
    if kind == "rule":
        return "ult-ev-info", _("Reward rule changed")
    if kind == "promo":
        return "ult-ev-info", _("Promotions changed")
    if kind == "expired":
        return "ult-ev-info", _("Points expired after a long absence")
    if kind == "claim":
        return "ult-ev-claim", _(CLAIM_WORDS.get(fields.get("s", ""), N_("Reward claim")))
    if kind == "void":
        if fields.get("ref"):
            return "ult-ev-refused", _("Visit voided by you · points taken back")
        return "ult-ev-refused", _("Reward voided by you · points given back")
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
