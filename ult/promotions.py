"""Promotions: a sponsor multiplies the points of scans while a promotion runs.

A promotion is a one-off window (``start_ms`` … ``end_ms``, UTC) or recurring weekday hours in
the sponsor's own time zone (e.g. Tue–Thu 14:00–17:00; ``to`` at or before ``from`` runs past
midnight into the next day). Overlapping promotions: the largest multiplier wins.

Storage (all under the sponsor's ``{sid}`` hash tag, see :mod:`ult.keys`):

- ``ult:{sid}:promos`` hash: promotion id → the promotion as JSON (what ``--list`` shows);
- the profile field ``promo_plan``: everything the scan script needs, compiled when the
  promotions or the time zone change — the promotions still to come, and the zone's UTC offsets
  from the save on (for :data:`PLAN_YEARS` years), so the script finds local time without a
  time-zone database (format: :func:`compile_plan`). The scan script reads it in the
  same ``HMGET`` as the business name: a sponsor without promotions costs the scan nothing more.
- the profile field ``tz``: the sponsor's IANA time zone (set at registration from the country
  when it has one zone, else from the UTC offset; ``ult promo --tz`` and the dashboard change it).

Every change is one script (``lua/promo.lua``) that checks the owner key, checks the promotions
did not change since they were read (else the change is retried), writes hash and plan, and
logs a ``promo`` event.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import redis

from ult import ops
from ult.clock import DAY_MS, MINUTE_MS, or_now
from ult.errors import UltError
from ult.identity import hash_owner_key
from ult.keys import sponsor_keys
from ult.validation import check_field, check_text

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EARLIEST, LATEST = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 … 2100-01-01 UTC
MAX_MULTIPLIER = 10
MAX_PROMOTIONS = 20  # per sponsor: bounds the plan every scan reads
MAX_NAME = 60
PLAN_YEARS = 5  # offsets compiled ahead; any later save compiles them again
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_ID = re.compile(r"[a-f0-9]{8}")


def bad(message: str) -> UltError:
    return UltError("bad_promotion", message)


@dataclass(frozen=True)
class Promotion:
    """One promotion. ``multiplier`` has at most two decimals; points are rounded half up,
    at least 1. One-off: ``start_ms``/``end_ms``. Recurring: ``days`` (0 = Monday) and
    ``from_min``/``to_min`` (minutes of the local day)."""

    id: str
    name: str
    multiplier: float
    start_ms: int = 0
    end_ms: int = 0
    days: tuple[int, ...] = ()
    from_min: int = 0
    to_min: int = 0

    @property
    def recurring(self) -> bool:
        return bool(self.days)

    @property
    def m100(self) -> int:
        return round(self.multiplier * 100)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "multiplier": self.multiplier}
        if self.recurring:
            out |= {
                "days": [DAYS[d] for d in self.days],
                "from": _hhmm(self.from_min),
                "to": _hhmm(self.to_min),
            }
        else:
            out |= {"start": _iso(self.start_ms), "end": _iso(self.end_ms)}
            out |= {"start_ms": self.start_ms, "end_ms": self.end_ms}
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Promotion:
        d = json.loads(text)
        return cls(**{**d, "days": tuple(d.get("days", ()))})

    def public(self) -> dict[str, Any]:
        """What a customer's page shows: name and multiplier."""
        return {"id": self.id, "name": self.name, "multiplier": self.multiplier}

    def windows(self, tz: ZoneInfo, after_ms: int, days: int = 8) -> list[tuple[int, int]]:
        """Its (start_ms, end_ms) windows that end after ``after_ms``, within ``days`` days."""
        if not self.recurring:
            return [(self.start_ms, self.end_ms)] if self.end_ms > after_ms else []
        local = datetime.fromtimestamp(after_ms / 1000, tz).date() - timedelta(days=1)
        out = []
        for i in range(days + 1):
            day = local + timedelta(days=i)
            if day.weekday() not in self.days:
                continue
            start = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
                minutes=self.from_min
            )
            length = (self.to_min - self.from_min) % (24 * 60)
            end = start + timedelta(minutes=length)
            # wall-clock times: across a DST change the window is an hour shorter or longer
            s, e = _ms(_wall(start, tz)), _ms(_wall(end, tz))
            if e > after_ms:
                out.append((s, e))
        return out


def _wall(dt: datetime, tz: ZoneInfo) -> datetime:
    """``dt``'s naive wall-clock time in ``tz`` (start + minutes counts wall minutes)."""
    return dt.replace(tzinfo=None).replace(tzinfo=tz)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ----- parsing and checking input -----


def parse_multiplier(value: object) -> float:
    try:
        m = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise bad("The multiplier must be a number such as 2 or 1.5.") from None
    if isinstance(value, bool) or not 0 < m <= MAX_MULTIPLIER or m != m:
        raise bad(f"The multiplier must be more than 0 and at most {MAX_MULTIPLIER}.")
    if round(m * 100) == 0 or abs(round(m * 100) - m * 100) > 1e-6:
        raise bad("The multiplier may have at most two decimals (e.g. 1.25).")
    return round(m, 2)


def parse_time(value: object, zone: ZoneInfo | None = None) -> int:
    """An ISO 8601 date-time → ms. Without an offset it is read in ``zone`` (else UTC)."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad("Start and end must be ISO 8601 date-times, e.g. 2026-12-24T14:00+01:00.")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"'{value[:40]}' is not an ISO 8601 date-time (e.g. 2026-12-24T14:00).") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone or UTC)
    try:
        ms = _ms(dt)
    except (OverflowError, ValueError):
        ms = -1
    if not EARLIEST <= ms < LATEST:
        raise bad("Start and end must lie between the years 2000 and 2100.")
    return ms


def parse_clock(value: object) -> int:
    """``14:00`` → minutes of the day."""
    m = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if not m:
        raise bad(f"'{str(value)[:10]}' is not a time of day such as 14:00 (00:00–23:59).")
    return int(m[1]) * 60 + int(m[2])


def parse_days(value: object) -> tuple[int, ...]:
    """``tue-thu``, ``mon,wed,fri``, ``fri-mon`` (wraps) → sorted weekday numbers (0 = Monday)."""
    if not isinstance(value, str | list | tuple) or not value:
        raise bad("Days must be weekdays such as tue-thu or mon,wed,fri.")
    parts = value.split(",") if isinstance(value, str) else list(value)
    days: set[int] = set()
    for part in parts:
        ends = str(part).strip().lower().split("-")
        if len(ends) > 2 or any(e not in DAYS and e not in DAY_NAMES for e in ends):
            raise bad(f"Unknown weekday '{str(part)[:12]}': use mon, tue, wed, thu, fri, sat, sun.")
        a, b = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return tuple(sorted(days))


def new_promotion(
    name: object,
    multiplier: object,
    *,
    start: object = None,
    end: object = None,
    days: object = None,
    from_time: object = None,
    to_time: object = None,
    zone: ZoneInfo | None = None,
    now_ms: int | None = None,
) -> Promotion:
    """A checked promotion from user input: ``start``/``end`` (one-off) or ``days`` with
    ``from_time``/``to_time`` (recurring). Raises UltError('bad_promotion')."""
    try:
        text = check_text("Promotion name", name, max_len=MAX_NAME)
    except UltError as e:
        raise bad(e.message) from None
    mult = parse_multiplier(multiplier)
    pid = secrets.token_hex(4)
    if days is not None or from_time is not None or to_time is not None:
        if start is not None or end is not None:
            raise bad("A promotion is either a one-off window or recurring hours, not both.")
        if days is None or from_time is None or to_time is None:
            raise bad("Recurring hours need days, a from time and a to time.")
        frm, to = parse_clock(from_time), parse_clock(to_time)
        if frm == to:
            raise bad("From and to must differ (to before from runs past midnight).")
        return Promotion(pid, text, mult, days=parse_days(days), from_min=frm, to_min=to)
    if start is None or end is None:
        raise bad("A one-off promotion needs a start and an end.")
    s, e = parse_time(start, zone), parse_time(end, zone)
    if e <= s:
        raise bad("The end must be after the start.")
    if e <= or_now(now_ms):
        raise bad("That promotion would already be over.")
    return Promotion(pid, text, mult, start_ms=s, end_ms=e)


# ----- time zones -----


def check_zone(name: object) -> str:
    """An IANA zone name that this machine knows, or UltError('bad_timezone')."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or name not in _zones():
        raise UltError(
            "bad_timezone", f"Unknown time zone '{str(name)[:64]}' (e.g. Europe/Stockholm)."
        )
    return name


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted (for a picker)."""
    return sorted(_zones())


@cache
def _country_zones() -> dict[str, list[str]]:
    """ISO country code → its zones, from the system's ``zone.tab``."""
    out: dict[str, list[str]] = {}
    for base in ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"):
        path = Path(base) / "zone.tab"
        if path.exists():
            for line in path.read_text().splitlines():
                cols = line.split("\t")
                if len(cols) >= 3 and not line.startswith("#"):
                    out.setdefault(cols[0], []).append(cols[2])
            break
    return out


def guess_zone(country: str, utc_offset_min: int = 0) -> str:
    """The country's zone when it has exactly one, else a fixed zone for the UTC offset
    (whole hours; no daylight saving: set the real zone with ``ult promo --tz``)."""
    zones = _country_zones().get((country or "").upper(), [])
    if len(zones) == 1 and zones[0] in _zones():
        return zones[0]
    hours = round(utc_offset_min / 60)
    if hours == 0 or not -12 <= hours <= 14:
        return "UTC"
    return f"Etc/GMT{-hours:+d}"  # POSIX sign: Etc/GMT-1 is UTC+1


def zone_of(profile_hash: dict[str, str]) -> ZoneInfo:
    """The sponsor's zone: its ``tz`` field, else guessed from country and offset."""
    name = profile_hash.get("tz") or guess_zone(
        profile_hash.get("country", ""), int(profile_hash.get("utc_offset_min") or 0)
    )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


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


# ----- the plan the scan script reads -----


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


# ----- reading and changing a sponsor's promotions -----


def list_promotions(r: redis.Redis, sid: str) -> list[Promotion]:
    """The sponsor's promotions, one-off ones by start, recurring ones after."""
    check_field("sid", sid)
    raw = r.hgetall(sponsor_keys(sid).promos)
    promos = [Promotion.from_json(ops.text(v)) for v in raw.values()]
    return sorted(promos, key=lambda p: (p.recurring, p.start_ms, p.from_min, p.id))


def _change(
    r: redis.Redis,
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
            raise UltError("unknown_sponsor", f"No business with id '{sid}'.")
        version = profile.get("promo_ver", "0")
        promos = {p.id: p for p in list_promotions(r, sid)}
        if action == "add" and promo is not None:
            if sum(p.recurring or p.end_ms > now_ms for p in promos.values()) >= MAX_PROMOTIONS:
                raise bad(
                    f"At most {MAX_PROMOTIONS} running or coming promotions: delete one first."
                )
            promos[promo.id] = promo
        elif action == "delete" and pid not in promos:
            raise UltError("unknown_promotion", f"No promotion with id '{pid[:16]}'.")
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
            raise UltError("unauthorized", "That owner key does not match this business.")
        if reply == "unknown_sponsor":
            raise UltError("unknown_sponsor", f"No business with id '{sid}'.")
        if reply == "ok":
            return sorted(promos.values(), key=lambda p: (p.recurring, p.start_ms, p.id))
    raise UltError("busy", "The promotions kept changing; try again.")


def add_promotion(
    r: redis.Redis, sid: str, owner_key: str, promo: Promotion, now_ms: int | None = None
) -> Promotion:
    """Add ``promo`` (from :func:`new_promotion`); logs a ``promo`` event."""
    _change(r, sid, owner_key, "add", promo=promo, pid=promo.id, now_ms=now_ms)
    return promo


def delete_promotion(
    r: redis.Redis, sid: str, owner_key: str, pid: str, now_ms: int | None = None
) -> list[Promotion]:
    """Delete promotion ``pid``; the promotions left."""
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        raise UltError("unknown_promotion", f"No promotion with id '{str(pid)[:16]}'.")
    return _change(r, sid, owner_key, "delete", pid=pid, now_ms=now_ms)


def set_zone(r: redis.Redis, sid: str, owner_key: str, tz: str, now_ms: int | None = None) -> str:
    """Set the sponsor's IANA time zone (recurring hours follow it, daylight saving included)."""
    _change(r, sid, owner_key, "tz", tz=check_zone(tz), now_ms=now_ms)
    return tz


def sponsor_zone(r: redis.Redis, sid: str) -> str:
    """The sponsor's time zone name (stored, or guessed from country and offset)."""
    return zone_of(ops.as_dict(r.hgetall(sponsor_keys(sid).profile))).key
