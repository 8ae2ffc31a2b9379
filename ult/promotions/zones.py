"""The sponsor's time zone: known IANA names, a guess from country and UTC offset."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ult.errors import UltError
from ult.i18n import N_


def check_zone(name: object) -> str:
    """An IANA zone name that this machine knows, or UltError('bad_timezone')."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or name not in _zones():
        raise UltError(
            "bad_timezone",
            N_("Unknown time zone '{zone}' (e.g. Europe/Stockholm)."),
            params={"zone": str(name)[:64]},
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
