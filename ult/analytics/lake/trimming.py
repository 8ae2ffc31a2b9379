"""Trimming a sponsor's stream in Redis: only entries already in the lake may go."""

from __future__ import annotations

from pathlib import Path

from ult import keys
from ult.analytics.lake.ids import format_id, parse_id
from ult.analytics.lake.layout import last_archived
from ult.connection import Client


def trim(r: Client, lake: Path, sid: str, cutoff_ms: int) -> int:
    """Trim from the sponsor's stream the entries older than ``cutoff_ms`` that are in the
    lake (never one after the bookmark). Returns how many entries went."""
    last = last_archived(lake, sid)
    if last is None:
        return 0
    ms, seq = parse_id(last)
    minid = min((ms, seq + 1), (cutoff_ms, 0))
    return int(r.xtrim(keys.sponsor_keys(sid).events, minid=format_id(minid), approximate=False))
