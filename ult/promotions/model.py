"""A promotion: a one-off window or recurring weekday hours, and its multiplier."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ult.errors import UltError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def bad(message: str, **params: object) -> UltError:
    """A refused promotion: ``message`` a catalog msgid, ``params`` its placeholders."""
    return UltError("bad_promotion", message, params=params)


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
            s, e = epoch_ms(_wall(start, tz)), epoch_ms(_wall(end, tz))
            if e > after_ms:
                out.append((s, e))
        return out


def _wall(dt: datetime, tz: ZoneInfo) -> datetime:
    """``dt``'s naive wall-clock time in ``tz`` (start + minutes counts wall minutes)."""
    return dt.replace(tzinfo=None).replace(tzinfo=tz)


def epoch_ms(dt: datetime) -> int:
    """``dt`` as milliseconds since the epoch."""
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
