"""SQL over the whole history with DuckDB: the Parquet lake (plus the Redis tail) as a view.

DuckDB reads the lake's files in a streaming way, column by column, and spills to disk past
its memory limit, so a query can run over more history than a pandas frame could hold::

    con = ua.duckdb(ua.connect())          # view `events`: lake + Redis tail, no duplicates
    con.sql("SELECT type, count(*) FROM events GROUP BY ALL").df()
    ua.show(ua.cohort_retention_sql(con))  # the cohort matrix computed in DuckDB, guarded

The view has the columns of :func:`ult.analytics.load_events` (short card ids only). Tables
shown to people still go through the k-anonymity guard (:mod:`ult.analytics.privacy`).
"""

from __future__ import annotations

import resource
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb as _duckdb
import pandas as pd
import pyarrow as pa

from ult.analytics.figures.cohorts import guard_cohorts
from ult.analytics.lake.layout import lake_sids, part_files, parts, tail_start
from ult.analytics.loading import Lake, empty_events, lake_path
from ult.analytics.privacy import mark_public
from ult.analytics.streams import entries_to_arrow, iter_entries
from ult.analytics.streams import sponsor_ids as _sponsor_ids
from ult.connection import Client
from ult.keys import sponsor_keys

DAY_MS = 86_400_000

# Counted scans (less voided ones) as (sid, cid, period number); periods are UTC days, or
# Monday weeks ((day + 3) // 7: 1970-01-01 was a Thursday). Integer maths, no time zones.
_VISITS = """
WITH voided AS (SELECT DISTINCT sid, ref FROM events WHERE type = 'void' AND ref IS NOT NULL),
visits AS (
    SELECT DISTINCT e.sid, e.cid, {period} AS period
    FROM events e ANTI JOIN voided v ON e.sid = v.sid AND e.entry_id = v.ref
    WHERE e.type = 'scan'
),
cohorts AS (SELECT sid, cid, min(period) AS cohort FROM visits GROUP BY ALL)
SELECT c.cohort, v.period - c.cohort AS offset, count(*) AS cards,
       (SELECT max(period) FROM visits) AS last_period
FROM visits v JOIN cohorts c USING (sid, cid)
GROUP BY ALL ORDER BY ALL
"""
_READ = pa.schema([("type", pa.string()), ("cid", pa.string()), ("ref", pa.string())])
_PERIODS = {
    "D": ("epoch_ms(e.time) // 86400000", 1, 0),
    "W": ("(epoch_ms(e.time) // 86400000 + 3) // 7", 7, -3),
}


def duckdb(
    r: Client | None = None,
    lake: Lake = True,
    sids: Iterable[str] | None = None,
    memory_limit: str | None = "1GB",
    temp_directory: str | Path | None = None,
) -> _duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view ``events`` over the lake's Parquet files
    (``lake``: default ULT_LAKE_DIR) and, given ``r``, the entries of the Redis tail not yet
    archived (read into memory: the tail is what Redis holds past the last archive).

    ``sids`` defaults to the registry's sponsors (with ``r``) or the lake's. DuckDB spills to
    ``temp_directory`` past ``memory_limit``. Views ``lake`` and ``tail`` hold the two parts.
    """
    lake_dir = lake_path(lake)
    if sids is None:
        sids = _sponsor_ids(r) if r is not None else lake_sids(lake_dir) if lake_dir else []
    sids = list(sids)
    con = _duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{_literal(memory_limit)}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{_literal(str(temp_directory))}'")
    files = part_files(lake_dir, sids) if lake_dir else []
    empty = pa.Table.from_pandas(empty_events(), preserve_index=False)
    con.register("_empty", empty)
    if files:  # the exact file list (not a glob): parts merged into another stay out
        paths = [str(f) for f in files]
        con.read_parquet(paths, union_by_name=True, hive_partitioning=False).create_view("lake")
    else:
        con.execute("CREATE VIEW lake AS SELECT * FROM _empty")
    tail = _tail(r, lake_dir, sids) if r is not None else None
    con.register("tail", tail if tail is not None else empty)
    # _read first: the columns the queries here read, even where no entry has them (a year
    # without a voided scan has no `ref` in any file)
    con.register("_read", _READ.empty_table())
    con.execute(
        "CREATE VIEW events AS SELECT * FROM _read UNION ALL BY NAME SELECT * FROM lake "
        "UNION ALL BY NAME SELECT * FROM tail"
    )
    return con


def _literal(text: str) -> str:
    return text.replace("'", "''")


def _tail(r: Client, lake_dir: Path | None, sids: list[str]) -> pa.Table | None:
    tables = []
    for sid in sids:
        start = tail_start(lake_dir, sid) if lake_dir else "-"
        for page in iter_entries(r, sponsor_keys(sid).events, start=start):
            tables.append(entries_to_arrow(page, sid))
    return pa.concat_tables(tables, promote_options="default") if tables else None


def cohort_counts_sql(con: _duckdb.DuckDBPyConnection, freq: str = "W") -> pd.DataFrame:
    """:func:`ult.analytics.cohort_counts` computed by DuckDB over the ``events`` view (only
    the small result comes back to pandas). ``freq``: ``"D"`` or ``"W"``."""
    if freq not in _PERIODS:
        raise ValueError("freq must be 'D' or 'W'")
    expr, days, shift = _PERIODS[freq]
    rows = con.execute(_VISITS.format(period=expr)).df()
    if rows.empty:
        return pd.DataFrame()
    counts = rows.pivot(index="cohort", columns="offset", values="cards").fillna(0)
    counts = counts.reindex(columns=range(int(counts.columns.max()) + 1), fill_value=0)
    horizon = int(rows["last_period"].iloc[0]) - counts.index.to_numpy()
    observable = counts.columns.to_numpy()[None, :] <= horizon[:, None]
    counts = counts.astype("int64").astype("Int64").where(observable)
    start_ms = (counts.index.to_numpy().astype("int64") * days + shift) * DAY_MS
    counts.index = pd.DatetimeIndex(pd.to_datetime(start_ms, unit="ms", utc=True), name="cohort")
    counts.index = counts.index.as_unit("us")  # as pandas gives it
    counts.columns = pd.Index(range(counts.shape[1]), name="periods since first visit")
    return counts


def cohort_retention_sql(
    con: _duckdb.DuckDBPyConnection, freq: str = "W", k: int | None = None, counts: bool = False
) -> pd.DataFrame:
    """:func:`ult.analytics.cohort_retention` over the whole ``events`` view, computed in
    DuckDB: the same guarded table, without loading the events into pandas."""
    return guard_cohorts(cohort_counts_sql(con, freq), k, counts)


def lake_summary(lake: Lake = True) -> pd.DataFrame:
    """Per sponsor: files, entries, bytes on disk and the archived time span (public: no
    customer data)."""
    lake_dir = lake_path(lake)
    rows: list[dict[str, Any]] = []
    for sid in lake_sids(lake_dir) if lake_dir else []:
        assert lake_dir is not None  # no lake: nothing to loop over
        found = parts(lake_dir, sid)
        rows.append(
            {
                "sid": sid,
                "files": len(found),
                "entries": sum(p.rows for p in found),
                "megabytes": round(sum(p.path.stat().st_size for p in found) / 1e6, 3),
                "first": pd.Timestamp(found[0].first[0], unit="ms", tz="UTC") if found else None,
                "last": pd.Timestamp(found[-1].last[0], unit="ms", tz="UTC") if found else None,
            }
        )
    columns = ["sid", "files", "entries", "megabytes", "first", "last"]
    return mark_public(pd.DataFrame(rows, columns=columns))


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
