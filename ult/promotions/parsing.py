"""Promotions from user input: multiplier, date-times, times of day and weekdays, checked."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ult.clock import or_now
from ult.errors import UltError
from ult.i18n import N_
from ult.promotions.model import DAYS, Promotion, bad, epoch_ms
from ult.validation import check_text

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EARLIEST, LATEST = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 … 2100-01-01 UTC
MAX_MULTIPLIER = 10
MAX_NAME = 60
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_multiplier(value: object) -> float:
    try:
        m = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise bad(N_("The multiplier must be a number such as 2 or 1.5.")) from None
    if isinstance(value, bool) or not 0 < m <= MAX_MULTIPLIER or m != m:
        raise bad(N_("The multiplier must be more than 0 and at most {most}."), most=MAX_MULTIPLIER)
    if round(m * 100) == 0 or abs(round(m * 100) - m * 100) > 1e-6:
        raise bad(N_("The multiplier may have at most two decimals (e.g. 1.25)."))
    return round(m, 2)


def parse_time(value: object, zone: ZoneInfo | None = None) -> int:
    """An ISO 8601 date-time → ms. Without an offset it is read in ``zone`` (else UTC)."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad(N_("Start and end must be ISO 8601 date-times, e.g. 2026-12-24T14:00+01:00."))
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad(
            N_("'{value}' is not an ISO 8601 date-time (e.g. 2026-12-24T14:00)."),
            value=value[:40],
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone or UTC)
    try:
        ms = epoch_ms(dt)
    except (OverflowError, ValueError):
        ms = -1
    if not EARLIEST <= ms < LATEST:
        raise bad(N_("Start and end must lie between the years 2000 and 2100."))
    return ms


def parse_clock(value: object) -> int:
    """``14:00`` → minutes of the day."""
    m = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if not m:
        raise bad(
            N_("'{value}' is not a time of day such as 14:00 (00:00–23:59)."),
            value=str(value)[:10],
        )
    return int(m[1]) * 60 + int(m[2])


def parse_days(value: object) -> tuple[int, ...]:
    """``tue-thu``, ``mon,wed,fri``, ``fri-mon`` (wraps) → sorted weekday numbers (0 = Monday)."""
    if not isinstance(value, str | list | tuple) or not value:
        raise bad(N_("Days must be weekdays such as tue-thu or mon,wed,fri."))
    parts = value.split(",") if isinstance(value, str) else list(value)
    days: set[int] = set()
    for part in parts:
        ends = str(part).strip().lower().split("-")
        if len(ends) > 2 or any(e not in DAYS and e not in DAY_NAMES for e in ends):
            raise bad(
                N_("Unknown weekday '{day}': use mon, tue, wed, thu, fri, sat, sun."),
                day=str(part)[:12],
            )
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
        text = check_text(N_("Promotion name"), name, max_len=MAX_NAME)
    except UltError as e:
        raise bad(e.msgid, **e.params) from None
    mult = parse_multiplier(multiplier)
    pid = secrets.token_hex(4)
    if days is not None or from_time is not None or to_time is not None:
        if start is not None or end is not None:
            raise bad(N_("A promotion is either a one-off window or recurring hours, not both."))
        if days is None or from_time is None or to_time is None:
            raise bad(N_("Recurring hours need days, a from time and a to time."))
        frm, to = parse_clock(from_time), parse_clock(to_time)
        if frm == to:
            raise bad(N_("From and to must differ (to before from runs past midnight)."))
        return Promotion(pid, text, mult, days=parse_days(days), from_min=frm, to_min=to)
    if start is None or end is None:
        raise bad(N_("A one-off promotion needs a start and an end."))
    start_ms, end_ms = parse_time(start, zone), parse_time(end, zone)
    if end_ms <= start_ms:
        raise bad(N_("The end must be after the start."))
    if end_ms <= or_now(now_ms):
        raise bad(N_("That promotion would already be over."))
    return Promotion(pid, text, mult, start_ms=start_ms, end_ms=end_ms)
