"""The live feed: one row per stream event in plain words, with a Void button per counted visit."""

from __future__ import annotations

from ult.connection import Client
from ult.dashboard.table import Action, Column, Row
from ult.dashboard.ui import local_time
from ult.i18n import N_, _, current
from ult.identity import short_cid
from ult.keys import sponsor_keys
from ult.messages import plural
from ult.schema import Event

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
    "redeemed": N_("Voucher redeemed"),
}
VOIDED = N_("{text} · voided")

REFUSAL_WORDS = {
    "cooldown": N_("scanned again too soon"),
    "daily_cap": N_("daily limit reached"),
    "code_required": N_("counter code missing"),
    "code_invalid": N_("counter code expired"),
}


def describe(event: Event) -> tuple[str, str]:
    """(css class, plain-text description) of one event."""
    kind = event.kind
    if kind == "scan":
        amount = plural(event.points or 0, "point", current())
        words = _("Visit {visits} · +{points}")
        if event.promo:
            words = _("Visit {visits} · +{points} (promotion)")
        visits = "?" if event.visit is None else event.visit
        return "ult-ev-scan", words.format(visits=visits, points=amount)
    if kind == "refused":
        reason = event.reason
        why = _(REFUSAL_WORDS[reason]) if reason in REFUSAL_WORDS else reason
        text = _("Not counted: {why}").format(why=why)
        if event.refusals > 1:  # the card's refusals folded into this entry
            text = _("{text} (×{n})").format(text=text, n=event.refusals)
        return "ult-ev-refused", text
    if kind == "registered":
        return "ult-ev-info", _("Business registered")
    if kind == "rule":
        return "ult-ev-info", _("Reward rule changed")
    if kind == "promo":
        return "ult-ev-info", _("Promotions changed")
    if kind == "expired":
        return "ult-ev-info", _("Points expired after a long absence")
    if kind == "claim":
        return "ult-ev-claim", _(CLAIM_WORDS.get(event.status, N_("Reward claim")))
    if kind == "void":
        if event.ref:
            return "ult-ev-refused", _("Visit voided by you · points taken back")
        return "ult-ev-refused", _("Reward voided by you · points given back")
    return "ult-ev-info", _("Other event")


def feed_row(event: Event, offset_min: int, voided: set[str]) -> Row:
    """One feed row as plain text (table.js inserts it with ``textContent``)."""
    css, text = describe(event)
    is_scan = event.kind == "scan"
    was_voided = is_scan and event.id in voided
    if was_voided:
        text, css = _(VOIDED).format(text=text), "ult-ev-voided"
    return Row(
        id=event.id,
        cells={
            "time": local_time(event.ms, offset_min),
            "card": short_cid(event.card),
            "what": text,
            "spot": event.tag,
        },
        css="ult-row-voided" if was_voided else "",
        cell_css={"what": css},
        actions=(VOID_SCAN,) if is_scan and not was_voided else (),
    )


def feed_rows(events: list[Event], offset_min: int, voided: set[str]) -> list[Row]:
    """The live feed, newest first; counted visits not yet voided get a Void button."""
    return [feed_row(event, offset_min, voided) for event in events]


def voided_among(r: Client, sid: str, events: list[Event]) -> set[str]:
    """Which of these scans the sponsor has voided."""
    ids = [event.id for event in events if event.kind == "scan"]
    if not ids:
        return set()
    flags = r.smismember(sponsor_keys(sid).voided, ids)
    return {entry_id for entry_id, flag in zip(ids, flags, strict=True) if flag}
