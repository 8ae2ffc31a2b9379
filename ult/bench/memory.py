"""Memory: Redis bytes per recorded scan, and the service's resident memory.

Scans are recorded with the service's own scan script (:func:`ult.scans.scan`, the same
Lua, keys and arguments the Socket.IO handler sends), pipelined from one client so that
100,000 of them take seconds. 100 sponsors, 100 cards each (10 scans per card, a nonce
on every scan): the stream entries, the card records and the hash overheads all count.
"""

from __future__ import annotations

import secrets
from typing import Any

from ult import ops
from ult.bench.data import register_sponsors, remove_sponsors
from ult.connection import Client
from ult.keys import sponsor_keys
from ult.scans import scan

BATCH = 500


def used_memory(r: Client) -> int:
    """``INFO memory`` used_memory, in bytes."""
    return int(r.info("memory")["used_memory"])


def record_scans(r: Client, sids: list[str], scans: int, cards_per_sponsor: int) -> int:
    """Record ``scans`` scans round robin over sponsors and their cards; the errors."""
    ops.load(r, "scan")
    keys = [[secrets.token_urlsafe(32) for _ in range(cards_per_sponsor)] for _ in sids]
    errors = 0
    for start in range(0, scans, BATCH):
        pipe = r.pipeline(transaction=False)
        batch = []
        for i in range(start, min(scans, start + BATCH)):
            s, card = i % len(sids), (i // len(sids)) % cards_per_sponsor
            op = scan(sids[s], keys[s][card], nonce=f"m{i:x}")
            ops.queue(pipe, op)
            batch.append(op)
        for op, reply in zip(batch, pipe.execute(raise_on_error=False), strict=True):
            try:
                ops.parse_reply(op, reply)
            except Exception:  # a refused scan is counted, not raised
                errors += 1
    return errors


def memory_usage(r: Client, key: str) -> int:
    """``MEMORY USAGE key SAMPLES 0`` (every element counted), 0 when missing."""
    return int(r.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def measure_memory(
    r: Client, sponsors: int = 100, scans: int = 100_000, cards_per_sponsor: int = 100
) -> dict[str, Any]:
    """Register fresh sponsors, record ``scans`` scans, report the bytes they cost."""
    sids = register_sponsors(r, sponsors)
    try:
        r.execute_command("MEMORY", "PURGE")
        before = used_memory(r)
        errors = record_scans(r, sids, scans, cards_per_sponsor)
        after = used_memory(r)
        k = sponsor_keys(sids[0])
        entries, cards = r.xlen(k.events), r.hlen(k.cards)
        stream_bytes, cards_bytes = memory_usage(r, k.events), memory_usage(r, k.cards)
    finally:
        remove_sponsors(r, sids)
    return {
        "scans": scans,
        "sponsors": sponsors,
        "cards": min(scans, sponsors * cards_per_sponsor),
        "errors": errors,
        "used_memory_delta_bytes": after - before,
        "bytes_per_scan": round((after - before) / scans, 1),
        "one_stream_memory_usage_bytes": stream_bytes,
        "one_stream_entries": entries,
        "stream_bytes_per_entry": round(stream_bytes / entries, 1) if entries else None,
        "one_cards_hash_memory_usage_bytes": cards_bytes,
        "card_bytes_each": round(cards_bytes / cards, 1) if cards else None,
    }
