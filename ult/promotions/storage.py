"""Reading and changing a sponsor's promotions and time zone in Redis: one ``promo`` script
per change, which checks the owner key and that nothing changed since the read."""

from __future__ import annotations

import json
import random
import re
import time
from zoneinfo import ZoneInfo

from ult import ops
from ult.clock import or_now
from ult.connection import Client
from ult.errors import UltError
from ult.i18n import N_
from ult.identity import hash_owner_key
from ult.keys import sponsor_keys
from ult.promotions.model import Promotion, bad
from ult.promotions.plan import compile_plan
from ult.promotions.zones import check_zone, zone_of
from ult.validation import check_field

MAX_PROMOTIONS = 20  # per sponsor: bounds the plan every scan reads
_ID = re.compile(r"[a-f0-9]{8}")


def list_promotions(r: Client, sid: str) -> list[Promotion]:
    """The sponsor's promotions, one-off ones by start, recurring ones after."""
    check_field("sid", sid)
    raw = r.hgetall(sponsor_keys(sid).promos)
    promos = [Promotion.from_json(ops.text(v)) for v in raw.values()]
    return sorted(promos, key=lambda p: (p.recurring, p.start_ms, p.from_min, p.id))


def _change(
    r: Client,
    sid: str,
    owner_key: str,
    action: str,
    *,
    promo: Promotion | None = None,
    pid: str = "",
    tz: str = "",
    now_ms: int | None = None,
) -> list[Promotion]:
    check_field("sid", sid)
    check_field("owner_key", owner_key)
    now_ms = or_now(now_ms)
    k = sponsor_keys(sid)
    for attempt in range(20):  # another change between our read and our write: read again
        if attempt:
            time.sleep(random.uniform(0, 0.005 * attempt))  # apart, not in step
        profile = ops.as_dict(r.hgetall(k.profile))
        if not profile:
            raise UltError(
                "unknown_sponsor", N_("No business with id '{sid}'."), params={"sid": sid}
            )
        version = profile.get("promo_ver", "0")
        promos = {p.id: p for p in list_promotions(r, sid)}
        if action == "add" and promo is not None:
            if sum(p.recurring or p.end_ms > now_ms for p in promos.values()) >= MAX_PROMOTIONS:
                raise bad(
                    N_("At most {most} running or coming promotions: delete one first."),
                    most=MAX_PROMOTIONS,
                )
            promos[promo.id] = promo
        elif action == "delete" and pid not in promos:
            raise UltError(
                "unknown_promotion", N_("No promotion with id '{pid}'."), params={"pid": pid[:16]}
            )
        elif action == "delete":
            del promos[pid]
        zone = ZoneInfo(tz) if tz else zone_of(profile)
        plan = compile_plan(list(promos.values()), zone, now_ms)
        event = json.dumps(
            promo.to_dict() if promo else {"id": pid} if pid else {"tz": zone.key},
            ensure_ascii=False,
        )
        args = [hash_owner_key(owner_key), now_ms, version, action, pid or "", event, plan]
        args += [zone.key, promo.to_json() if promo else ""]
        reply = ops.text(
            ops.run(r, ops.script("promo", [k.profile, k.promos, k.events], args, ops.text))
        )
        if reply == "unauthorized":
            raise UltError("unauthorized", N_("That owner key does not match this business."))
        if reply == "unknown_sponsor":
            raise UltError(
                "unknown_sponsor", N_("No business with id '{sid}'."), params={"sid": sid}
            )
        if reply == "ok":
            return sorted(promos.values(), key=lambda p: (p.recurring, p.start_ms, p.id))
    raise UltError("busy", N_("The promotions kept changing; try again."))


def add_promotion(
    r: Client, sid: str, owner_key: str, promo: Promotion, now_ms: int | None = None
) -> Promotion:
    """Add ``promo`` (from :func:`new_promotion`); logs a ``promo`` event."""
    _change(r, sid, owner_key, "add", promo=promo, pid=promo.id, now_ms=now_ms)
    return promo


def delete_promotion(
    r: Client, sid: str, owner_key: str, pid: str, now_ms: int | None = None
) -> list[Promotion]:
    """Delete promotion ``pid``; the promotions left."""
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        raise UltError(
            "unknown_promotion", N_("No promotion with id '{pid}'."), params={"pid": str(pid)[:16]}
        )
    return _change(r, sid, owner_key, "delete", pid=pid, now_ms=now_ms)


def set_zone(r: Client, sid: str, owner_key: str, tz: str, now_ms: int | None = None) -> str:
    """Set the sponsor's IANA time zone (recurring hours follow it, daylight saving included)."""
    _change(r, sid, owner_key, "tz", tz=check_zone(tz), now_ms=now_ms)
    return tz


def sponsor_zone(r: Client, sid: str) -> str:
    """The sponsor's time zone name (stored, or guessed from country and offset)."""
    return zone_of(ops.as_dict(r.hgetall(sponsor_keys(sid).profile))).key
