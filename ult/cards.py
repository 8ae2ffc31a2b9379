"""Customer cards: one per (sponsor, customer key), stored as ``cid → packed record`` in the
sponsor's ``cards`` hash. Only ``scan.lua`` (and the claim scripts) write records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ult import ops
from ult.claims import Claim
from ult.clock import DAY_MS, or_now
from ult.errors import UltError
from ult.identity import card_id, short_cid
from ult.keys import sponsor_keys
from ult.promotions import promotion_status
from ult.rules import Rule
from ult.validation import check_field


@dataclass(frozen=True)
class CardRecord:
    """The packed record ``visits|points|first|last|day|day_count|nonces|recent_ids``."""

    visits: int = 0
    points: int = 0
    first_ms: int = 0
    last_ms: int = 0
    recent_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, packed: str) -> CardRecord:
        if not packed:
            return cls()
        parts = packed.split("|")
        return cls(
            visits=int(parts[0]),
            points=int(parts[1]),
            first_ms=int(parts[2]),
            last_ms=int(parts[3]),
            recent_ids=tuple(x for x in parts[7].split(",") if x),
        )

    def points_now(self, rule: Rule, now_ms: int) -> int:
        """Points after expiry (points lapse after ``expiry_days`` without a visit)."""
        expired = (
            rule.expiry_days and self.last_ms and now_ms - self.last_ms > rule.expiry_days * DAY_MS
        )
        return 0 if expired else self.points

    def next_scan_in(self, rule: Rule, now_ms: int) -> int:
        """Seconds until a scan of this card counts again under the cooldown (0: now)."""
        if not rule.cooldown_min or not self.last_ms:
            return 0
        left_ms = self.last_ms + rule.cooldown_min * 60_000 - now_ms
        return max(0, -(-left_ms // 1000))


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


def event_summary(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry as the card history shows it."""
    item: dict[str, Any] = {
        "id": entry_id,
        "at_ms": int(entry_id.split("-")[0]),
        "type": fields["t"],
    }
    if "p" in fields:
        item["points"] = int(fields["p"])
    if "a" in fields:
        item["tag"] = fields["a"]
    return item


def read_card(sid: str, key: str, now_ms: int | None = None) -> ops.Op[Card]:
    """The card of ``key`` at sponsor ``sid`` (a card never scanned reads as zero)."""
    check_field("sid", sid)
    cid = card_id(check_field("key", key))
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)

    def parse(reply: list[Any]) -> Card:
        if not reply:
            raise UltError("unknown_sponsor", "This loyalty card's business is not registered.")
        biz, rule_flat, packed, claim_json, plan, *entries = reply
        rule = Rule.from_hash(ops.as_dict(rule_flat))
        record = CardRecord.parse(ops.text(packed))
        history = [event_summary(ops.text(eid), ops.as_dict(flat)) for eid, flat in entries]
        return Card(
            sid=sid,
            biz=ops.text(biz),
            cid=cid,
            visits=record.visits,
            points=record.points_now(rule, now_ms),
            rule=rule,
            next_scan_in=record.next_scan_in(rule, now_ms),
            history=history[::-1],
            claim=Claim.from_json(ops.text(claim_json)).to_dict(now_ms) if claim_json else None,
            promotions=promotion_status(ops.text(plan), now_ms),
        )

    return ops.script("card", [k.profile, k.rule, k.cards, k.events, k.claims], [cid], parse)


def loyalists(sid: str, limit: int = 100) -> ops.Op[list[dict[str, Any]]]:
    """The sponsor's most frequent cards: short cid, visits, points, first and last visit."""

    def parse(flat: Any) -> list[dict[str, Any]]:
        h = ops.as_dict(flat)
        rows = []
        for cid, packed in h.items():
            rec = CardRecord.parse(ops.text(packed))
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

    return ops.command(parse, "HGETALL", sponsor_keys(sid).cards)
