"""The stream schema, the card record and the scripts' reply shapes, declared once.

A sponsor's stream ``ult:{sid}:events`` is its log. Every entry has a kind (field ``t``) and
short field codes: Redis stores the field names of an entry unless they equal the first
entry's of its node, so one-letter codes keep a scan at ~80 B. The Lua scripts write these
codes through the table ``F`` of :func:`lua_header` (``ult.ops`` prepends it to every script);
Python reads an entry once, with :func:`parse_entry`, into an :class:`Event` (the analytics
loaders name its fields as columns through :data:`COLUMNS`). No other module spells a code.
See ``docs/architecture.md`` for the whole schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The version of the data's layout (the key ``ult:schema``); ``ult migrate`` (ult.migrate)
# upgrades older data, and nothing starts on newer data. Data with no version is version 1.
SCHEMA_VERSION = 2


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
    COUNT = "n"  # refused scans a `refused` entry stands for (absent: 1; see REFUSAL_EVERY_MS)


# Event kinds (values of F.KIND) and what each entry carries besides its kind.
KINDS: dict[str, tuple[str, ...]] = {
    "registered": ("biz", "country", "place_id", "formatted_address", "verified"),
    "rule": (F.RULE,),
    "scan": (F.CARD, F.VISIT, F.POINTS, F.TAG, F.PROMO),
    "refused": (F.CARD, F.REASON, F.COUNT),
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
    F.REF: "ref",
    F.RULE: "rule",
    F.PROMOTION: "promo",
    F.COUNT: "count",
}

# Reasons a scan is refused (stored in F.REASON, and the error code of the refused scan).
SCAN_REFUSALS = ("cooldown", "daily_cap", "code_required", "code_invalid")
# A returning card writes at most one `refused` entry per this many ms, whatever its rate: the
# card record counts the refusals in between, and the card's next `refused` entry carries them
# in F.COUNT (itself included). Sums of F.COUNT are the refusals, as of that entry.
REFUSAL_EVERY_MS = 60_000

# Claim statuses as stored; `redeemed`: staff marked the voucher used at the counter (once).
CLAIM_STATUSES = ("requested", "approved", "rejected", "void", "redeemed")

# A claim's state at a given time, decided by the scripts only (lib.lua: claim_state) and sent
# with the claim: its status, except that an approved voucher past `expires_at` is `expired`.
# `requested`: waiting for staff; `approved`: a voucher still valid.
CLAIM_STATES = ("requested", "approved", "expired", "redeemed", "rejected", "void")
# The states of an open claim: it holds the card's points and can be voided; a card has one.
OPEN_CLAIM_STATES = ("requested", "approved")

# The packed card record (the ``cards`` hash: cid → these fields joined by ``|``), in order.
# Only the scripts write it and apply the card's rules to it (lib.lua: read_card, write_card).
CARD_RECORD = (
    "visits",
    "points",
    "first_ms",  # the first counted visit
    "last_ms",  # the last counted visit (cooldown, expiry)
    "day",  # the local day of the last counted visit (days since the epoch)
    "day_count",  # visits counted that day (daily cap)
    "nonces",  # the last scans' nonces, comma-separated (a retried scan is answered again)
    "recent_ids",  # entry ids of the last counted visits, comma-separated (the card's history)
    "refused_ms",  # when the card's last `refused` entry was written (REFUSAL_EVERY_MS)
    "refused_n",  # refusals since then with no entry of their own (the next one's F.COUNT)
)
CARD_LISTS = ("nonces", "recent_ids")  # the record's text fields; the others are numbers

# The Bloom filter of archived cards (``ult:{sid}:archived``, a bitmap of a power of two bits,
# at least ARCHIVED_BITS_PER_CARD per archived card): bit positions of a cid are
# ``(h1 + i * h2) % bits`` for i < ARCHIVED_HASHES, h1 and h2 its first two 32-bit hex words
# (h2 made odd); ~1% of new cards pay a lake lookup for nothing.
ARCHIVED_HASHES = 7
ARCHIVED_BITS_PER_CARD = 10
# The loyalists' order as one sorted-set score (``ult:{sid}:top``): visits, then the last
# visit as a fraction (exact below 4096 visits; readers re-sort the few candidates exactly).
RANK_MS_SCALE = 2**41
# Cards the ``top`` sorted set keeps: its best only, so it costs little and nothing per card
# past them (a compact listpack below 128). The loyalists view (25 rows) reads from it.
TOP_KEPT = 50

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
    "claim_state",  # the claim's state now (one of CLAIM_STATES), or ''
)
CARD_REPLY = (
    "status",  # ok | unknown_sponsor (then nothing else)
    "biz",
    "rule",  # the rule's values in the order of ult.rules.RULE_FIELDS
    "visits",
    "points",  # after expiry: points lapse after expiry_days without a visit
    "next_in_ms",  # until a scan counts again under the cooldown (0: now)
    "claim",  # the card's last claim, JSON, or ''
    "claim_state",  # its state now (one of CLAIM_STATES), or ''
    "promo_plan",  # the sponsor's compiled promotions, '' for none
    "history",  # the entries of the card's recent visits, oldest first
)
CLAIM_REPLY = ("status", "claim", "points", "points_needed", "state")
DECIDE_REPLY = ("status", "claim", "who", "state")
# The claims script answers {claim json, state, claim json, state, ...}: CLAIMS_REPLY per claim.
CLAIMS_REPLY = ("claim", "state")
# The loyalists script answers {cid, packed record, cid, packed record, ...}, best first.
LOYALISTS_REPLY = ("cid", "record")


# A stream entry as redis-py returns it: (entry id, {field: value}).
Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Event:
    """One stream entry, read by :func:`parse_entry`: each declared field of :class:`F` as
    the attribute of its name in lower case ('' or None when the entry lacks it)."""

    id: str  # the entry id
    ms: int  # its time (see entry_ms)
    kind: str = ""
    card: str = ""
    visit: int | None = None
    points: int | None = None
    tag: str = ""
    reason: str = ""
    status: str = ""
    claim: str = ""
    ref: str = ""
    rule: str = ""
    by: str = ""
    promo: str = ""
    promotion: str = ""
    count: int | None = None  # refused scans the entry stands for (None: 1)

    @property
    def refusals(self) -> int:
        """The refused scans this entry stands for (0 unless it is a `refused` entry)."""
        return (self.count or 1) if self.kind == "refused" else 0


# field code → Event attribute; the codes whose values are whole numbers
ATTRIBUTES = {code: name.lower() for name, code in vars(F).items() if name.isupper()}
NUMBERS = frozenset({F.VISIT, F.POINTS, F.COUNT})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entry(entry: tuple[Any, Mapping[Any, Any]]) -> Event:
    """Read one stream entry ``(id, {code: value})`` (text or bytes, as a client returns it)
    into an :class:`Event`; fields not declared in :class:`F` are left out."""
    entry_id, raw = entry
    entry_id = _text(entry_id)
    values: dict[str, Any] = {}
    for code, value in raw.items():
        code = _text(code)
        name = ATTRIBUTES.get(code)
        if name is not None:
            values[name] = int(value) if code in NUMBERS else _text(value)
    return Event(entry_id, entry_ms(entry_id), **values)


@dataclass(frozen=True, slots=True)
class CardRecord:
    """A packed card record read as it is stored (no rule applied: the scripts do that)."""

    visits: int = 0
    points: int = 0
    first_ms: int = 0
    last_ms: int = 0
    day: int = -1
    day_count: int = 0
    nonces: str = ""
    recent_ids: str = ""
    refused_ms: int = 0
    refused_n: int = 0

    @classmethod
    def parse(cls, packed: str | bytes) -> CardRecord:
        """The record of the ``cards`` hash's value ``packed`` ('' reads as a new card)."""
        if not packed:
            return cls()
        parts = _text(packed).split("|")
        fields: dict[str, Any] = {
            name: part if name in CARD_LISTS else int(part)
            for name, part in zip(CARD_RECORD, parts, strict=False)
        }
        return cls(**fields)


def entry_ms(entry_id: str) -> int:
    """A stream entry's time: its id's milliseconds (ids are event times, never going back)."""
    return int(entry_id.split("-", 1)[0])


def reply_dict(shape: Sequence[str], reply: Sequence[Any]) -> dict[str, Any]:
    """A script's list reply as a dict by the field names of ``shape`` (missing: None)."""
    return {name: reply[i] if i < len(reply) else None for i, name in enumerate(shape)}


def _lua(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lua_table(items: Mapping[str, str | int | bool]) -> str:
    return (
        "{"
        + ", ".join(f"{k} = {_lua(v) if v is not True else 'true'}" for k, v in items.items())
        + "}"
    )


def _lua_list(values: Sequence[str]) -> str:
    return "{" + ", ".join(_lua(v) for v in values) + "}"


def lua_header(used: str | None = None) -> str:
    """The Lua locals ``ult.ops`` prepends to every script, generated from this module: the
    field codes (``F.CARD``...), the card record's fields in order, the open claim states, the
    refusal window (``REFUSAL_EVERY_MS``) and each reply shape's positions (``SCAN_REPLY.status`` → 1...). With ``used`` (the script's
    source), only the tables it names: each costs the script a little on every call."""
    codes = {name: code for name, code in vars(F).items() if name.isupper()}
    tables = {
        "F": _lua_table(codes),
        "CARD_RECORD": _lua_list(CARD_RECORD),
        "CARD_LISTS": _lua_table(dict.fromkeys(CARD_LISTS, True)),
        "OPEN_CLAIM": _lua_table(dict.fromkeys(OPEN_CLAIM_STATES, True)),
    }
    shapes = {
        "SCAN_REPLY": SCAN_REPLY,
        "CARD_REPLY": CARD_REPLY,
        "CLAIM_REPLY": CLAIM_REPLY,
        "DECIDE_REPLY": DECIDE_REPLY,
        "CLAIMS_REPLY": CLAIMS_REPLY,
    }
    for name, shape in shapes.items():
        tables[name] = _lua_table({field: i for i, field in enumerate(shape, 1)})
    tables["REFUSAL_EVERY_MS"] = str(REFUSAL_EVERY_MS)
    tables["ARCHIVED_HASHES"] = str(ARCHIVED_HASHES)
    tables["RANK_MS_SCALE"] = str(RANK_MS_SCALE)
    tables["TOP_KEPT"] = str(TOP_KEPT)
    lines = ["-- Generated from ult/schema.py by ult.schema.lua_header: change it there."]
    for name, table in tables.items():
        if used is None or re.search(rf"\b{name}\b", used):
            lines.append(f"local {name} = {table}")
    return "\n".join(lines) + "\n"
