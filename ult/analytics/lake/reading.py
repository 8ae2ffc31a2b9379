"""Reading a sponsor's archived entries back, between XRANGE bounds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ult.analytics.lake.ids import EntryId, lower_bound, upper_bound
from ult.analytics.lake.layout import parts


def read_sponsor(lake: Path, sid: str, start: str = "-", end: str = "+") -> Iterator[pa.Table]:
    """The sponsor's archived entries from ``start`` to ``end`` (XRANGE bounds), one table
    per part, oldest first."""
    lo, hi = lower_bound(start), upper_bound(end)
    for part in parts(lake, sid):
        if part.last < lo or part.first > hi:
            continue
        table = pq.read_table(part.path)
        if lo > part.first or hi < part.last:
            table = table.filter(_in_range(table, lo, hi))
            table = drop_empty_columns(table)
        if len(table):
            yield table


def drop_empty_columns(table: pa.Table) -> pa.Table:
    """Without the columns no entry has a value in: a field of none of the entries is no
    column, as when the entries are read from Redis."""
    return table.drop_columns(
        [c for c in table.column_names if table.column(c).null_count == len(table)]
    )


def _in_range(table: pa.Table, lo: EntryId, hi: EntryId) -> pa.Array:
    ms = pc.cast(table.column("time"), pa.int64())
    # pyarrow-stubs leave out the ChunkedArray overload of split_pattern (compute takes one)
    seq = pc.cast(pc.list_element(pc.split_pattern(table.column("entry_id"), "-"), 1), pa.uint64())  # type: ignore[call-overload]
    lo_ms, lo_seq = pa.scalar(lo[0], pa.int64()), pa.scalar(lo[1], pa.uint64())
    hi_ms, hi_seq = pa.scalar(hi[0], pa.int64()), pa.scalar(hi[1], pa.uint64())
    after = pc.or_(
        pc.greater(ms, lo_ms), pc.and_(pc.equal(ms, lo_ms), pc.greater_equal(seq, lo_seq))
    )
    before = pc.or_(pc.less(ms, hi_ms), pc.and_(pc.equal(ms, hi_ms), pc.less_equal(seq, hi_seq)))
    return pc.and_(after, before)
