"""Customer scans: one atomic server-side script per scan (``lua/scan.lua``).

The script's reply carries everything the customer's page shows after a scan — the card's
visits and points, the rule, the card's open claim — so a visit is one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ult import ops
from ult.cards import Card, find_archived, restore_card
from ult.claims import Claim
from ult.clock import or_now
from ult.connection import Client
from ult.errors import UltError
from ult.identity import card_id
from ult.keys import sponsor_keys
from ult.messages import TEXTS, format_message, in_words, plural
from ult.promotions.plan import parse_plan, promotion_status
from ult.rules import Rule
from ult.schema import SCAN_REFUSALS, SCAN_REPLY, reply_dict
from ult.settings import load_settings
from ult.validation import check_field

CODE_STATES = ("ok", "none", "bad")


@dataclass(frozen=True)
class ScanResult(Card):
    """A counted scan (or the answer to a retry of one: ``duplicate``): the card as the
    customer's page shows it after the scan, and what the scan did."""

    entry_id: str = ""
    duplicate: bool = False
    now_ms: int = 0
    watched: bool = False  # a sponsor watches the live room (the service emits only then)
    created: bool = False  # this scan started the card (charged to the client's new-card budget)
    gained: int = 0  # points this scan gave
    promo_id: str = ""  # the promotion that multiplied them ('' for none)
    promo_plan: str = ""  # the sponsor's compiled promotions (ult.promotions)

    @property
    def reward_ready(self) -> bool:
        return self.points >= self.rule.points_needed > 0

    @property
    def message(self) -> str:
        visit = TEXTS["visit_again" if self.duplicate else "visit_recorded"]
        return f"{visit.format(visits=self.visits)} — {plural(self.points, 'point')}"

    def to_ack(self) -> dict[str, Any]:
        """The scan's acknowledgement: the card as ``card`` answers it (less the history),
        plus what this scan did."""
        ack = {"ok": True, **self.to_dict()}
        del ack["history"]
        return ack | {
            "points_needed": self.rule.points_needed,
            "reward": self.rule.reward,
            "reward_ready": self.reward_ready,
            "duplicate": self.duplicate,
            "now_ms": self.now_ms,
            "message": self.message,
            "gained": self.gained,
            "promotion": self.promotion,
            "promotions": promotion_status(self.promo_plan, self.now_ms),
        }

    @property
    def promotion(self) -> dict[str, Any] | None:
        """``{id, name, multiplier}`` of the promotion that multiplied this scan, or None."""
        plan = parse_plan(self.promo_plan) if self.promo_id else None
        promo = plan.by_id(self.promo_id) if plan else None
        return promo.public() if promo else None


class CardArchived(Exception):
    """The scan met a card Redis does not hold but the sponsor's filter of archived cards
    knows (``ult archive --trim-days`` moved it to the lake): nothing was written. The card
    is looked up in the lake, restored, and ``retry`` (the same scan, past the filter) run:
    :func:`run_scan`, :func:`arun_scan`."""

    def __init__(self, sid: str, cid: str, retry: ops.Op[ScanResult]) -> None:
        super().__init__(f"card {cid} of {sid} may be archived")
        self.sid, self.cid, self.retry = sid, cid, retry


def scan(
    sid: str,
    key: str,
    nonce: str | None = None,
    at: str | None = None,
    code_state: str = "none",
    now_ms: int | None = None,
    new_card_allowed: bool = True,
    lake_checked: bool = False,
) -> ops.Op[ScanResult]:
    """Record one scan of ``key``'s card at ``sid``.

    ``code_state`` says whether a rotating counter code came with the scan and was valid
    (the service checks the HMAC before calling this). Refusals raise UltError with the
    card's balance in ``extra``. ``new_card_allowed`` False: a key without a card yet is
    refused (``too_many_new_cards``) and nothing is written; returning cards scan as usual.
    A card that may be in the lake raises :class:`CardArchived` (run the op with
    :func:`run_scan` or :func:`arun_scan`); ``lake_checked``: the lake was looked up already,
    the card is new or restored.
    """
    check_field("sid", sid)
    cid = card_id(check_field("key", key))
    if nonce is not None:
        check_field("nonce", nonce)
    if at is not None:
        check_field("at", at)
    if code_state not in CODE_STATES:
        raise ValueError(f"code_state must be one of {CODE_STATES}")
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)
    args = [
        cid,
        nonce or "",
        at or "",
        now_ms,
        code_state,
        int(new_card_allowed),
        int(lake_checked),
    ]

    def parse(raw: list[Any]) -> ScanResult:
        reply = reply_dict(SCAN_REPLY, raw)
        status = ops.text(reply["status"])
        if status == "archived":
            again = scan(sid, key, nonce, at, code_state, now_ms, new_card_allowed, True)
            raise CardArchived(sid, cid, again)
        if status in ("unknown_sponsor", "too_many_new_cards"):
            raise UltError(status, format_message(status))
        rule = Rule.from_values([ops.text(v) for v in reply["rule"]])
        next_in = -(-int(ops.text(reply["next_in_ms"])) // 1000)
        claim = (
            Claim.from_reply(reply["claim"], reply["claim_state"]).to_dict()
            if reply["claim"]
            else None
        )
        result = ScanResult(
            sid=sid,
            biz=ops.text(reply["biz"]),
            cid=cid,
            visits=int(reply["visits"]),
            points=int(reply["points"]),
            rule=rule,
            next_scan_in=next_in,
            entry_id=ops.text(reply["entry_id"]),
            duplicate=status == "duplicate",
            now_ms=now_ms,
            claim=claim,
            watched=bool(reply["watched"]),
            created=bool(reply["created"]) and status == "ok",
            gained=int(reply["gained"] or 0),
            promo_id=ops.text(reply["promo"]),
            promo_plan=ops.text(reply["promo_plan"]),
        )
        if status in SCAN_REFUSALS:
            ack = result.to_ack()
            extra = {
                k: ack[k]
                for k in ack
                if k not in ("ok", "duplicate", "message", "gained", "promotion")
            }
            raise UltError(status, format_message(status, wait=in_words(next_in)), **extra)
        return result

    keys = [k.profile, k.rule, k.cards, k.events, k.watched, k.claims, k.top, k.archived]
    return ops.script("scan", keys, args, parse)


def _lake(lake: Path | None) -> Path:
    return load_settings().lake_path if lake is None else Path(lake)


def run_scan(r: Client, op: ops.Op[ScanResult], lake: Path | None = None) -> ScanResult:
    """Run a scan op on a synchronous client; a card back from the lake (``lake``, default the
    settings' ``ULT_LAKE_DIR``) is restored and scans on from where it was."""
    try:
        return ops.run(r, op)
    except CardArchived as e:
        found = find_archived(_lake(lake), e.sid, e.cid)
        if found is not None:
            ops.run(r, restore_card(e.sid, found))
        return ops.run(r, e.retry)


async def arun_scan(
    run: Callable[[ops.Op[Any]], Awaitable[Any]],
    op: ops.Op[ScanResult],
    lake: Path | None = None,
) -> ScanResult:
    """:func:`run_scan` through an async runner (``AutoPipeline.run``, or ``ops.arun`` bound
    to a client); the lake is read in a thread: the event loop keeps serving."""
    try:
        return await run(op)
    except CardArchived as e:
        found = await asyncio.to_thread(find_archived, _lake(lake), e.sid, e.cid)
        if found is not None:
            await run(restore_card(e.sid, found))
        return await run(e.retry)
