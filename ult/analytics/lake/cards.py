"""Cards that stayed away leave Redis for the lake's card table, exactly once and crash-safe.

A card idle since before the cutoff (no counted visit, no refusal) is written with its last
claim to ``<lake>/cards/sid=<sid>/part-<ms>.parquet`` (fsynced, sorted by cid), then added to
the sponsor's Bloom filter of archived cards in Redis, and only then removed from Redis by
``forget_cards.lua`` — which keeps a card whose record changed meanwhile (it scanned) or whose
claim is open. A crash before the removal leaves the card in Redis and the same record in the
lake: the next run writes it again, and a lookup takes the newest row of a card, the same
record. A card that returns is restored from there (:func:`ult.scans.run_scan`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ult import ops
from ult.analytics.lake.durable import fsync_dir, write_durable
from ult.cards import ARCHIVED_COLUMNS, card_table_dir
from ult.connection import Client
from ult.keys import sponsor_keys
from ult.schema import ARCHIVED_BITS_PER_CARD, ARCHIVED_HASHES, CardRecord

PAGE = 500  # cards per HSCAN page and per forget_cards call
MIN_FILTER_BITS = 8192
ROW_GROUP = 100_000
BITFIELD_OPS = 1_000  # bits set per BITFIELD command


def idle_cards(r: Client, sid: str, cutoff_ms: int) -> Iterator[list[tuple[str, str]]]:
    """Pages of ``(cid, packed record)`` of the cards idle since before ``cutoff_ms``."""
    page: list[tuple[str, str]] = []
    for cid, packed in r.hscan_iter(sponsor_keys(sid).cards, count=PAGE):
        rec = CardRecord.parse(packed)
        if max(rec.last_ms, rec.refused_ms) < cutoff_ms:
            page.append((ops.text(cid), ops.text(packed)))
            if len(page) == PAGE:
                yield page
                page = []
    if page:
        yield page


def _open(raw: str, now_ms: int) -> bool:
    """Whether a claim (JSON) still holds its card (waiting, or a voucher still valid)."""
    cl = json.loads(raw)
    return cl["status"] == "requested" or (cl["status"] == "approved" and cl["expires_at"] > now_ms)


def _with_claims(r: Client, sid: str, page: list[tuple[str, str]], now_ms: int) -> list[dict]:
    """The page's rows of the card table: each card with its last claim; cards with a claim
    still open stay in Redis."""
    k = sponsor_keys(sid)
    ids = [ops.text(i) for i in r.hmget(k.claims, [f"card:{cid}" for cid, _ in page])]
    wanted = [i for i in ids if i]
    found = r.hmget(k.claims, wanted) if wanted else []
    raws = dict(zip(wanted, (ops.text(x) for x in found), strict=True))
    rows = []
    for (cid, record), claim_id in zip(page, ids, strict=True):
        raw = raws.get(claim_id, "") if claim_id else ""
        if raw and _open(raw, now_ms):
            continue
        rows.append(
            {"cid": cid, "record": record, "claim_id": claim_id if raw else "", "claim": raw}
        )
    return rows


def filter_bits(count: int) -> int:
    """The size of the Bloom filter of ``count`` archived cards: the smallest power of two bits
    from MIN_FILTER_BITS with ARCHIVED_BITS_PER_CARD for each."""
    bits = MIN_FILTER_BITS
    while bits < count * ARCHIVED_BITS_PER_CARD:
        bits *= 2
    return bits


def _positions(cids: list[str], bits: int) -> np.ndarray:
    """The bits of ``cids`` in a filter of ``bits`` bits, as ``lib.lua`` computes them."""
    h1 = np.array([int(c[:8], 16) for c in cids], dtype=np.int64)
    h2 = np.array([int(c[8:16], 16) | 1 for c in cids], dtype=np.int64)
    pos = (h1[:, None] + np.arange(ARCHIVED_HASHES, dtype=np.int64)[None, :] * h2[:, None]) % bits
    return np.asarray(pos.ravel())


def bloom_filter(cids: list[str]) -> bytes:
    """The Bloom filter of ``cids`` as ``lib.lua``'s ``maybe_archived`` reads it."""
    bits = filter_bits(len(cids))
    flags = np.zeros(bits, dtype=np.uint8)
    flags[_positions(cids, bits)] = 1
    return np.packbits(flags, bitorder="big").tobytes()


def card_rows(lake: Path, sid: str) -> int:
    """The rows of the sponsor's card table (a card archived twice counts twice, as in
    :func:`archived_cids`), from the files' footers."""
    return sum(
        pq.read_metadata(p).num_rows for p in card_table_dir(lake, sid).glob("part-*.parquet")
    )


def add_to_filter(r: Client, lake: Path, sid: str, cids: list[str]) -> None:
    """Put ``cids``, just written to the card table, into the sponsor's Bloom filter in Redis.
    While the filter there has the size of the table's rows, their bits are set in it (the
    same bits as a rebuild: the filter already holds every cid archived before, set by the
    run that archived it); else (no filter yet, or the table outgrew it) it is rebuilt from
    every card file. (A row written by a run killed before this step is in the table, not
    the filter: its card is still in Redis, and its next move sets its bits.)"""
    k = sponsor_keys(sid)
    bits = filter_bits(card_rows(lake, sid))
    if int(r.strlen(k.archived)) * 8 != bits:
        r.set(k.archived, bloom_filter(archived_cids(lake, sid)))
        return
    sets = [x for p in np.unique(_positions(cids, bits)).tolist() for x in ("SET", "u1", p, 1)]
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(sets), BITFIELD_OPS * 4):
        pipe.execute_command("BITFIELD", k.archived, *sets[i : i + BITFIELD_OPS * 4])
    pipe.execute()


def archived_cids(lake: Path, sid: str) -> list[str]:
    """Every cid of the sponsor's card table."""
    paths = sorted(card_table_dir(lake, sid).glob("part-*.parquet"))
    return [
        str(c) for p in paths for c in pq.read_table(p, columns=["cid"]).column("cid").to_pylist()
    ]


def write_cards(lake: Path, sid: str, rows: list[dict], now_ms: int) -> int:
    """Write rows of the card table durably, sorted by cid (row groups skip by statistics)."""
    rows = sorted(rows, key=lambda row: row["cid"])
    columns = {name: [row.get(name) for row in rows] for name in ARCHIVED_COLUMNS[:4]}
    table = pa.table(columns | {"archived_ms": pa.array([now_ms] * len(rows), pa.int64())})
    path = card_table_dir(lake, sid) / f"part-{now_ms}-{secrets.token_hex(4)}.parquet"

    def write(f: BinaryIO) -> None:
        pq.write_table(table, f, compression="zstd", row_group_size=ROW_GROUP)

    return write_durable(path, write)


def archive_cards(r: Client, lake: Path, sid: str, cutoff_ms: int, now_ms: int) -> int:
    """Move the sponsor's cards idle since before ``cutoff_ms`` to the lake; returns how many
    left Redis."""
    rows = [
        row for page in idle_cards(r, sid, cutoff_ms) for row in _with_claims(r, sid, page, now_ms)
    ]
    if not rows:
        return 0
    write_cards(lake, sid, rows, now_ms)
    fsync_dir(card_table_dir(lake, sid).parent)
    k = sponsor_keys(sid)
    add_to_filter(r, lake, sid, [row["cid"] for row in rows])  # before any card goes
    keys = [k.cards, k.claims, k.top, k.claimed, k.requested]
    gone = 0
    for i in range(0, len(rows), PAGE):
        args = [now_ms, *(x for row in rows[i : i + PAGE] for x in (row["cid"], row["record"]))]
        gone += ops.run(r, ops.script("forget_cards", keys, args, int))
    return gone
