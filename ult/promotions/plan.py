"""The profile's ``promo_plan``: compiled for the scan script (the zone's UTC offsets and
each promotion's numbers) and parsed back for the page's ``{active, next}``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ult.clock import DAY_MS, MINUTE_MS
from ult.promotions.model import Promotion

PLAN_YEARS = 5  # offsets compiled ahead; any later save compiles them again


def offsets(tz: ZoneInfo, from_ms: int, years: int = PLAN_YEARS) -> list[list[int]]:
    """``[[from_ms, offset_min], …]``: the zone's UTC offset from ``from_ms`` on, a row per change
    (found hour by hour, then to the minute)."""

    def off(ms: int) -> int:
        delta = datetime.fromtimestamp(ms / 1000, tz).utcoffset() or timedelta()
        return int(delta.total_seconds() // 60)

    hour = 3_600_000
    out = [[from_ms, off(from_ms)]]
    t, end = from_ms, from_ms + years * 366 * DAY_MS
    while t < end:
        nxt = t + 7 * DAY_MS
        if off(nxt) != out[-1][1]:
            nxt = t
            while off(nxt + hour) == out[-1][1]:
                nxt += hour
            # the change lies in (nxt, nxt + hour]: find its minute
            lo, hi = nxt // MINUTE_MS, -(-(nxt + hour) // MINUTE_MS)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid * MINUTE_MS) == out[-1][1] else (lo, mid)
            hi *= MINUTE_MS
            out.append([hi, off(hi)])
            nxt = hi
        t = nxt
    return out


def compile_plan(promos: list[Promotion], tz: ZoneInfo, now_ms: int) -> str:
    """The profile's ``promo_plan`` field ('' without promotions still to run).

    Its first line is for the scan script (``lua/scan.lua`` reads it with string patterns):
    the zone's UTC offsets from ``now_ms`` on, then each promotion's numbers. The second line
    is JSON for Python (names, zone), read by :func:`parse_plan`.
    """
    live = [p for p in promos if p.recurring or p.end_ms > now_ms]
    if not live:
        return ""
    line = " ".join(f"{t} {o}" for t, o in offsets(tz, now_ms))
    rows = []
    for p in live:
        row: dict[str, Any] = {"id": p.id, "m": p.m100, "name": p.name}
        if p.recurring:
            mask = sum(1 << d for d in p.days)
            line += f";{p.id} {p.m100} w{mask} {p.from_min} {p.to_min}"
            row |= {"days": mask, "from": p.from_min, "to": p.to_min}
        else:
            line += f";{p.id} {p.m100} {p.start_ms} {p.end_ms}"
            row |= {"start": p.start_ms, "end": p.end_ms}
        rows.append(row)
    meta = json.dumps({"tz": tz.key, "promos": rows}, ensure_ascii=False, separators=(",", ":"))
    return f"{line}\n{meta}"


@dataclass(frozen=True)
class Plan:
    """A parsed ``promo_plan``: the sponsor's promotions and zone, for the page."""

    tz: ZoneInfo
    promos: tuple[Promotion, ...] = field(default=())
    # the last status and the span it holds for (every scan answers it: see status())
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_id(self, pid: str) -> Promotion | None:
        return next((p for p in self.promos if p.id == pid), None)

    def status(self, now_ms: int) -> dict[str, Any]:
        """``{active, next}``: the promotion running at ``now_ms`` (largest multiplier, with
        ``until_ms``) and the next one to start (``start_ms``, ``end_ms``), or None each.

        It can only change when the active one ends or the next one starts: until then the
        last answer is reused, so a scan pays for it about once per promotion boundary.
        """
        memo = self._memo.get("status")
        if memo and memo[0] <= now_ms < memo[1]:
            return memo[2]
        active, nxt = None, None
        for p in self.promos:
            for s, e in p.windows(self.tz, now_ms):
                if s <= now_ms < e:
                    if active is None or p.multiplier > active[0].multiplier:
                        active = (p, e)
                elif s > now_ms and (nxt is None or s < nxt[1]):
                    nxt = (p, s, e)
        status = {
            "active": active and active[0].public() | {"until_ms": active[1]},
            "next": nxt and nxt[0].public() | {"start_ms": nxt[1], "end_ms": nxt[2]},
        }
        until = min([now_ms + DAY_MS] + ([active[1]] if active else []) + ([nxt[1]] if nxt else []))
        self._memo["status"] = (now_ms, until, status)
        return status


@lru_cache(maxsize=1024)
def parse_plan(text: str) -> Plan | None:
    """The plan stored in a profile, parsed once per distinct plan (every scan answers it)."""
    if not text:
        return None
    d = json.loads(text.partition("\n")[2])
    promos = []
    for row in d["promos"]:
        days = tuple(i for i in range(7) if row.get("days", 0) >> i & 1)
        promos.append(
            Promotion(
                row["id"],
                row["name"],
                row["m"] / 100,
                start_ms=row.get("start", 0),
                end_ms=row.get("end", 0),
                days=days,
                from_min=row.get("from", 0),
                to_min=row.get("to", 0),
            )
        )
    try:
        tz = ZoneInfo(d["tz"])
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return Plan(tz, tuple(promos))


def promotion_status(plan_text: str, now_ms: int) -> dict[str, Any]:
    """``{active, next}`` of a stored plan at ``now_ms`` (both None without promotions)."""
    plan = parse_plan(plan_text)
    return plan.status(now_ms) if plan else {"active": None, "next": None}
