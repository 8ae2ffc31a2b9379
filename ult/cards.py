"""Customer cards: one per (sponsor, customer key), stored as ``cid → packed record`` in the
sponsor's ``cards`` hash (``ult.schema.CARD_RECORD``). Only the scripts write records and apply
the card's rules (expiry, cooldown: ``lua/lib.lua``); ``card.lua`` answers a card under them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ult import ops
from ult.claims import Claim
from ult.clock import or_now
from ult.errors import UltError
from ult.identity import card_id, short_cid
from ult.keys import sponsor_keys
from ult.promotions.plan import promotion_status
from ult.rules import Rule
from ult.schema import CARD_REPLY, TOP_KEPT, CardRecord, Event, parse_entry, reply_dict
from ult.validation import check_field


@dataclass(frozen=True)
class Card:
    """What a customer's phone sees of its card."""

    sid: str
    biz: str
    cid: str
    visits: int
    points: int
    rule: Rule
    next_scan_in: int
    history: list[dict[str, Any]] = field(default_factory=list)
    claim: dict[str, Any] | None = None
    promotions: dict[str, Any] | None = None  # the sponsor's active and next promotion

    def to_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "biz": self.biz,
            "cid": short_cid(self.cid),
            "visits": self.visits,
            "points": self.points,
            "history": self.history,
            "rule": self.rule.to_dict(),
            "next_scan_in": self.next_scan_in,
            "claim": self.claim,
            "promotions": self.promotions or {"active": None, "next": None},
        }


def event_summary(event: Event) -> dict[str, Any]:
    """A stream entry as the card history shows it."""
    item: dict[str, Any] = {"id": event.id, "at_ms": event.ms, "type": event.kind}
    if event.points is not None:
        item["points"] = event.points
    if event.tag:
        item["tag"] = event.tag
    return item


def read_card(sid: str, key: str, now_ms: int | None = None) -> ops.Op[Card]:
    """The card of ``key`` at sponsor ``sid`` (a card never scanned reads as zero)."""
    return read_card_by_cid(sid, card_id(check_field("key", key)), now_ms)


def read_card_by_cid(sid: str, cid: str, now_ms: int | None = None) -> ops.Op[Card]:
    """The card ``cid`` at sponsor ``sid``, read without its key (a wallet pass knows the card
    by id only); a card never scanned reads as zero."""
    check_field("sid", sid)
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)

    def parse(raw: list[Any]) -> Card:
        reply = reply_dict(CARD_REPLY, raw)
        if ops.text(reply["status"]) != "ok":
            raise UltError("unknown_sponsor", "This loyalty card's business is not registered.")
        history = [event_summary(parse_entry((eid, ops.as_dict(f)))) for eid, f in reply["history"]]
        claim = reply["claim"] and Claim.from_reply(reply["claim"], reply["claim_state"])
        return Card(
            sid=sid,
            biz=ops.text(reply["biz"]),
            cid=cid,
            visits=int(reply["visits"]),
            points=int(reply["points"]),
            rule=Rule.from_values([ops.text(v) for v in reply["rule"]]),
            next_scan_in=-(-int(ops.text(reply["next_in_ms"])) // 1000),
            history=history[::-1],
            claim=claim.to_dict() if claim else None,
            promotions=promotion_status(ops.text(reply["promo_plan"]), now_ms),
        )

    keys = [k.profile, k.rule, k.cards, k.events, k.claims]
    return ops.script("card", keys, [cid, now_ms], parse)


# Candidates the loyalists script reads beyond ``limit``: the sorted set's score rounds the
# last visit of cards with thousands of visits, the exact order is decided among these.
LOYALIST_MARGIN = 10


def loyalists(sid: str, limit: int = 100) -> ops.Op[list[dict[str, Any]]]:
    """The sponsor's most frequent cards: short cid, visits, points, first and last visit
    (the most visits first, then the latest visit); reads ``limit`` records, not all. At most
    ``TOP_KEPT - LOYALIST_MARGIN`` rows: what the ``top`` sorted set keeps."""
    limit = min(limit, TOP_KEPT - LOYALIST_MARGIN)

    def parse(flat: Any) -> list[dict[str, Any]]:
        h = ops.as_dict(flat)
        rows: list[dict[str, Any]] = []
        for cid, packed in h.items():
            rec = CardRecord.parse(packed)
            rows.append(
                {
                    "cid": short_cid(ops.text(cid)),
                    "visits": rec.visits,
                    "points": rec.points,
                    "first_ms": rec.first_ms,
                    "last_ms": rec.last_ms,
                }
            )
        rows.sort(key=lambda row: (-row["visits"], -row["last_ms"]))
        return rows[:limit]

    k = sponsor_keys(sid)
    return ops.script("loyalists", [k.cards, k.top], [limit + LOYALIST_MARGIN], parse)


def card_table_dir(lake: Path, sid: str) -> Path:
    """The lake's table of the sponsor's archived cards (written by ``ult archive``)."""
    return Path(lake) / "cards" / f"sid={sid}"


@dataclass(frozen=True)
class ArchivedCard:
    """A card record as ``ult archive`` moved it to the lake, with the card's last claim."""

    cid: str
    record: str
    claim_id: str
    claim: str
    archived_ms: int


def find_archived(lake: Path, sid: str, cid: str) -> ArchivedCard | None:
    """The newest archived record of card ``cid`` at ``sid`` (None: never archived). Each part
    is sorted by cid, so its row groups' statistics skip all but one."""
    for _ in range(2):
        try:
            return _newest_archived(lake, sid, cid)
        except FileNotFoundError:  # compacted meanwhile: its new file is in a fresh listing
            continue
    return _newest_archived(lake, sid, cid)


def _newest_archived(lake: Path, sid: str, cid: str) -> ArchivedCard | None:
    import pyarrow.parquet as pq

    best: ArchivedCard | None = None
    for path in sorted(card_table_dir(lake, sid).glob("part-*.parquet")):
        for row in pq.read_table(path, filters=[("cid", "=", cid)]).to_pylist():
            found = ArchivedCard(
                **{name: row[name] or "" for name in ARCHIVED_COLUMNS[:4]},
                archived_ms=row["archived_ms"],
            )
            if best is None or found.archived_ms >= best.archived_ms:
                best = found
    return best


# The columns of the lake's card table, in order.
ARCHIVED_COLUMNS = ("cid", "record", "claim_id", "claim", "archived_ms")


def restore_card(sid: str, card: ArchivedCard) -> ops.Op[bool]:
    """Put an archived card back into Redis (False: it was there again already)."""
    k = sponsor_keys(sid)
    keys = [k.cards, k.claims, k.top, k.claimed, k.requested]
    args = [card.cid, card.record, card.claim_id, card.claim]
    return ops.script("restore", keys, args, lambda reply: bool(int(reply)))
