"""Trimming a sponsor's stream in Redis (only entries already in the lake may go), the voids of
the trimmed scans and the decided claims of the same age."""

from __future__ import annotations

from pathlib import Path

from ult import keys, ops
from ult.analytics.lake.ids import EntryId, format_id, parse_id
from ult.analytics.lake.layout import last_archived
from ult.connection import Client

CLAIMS_PAGE = 1_000


def trim(r: Client, lake: Path, sid: str, cutoff_ms: int) -> int:
    """Trim from the sponsor's stream the entries older than ``cutoff_ms`` that are in the
    lake (never one after the bookmark). Returns how many entries went."""
    last = last_archived(lake, sid)
    if last is None:
        return 0
    ms, seq = parse_id(last)
    minid = min((ms, seq + 1), (cutoff_ms, 0))
    k = keys.sponsor_keys(sid)
    trimmed = int(r.xtrim(k.events, minid=format_id(minid), approximate=False))
    trim_voided(r, sid, minid)
    return trimmed


def trim_voided(r: Client, sid: str, below: EntryId) -> int:
    """Forget the voids of scans trimmed from the stream (ids before ``below``)."""
    key = keys.sponsor_keys(sid).voided
    old = [ops.text(i) for i in r.sscan_iter(key, count=1000) if parse_id(ops.text(i)) < below]
    for i in range(0, len(old), 1000):
        r.srem(key, *old[i : i + 1000])
    return len(old)


def trim_claims(r: Client, sid: str, cutoff_ms: int, now_ms: int) -> int:
    """Remove from Redis the sponsor's claims made before ``cutoff_ms`` and decided (their
    events stay in the stream and the lake); a claim still open stays. Returns how many."""
    k = keys.sponsor_keys(sid)
    gone = offset = 0
    while True:
        args = [cutoff_ms, now_ms, offset, CLAIMS_PAGE]
        removed, seen = ops.run(
            r, ops.script("trim_claims", [k.claims, k.claimed, k.requested], args, list)
        )
        gone, offset = gone + int(removed), offset + int(seen) - int(removed)
        if int(seen) < CLAIMS_PAGE:
            return gone
