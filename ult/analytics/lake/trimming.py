"""Trimming a sponsor's stream in Redis (only entries already in the lake may go), the voids of
the trimmed scans and the decided claims of the same age."""

from __future__ import annotations

from ult import keys, ops
from ult.analytics.lake.ids import EntryId, format_id, parse_id
from ult.connection import Client

CLAIMS_PAGE = 1_000


def trim(r: Client, marks: dict[str, str | None], cutoff_ms: int) -> int:
    """Trim from each sponsor's stream the entries older than ``cutoff_ms`` that are in the
    lake: ``marks`` holds each sponsor's last archived entry id (None: nothing archived, so
    nothing goes), and no entry after it goes. One round trip for every stream; the voids of
    the trimmed scans go too. Returns how many entries went."""
    below = {sid: _trim_below(last, cutoff_ms) for sid, last in marks.items() if last}
    pipe = r.pipeline(transaction=False)
    for sid, minid in below.items():
        k = keys.sponsor_keys(sid)
        pipe.xtrim(k.events, minid=format_id(minid), approximate=False)
        pipe.scard(k.voided)
    replies = pipe.execute() if below else []
    for (sid, minid), voids in zip(below.items(), replies[1::2], strict=True):
        if int(voids):  # most sponsors have no voids: no SSCAN for them
            trim_voided(r, sid, minid)
    return sum(int(n) for n in replies[0::2])


def _trim_below(last: str, cutoff_ms: int) -> EntryId:
    """The first id that stays: after the last archived entry, or the cutoff if earlier."""
    ms, seq = parse_id(last)
    return min((ms, seq + 1), (cutoff_ms, 0))


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
