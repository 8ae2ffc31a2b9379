"""Customer scans: one atomic server-side script per scan (DESIGN §5)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ult import ops
from ult.errors import UltError
from ult.identity import card_id
from ult.keys import sponsor_keys
from ult.validation import check_field

CODE_STATES = ("ok", "none", "bad")


@dataclass(frozen=True)
class ScanResult:
    """A counted scan (or the answer to a retry of one: ``duplicate``)."""

    sid: str
    biz: str
    cid: str
    visits: int
    points: int
    points_needed: int
    reward: str
    next_scan_in: int
    entry_id: str
    duplicate: bool
    watched: bool = False  # a sponsor watches the live room (the service emits only then)
    created: bool = False  # this scan started the card (charged to the client's new-card budget)

    @property
    def reward_ready(self) -> bool:
        return self.points >= self.points_needed > 0

    @property
    def message(self) -> str:
        points = f"{self.points} point{'s' if self.points != 1 else ''}"
        if self.duplicate:
            return f"Visit {self.visits} already recorded — {points}"
        return f"Visit {self.visits} recorded — {points}"

    def to_ack(self) -> dict[str, Any]:
        return {
            "ok": True,
            "sid": self.sid,
            "biz": self.biz,
            "visits": self.visits,
            "points": self.points,
            "points_needed": self.points_needed,
            "reward": self.reward,
            "reward_ready": self.reward_ready,
            "duplicate": self.duplicate,
            "next_scan_in": self.next_scan_in,
            "message": self.message,
        }


def in_words(seconds: int) -> str:
    """``42 minutes``, ``3 hours``, ``1 day`` — for refusal messages."""
    if seconds < 90:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours < 36:
        return f"{hours} hours"
    days = round(seconds / 86400)
    return f"{days} day{'s' if days != 1 else ''}"


REFUSALS = {
    "cooldown": "Already counted — your next visit counts in {wait}.",
    "daily_cap": "That's all the visits that count today — come back in {wait}.",
    "code_required": "Please scan the code shown at the counter to earn points here.",
    "code_invalid": "That counter code has expired — scan the code at the counter again.",
}


def scan(
    sid: str,
    key: str,
    nonce: str | None = None,
    at: str | None = None,
    code_state: str = "none",
    now_ms: int | None = None,
    new_card_allowed: bool = True,
) -> ops.Op[ScanResult]:
    """Record one scan of ``key``'s card at ``sid``.

    ``code_state`` says whether a rotating counter code came with the scan and was valid
    (the service checks the HMAC before calling this). Refusals raise UltError with the
    card's balance in ``extra``. ``new_card_allowed`` False: a key without a card yet is
    refused (``too_many_new_cards``) and nothing is written; returning cards scan as usual.
    """
    check_field("sid", sid)
    cid = card_id(check_field("key", key))
    if nonce is not None:
        check_field("nonce", nonce)
    if at is not None:
        check_field("at", at)
    if code_state not in CODE_STATES:
        raise ValueError(f"code_state must be one of {CODE_STATES}")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    k = sponsor_keys(sid)
    args = [cid, nonce or "", at or "", now_ms, code_state, 1 if new_card_allowed else 0]

    def parse(reply: list[Any]) -> ScanResult:
        status = ops.text(reply[0])
        if status == "unknown_sponsor":
            raise UltError(
                "unknown_sponsor", "This QR code does not belong to a registered business."
            )
        if status == "too_many_new_cards":
            raise UltError(
                status, "Too many new cards from this network right now — try again in a minute."
            )
        visits, points = int(reply[1]), int(reply[2])
        next_in = -(-int(ops.text(reply[3])) // 1000)
        biz, needed, reward = ops.text(reply[5]), int(ops.text(reply[6]) or 0), ops.text(reply[7])
        if status in REFUSALS:
            raise UltError(
                status,
                REFUSALS[status].format(wait=in_words(next_in)),
                sid=sid,
                biz=biz,
                visits=visits,
                points=points,
                points_needed=needed,
                reward=reward,
                next_scan_in=next_in,
            )
        return ScanResult(
            sid=sid,
            biz=biz,
            cid=cid,
            visits=visits,
            points=points,
            points_needed=needed,
            reward=reward,
            next_scan_in=next_in,
            entry_id=ops.text(reply[4]),
            duplicate=status == "duplicate",
            watched=bool(reply[8]),
            created=bool(reply[9]) and status == "ok",
        )

    return ops.script("scan", [k.profile, k.rule, k.cards, k.events, k.watched], args, parse)
