"""The stream schema and the scripts' reply shapes, declared once.

A sponsor's stream ``ult:{sid}:events`` is its log. Every entry has a kind (field ``t``) and
short field codes: Redis stores the field names of an entry unless they equal the first
entry's of its node, so one-letter codes keep a scan at ~80 B. The Lua scripts write these
codes (``tests/test_schema.py`` checks each code they write is declared here); Python reads
them through :data:`COLUMNS` and :class:`F`. See ``docs/architecture.md`` for the whole schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class F:
    """Field codes of a stream entry."""

    KIND = "t"  # the event kind, one of KINDS
    CARD = "c"  # full card id (sha256 of the customer's key, 128 bits hex)
    VISIT = "v"  # the card's visit number after this event (void: -1)
    POINTS = "p"  # points added (negative: taken)
    TAG = "a"  # where the scanned QR hangs (`at`)
    REASON = "r"  # why a scan was refused (a scan refusal code)
    STATUS = "s"  # a claim's status after this event
    CLAIM = "id"  # claim id
    REF = "ref"  # the entry a `void` takes back
    RULE = "rule"  # the new rule, JSON (`rule` events)
    BY = "by"  # who decided a claim: "owner" or the name of a staff key (never a person's id)
    PROMO = "pr"  # id of the promotion that multiplied a scan's points
    PROMOTION = "promo"  # a promotion as JSON (`promo` events; a delete: just its id)


# Event kinds (values of F.KIND) and what each entry carries besides its kind.
KINDS: dict[str, tuple[str, ...]] = {
    "registered": ("biz", "country", "place_id", "formatted_address", "verified"),
    "rule": (F.RULE,),
    "scan": (F.CARD, F.VISIT, F.POINTS, F.TAG, F.PROMO),
    "refused": (F.CARD, F.REASON),
    "expired": (F.CARD, F.POINTS),
    "claim": (F.CARD, F.CLAIM, F.STATUS, F.POINTS, F.BY),
    "void": (F.CARD, F.CLAIM, F.STATUS, F.REF, F.POINTS, F.VISIT, F.BY),
    # a promotion added or deleted, or the time zone set (F.STATUS: add | delete | tz)
    "promo": (F.STATUS, F.PROMOTION),
}

# stream field → DataFrame column name of the analytics loaders; other fields keep their name
COLUMNS = {
    F.KIND: "type",
    F.CARD: "cid",
    F.VISIT: "visit",
    F.POINTS: "points",
    F.TAG: "tag",
    F.REASON: "reason",
    F.STATUS: "status",
    F.CLAIM: "claim_id",
    F.BY: "by",
    F.PROMO: "promo_id",
}

# Reasons a scan is refused (stored in F.REASON, and the error code of the refused scan).
SCAN_REFUSALS = ("cooldown", "daily_cap", "code_required", "code_invalid")

# Claim statuses as stored; `expired` is derived (an approved voucher past its time);
# `redeemed`: staff marked the voucher used at the counter (once).
CLAIM_STATUSES = ("requested", "approved", "rejected", "void", "redeemed")

# Reply shapes of the scripts that answer with a list: field names in reply order.
SCAN_REPLY = (
    "status",  # ok | duplicate | unknown_sponsor | too_many_new_cards | one of SCAN_REFUSALS
    "visits",
    "points",
    "next_in_ms",
    "entry_id",  # the scan's (or refusal's) entry id; '' for a duplicate
    "biz",
    "watched",  # 1 when a sponsor watches the live room (the service emits only then)
    "claim",  # the card's last claim, JSON, or ''
    "rule",  # the rule's values in the order of ult.rules.RULE_FIELDS
    "created",  # 1 when this scan started the card (the service's new-card budget)
    "promo_plan",  # the sponsor's compiled promotions (ult.promotions), '' for none
    "promo",  # id of the promotion that multiplied this scan, '' for none
    "gained",  # points this scan gave (0 unless counted)
)
CLAIM_REPLY = ("status", "claim", "points", "points_needed")
DECIDE_REPLY = ("status", "claim", "who")


# A stream entry as redis-py returns it: (entry id, {field: value}).
Entry = tuple[str, dict[str, str]]


def entry_ms(entry_id: str) -> int:
    """A stream entry's time: its id's milliseconds (ids are event times, never going back)."""
    return int(entry_id.split("-", 1)[0])


def reply_dict(shape: Sequence[str], reply: Sequence[Any]) -> dict[str, Any]:
    """A script's list reply as a dict by the field names of ``shape`` (missing: None)."""
    return {name: reply[i] if i < len(reply) else None for i, name in enumerate(shape)}
