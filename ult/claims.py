"""Rewards claimed at the counter.

A claim deducts the points at once (atomically, in ``claim.lua``); ``instant`` approval
gives a voucher straight away, ``staff`` approval waits for the dashboard or the staff page.
A voucher is valid for the rule's ``voucher_min`` minutes and is used once: staff ``redeem`` it
at the counter. Rejecting or voiding a claim gives the points back.

A claim's *state* (``ult.schema.CLAIM_STATES``: is the voucher still valid?) is decided by the
scripts only (``lib.lua``: ``claim_state``); every script that answers a claim answers its state.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from ult import ops
from ult.clock import or_now
from ult.errors import UltError
from ult.identity import card_id, hash_owner_key, hash_staff_key, short_cid
from ult.keys import sponsor_keys
from ult.messages import TEXTS, format_message, plural
from ult.schema import (
    CLAIM_REPLY,
    CLAIMS_REPLY,
    DECIDE_REPLY,
    OPEN_CLAIM_STATES,
    reply_dict,
)
from ult.validation import check_field

# Short codes staff read aloud: no 0/O, 1/I/L, 5/S.
CODE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXYZ2346789"
DECISIONS = ("approve", "reject", "void", "redeem")


@dataclass(frozen=True)
class Claim:
    """One claim as stored, and its ``state`` as the script that read it decided."""

    id: str
    cid: str
    biz: str
    status: str
    reward: str
    points: int
    code: str
    created_ms: int
    expires_at: int
    voucher_ms: int
    decided_ms: int = 0
    redeemed_ms: int = 0
    by: str = ""  # who decided last: "owner" or a staff key's name (staff only, not customers)
    state: str = ""  # one of ult.schema.CLAIM_STATES, decided by the script that answered it

    @classmethod
    def from_reply(cls, raw: Any, state: Any) -> Claim:
        """The claim of a script's reply: its JSON and the state the script decided."""
        data = json.loads(ops.text(raw))
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields | {"state": ops.text(state)})

    @property
    def open(self) -> bool:
        """Waiting for staff or a voucher still valid: it holds the points, and can be voided."""
        return self.state in OPEN_CLAIM_STATES

    def to_dict(self) -> dict[str, Any]:
        """What the customer page and the dashboard see (short cid only)."""
        return {
            "id": self.id,
            "cid": short_cid(self.cid),
            "biz": self.biz,
            "status": self.status,
            "state": self.state,
            "reward": self.reward,
            "points": self.points,
            "code": self.code,
            "created_ms": self.created_ms,
            "expires_at": self.expires_at,
            "decided_ms": self.decided_ms,
            "redeemed_ms": self.redeemed_ms,
        }


def new_code(length: int = 4) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def claim(sid: str, key: str, now_ms: int | None = None) -> ops.Op[tuple[Claim, bool]]:
    """Claim the reward for ``key``'s card. Returns (claim, created) — created is False when
    the card already had an open claim, which is returned instead of a new one."""
    check_field("sid", sid)
    cid = card_id(check_field("key", key))
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)
    args = [cid, now_ms, secrets.token_urlsafe(9), new_code()]

    def parse(raw_reply: list[Any]) -> tuple[Claim, bool]:
        reply = reply_dict(CLAIM_REPLY, raw_reply)
        status, raw = ops.text(reply["status"]), ops.text(reply["claim"])
        if status == "unknown_sponsor":
            raise UltError(status, format_message(status))
        if status == "not_enough_points":
            points, needed = int(reply["points"]), int(reply["points_needed"])
            missing = plural(needed - points, "more_point")
            words = format_message(status, missing=missing, reward=TEXTS["your_reward"])
            raise UltError(status, words, points=points, points_needed=needed)
        return Claim.from_reply(raw, reply["state"]), status == "ok"

    keys = [k.profile, k.rule, k.cards, k.events, k.claims, k.claimed, k.requested]
    return ops.script("claim", keys, args, parse)


def decide(
    sid: str, key: str, claim_id: str, decision: str, now_ms: int | None = None
) -> ops.Op[Claim]:
    """Staff ``approve`` or ``reject`` a requested claim, ``void`` an open one, or ``redeem`` an
    approved voucher still valid (once). ``key``: the owner key or a staff key, checked in the
    script on every call, so a revoked staff key is refused at once. A refusal's UltError
    carries the claim as it is (``claim``) when there is one."""
    if decision not in DECISIONS:
        raise UltError("bad_request", f"'decision' must be one of {', '.join(DECISIONS)}.")
    check_field("sid", sid)
    check_field("staff_key", key)
    check_field("claim_id", claim_id)
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)
    args = [hash_owner_key(key), hash_staff_key(key), claim_id, decision, now_ms]

    def parse(raw_reply: list[Any]) -> Claim:
        reply = reply_dict(DECIDE_REPLY, raw_reply)
        status, raw = ops.text(reply["status"]), ops.text(reply["claim"])
        if status == "unknown_sponsor":
            raise UltError(status, f"No business with id '{sid}'.")
        if status != "ok":
            extra = {"claim": Claim.from_reply(raw, reply["state"]).to_dict()} if raw else {}
            raise UltError(status, format_message(status), **extra)
        return Claim.from_reply(raw, reply["state"])

    keys = [k.profile, k.rule, k.cards, k.events, k.claims, k.staff, k.claimed, k.requested]
    return ops.script("decide", keys, args, parse)


CLAIMS_PAGE = 200  # claims listed besides those waiting for staff


def list_claims(
    sid: str, now_ms: int | None = None, limit: int = CLAIMS_PAGE
) -> ops.Op[list[Claim]]:
    """The sponsor's claims with their state at ``now_ms``, newest first: every claim waiting
    for staff and the newest ``limit`` others (so the first ``limit`` of any selection that
    keeps the waiting ones are those of the whole history)."""
    n = len(CLAIMS_REPLY)

    def parse(flat: list[Any]) -> list[Claim]:
        replies = [reply_dict(CLAIMS_REPLY, flat[i : i + n]) for i in range(0, len(flat), n)]
        found = [Claim.from_reply(one["claim"], one["state"]) for one in replies]
        return sorted(found, key=lambda c: -c.created_ms)

    k = sponsor_keys(sid)
    keys = [k.claims, k.claimed, k.requested]
    return ops.script("claims", keys, [or_now(now_ms), limit], parse)


def pending(claims: list[Claim]) -> list[Claim]:
    """The claims waiting for staff."""
    return [c for c in claims if c.state == "requested"]


def void_scan(sid: str, owner_key: str, entry_id: str, now_ms: int | None = None) -> ops.Op[None]:
    """Void one counted scan: its visit and points are taken back, once."""
    check_field("sid", sid)
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)
    messages = {
        "unknown_sponsor": f"No business with id '{sid}'.",
        "unauthorized": "That owner key does not match this business.",
        "unknown_scan": "No such scan.",
        "already_void": "This scan was already voided.",
    }

    def parse(reply: Any) -> None:
        status = ops.text(reply)
        if status != "ok":
            raise UltError(status, messages[status])

    args = [hash_owner_key(owner_key), entry_id, now_ms]
    return ops.script("void_scan", [k.profile, k.cards, k.events, k.voided, k.top], args, parse)
