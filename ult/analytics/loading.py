"""Streaming reads of the Redis Streams into pandas DataFrames.

Streams are read in pages (:mod:`ult.analytics.streams`), joined as Arrow and converted to
pandas at the end. The loader is generic over event types: every field of every entry becomes
a column (absent fields are missing), so new event types (``claim``, ``void`` …) simply
appear.

History archived by ``ult archive`` is read from the Parquet lake (:mod:`ult.analytics.lake`) and only
the entries after each sponsor's last archived one from Redis, so a loader gives the same
table before and after Redis is trimmed (``lake=False``: Redis only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ult import keys
from ult.analytics.lake.layout import parts, tail_start
from ult.analytics.lake.reading import read_sponsor
from ult.analytics.streams import (
    BATCH,
    INT_COLUMNS,
    _text,
    entries_to_arrow,
    iter_entries,
    sponsor_ids,
)
from ult.connection import Client
from ult.connection import connect as _connect
from ult.rules import Rule
from ult.schema import entry_ms

CATEGORY_COLUMNS = ("sid", "type", "tag", "reason", "status", "country")
FIRST_COLUMNS: tuple[str, ...]
FIRST_COLUMNS = ("time", "entry_id", "sid", "type", "cid", "visit", "points", "tag", "reason")
FIRST_COLUMNS += ("status", "claim_id")
PROFILE_COLUMNS = ("formatted_address", "verified", "utc_offset_min")
RULE_COLUMNS: tuple[str, ...]
RULE_COLUMNS = ("points_per_scan", "points_needed", "reward", "approval", "cooldown_min")
RULE_COLUMNS += ("daily_cap", "expiry_days", "require_code")
SPONSOR_DTYPES = {
    "registered": "datetime64[ms, UTC]",
    "sid": "str",
    "biz": "str",
    "country": "category",
    "place_id": "str",
    "formatted_address": "str",
    "verified": "bool",
    "utc_offset_min": "int32",
    "points_per_scan": "int32",
    "points_needed": "int32",
    "reward": "str",
    "approval": "str",
    "cooldown_min": "int32",
    "daily_cap": "int32",
    "expiry_days": "int32",
    "require_code": "bool",
}

Entry = tuple[str, dict[str, str]]
Lake = str | Path | bool  # True: the configured lake (ULT_LAKE_DIR); False: Redis only


def connect(url: str | None = None) -> Client:
    """A client for notebooks: ``url``, else ``REDIS_URL``, else the embedded server of
    ``make run`` (``ult.settings.load_settings().effective_redis_url``)."""
    return _connect(url=url)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table of entries as a DataFrame: leading columns first, Int32 numbers, sorted
    categories for the few-valued columns. Consumes ``table`` (its buffers are released as
    they are converted, to keep the peak low)."""
    for col in (*INT_COLUMNS, "type", "cid", "tag", "reason"):
        if col not in table.column_names:
            kind = pa.int32() if col in INT_COLUMNS else pa.string()
            table = table.append_column(col, pa.nulls(len(table), type=kind))
    for col in CATEGORY_COLUMNS:
        if col in table.column_names:
            i = table.column_names.index(col)
            table = table.set_column(i, col, pc.dictionary_encode(table.column(i)))
    first = [c for c in FIRST_COLUMNS if c in table.column_names]
    # the other columns by name, so the order does not depend on where the pages came from
    table = table.select(first + sorted(c for c in table.column_names if c not in first))
    dtypes: dict[pa.DataType, pd.api.extensions.ExtensionDtype] = {pa.int32(): pd.Int32Dtype()}
    df = table.to_pandas(types_mapper=dtypes.get, self_destruct=True, split_blocks=True)
    del table
    for col in CATEGORY_COLUMNS:
        if col in df.columns:
            df[col] = sorted_categories(df[col])
    return df


def sorted_categories(col: pd.Series) -> pd.Series:
    """A categorical column with its categories as ``str`` in sorted order (the same for a
    frame loaded from Redis and one read back from a file)."""
    categories = pd.Index(col.cat.categories.astype("str"))
    return col.cat.rename_categories(categories).cat.reorder_categories(categories.sort_values())


def empty_events() -> pd.DataFrame:
    """The DataFrame of a stream with no entries (same leading columns and dtypes)."""
    table = pa.table(
        {
            "time": pa.array([], type=pa.timestamp("ms", tz="UTC")),
            "entry_id": pa.array([], type=pa.string()),
            "sid": pa.array([], type=pa.string()),
        }
    )
    return to_frame(table)


def lake_path(lake: Lake = True) -> Path | None:
    """The lake directory to read (None: none, or it does not exist yet)."""
    if lake is False:
        return None
    if lake is True:
        from ult.settings import load_settings

        lake = load_settings().lake_path
    path = Path(lake)
    return path if path.is_dir() else None


def _read_arrow(
    r: Client,
    sid: str,
    batch: int,
    bar: tqdm | None,
    start: str,
    end: str,
    lake: Path | None = None,
) -> list[pa.Table]:
    tables = []
    if lake is not None:
        for table in read_sponsor(lake, sid, start, end):
            tables.append(table)
            if bar is not None:
                bar.update(len(table))
        start = tail_start(lake, sid, start)
    for page in iter_entries(r, keys.sponsor_keys(sid).events, batch, start, end):
        tables.append(entries_to_arrow(page, sid))
        if bar is not None:
            bar.update(len(page))
    return tables


def load_arrow(
    r: Client,
    sids: Iterable[str],
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
    lake: Lake = True,
) -> pa.Table | None:
    """The events of ``sids`` as one Arrow table (None when there are none): the lake's, then
    the Redis tail's."""
    sids = list(sids)
    lake_dir = lake_path(lake)
    bar = None
    if progress:
        total = sum(_pipeline(r, [("XLEN", keys.sponsor_keys(s).events) for s in sids]))
        if lake_dir is not None:  # an upper bound: Redis may still hold archived entries
            total += sum(p.rows for s in sids for p in parts(lake_dir, s))
        bar = tqdm(total=total, desc="Loading events", unit=" entries", leave=False)
    try:
        tables = [t for sid in sids for t in _read_arrow(r, sid, batch, bar, start, end, lake_dir)]
    finally:
        if bar is not None:
            bar.close()
    return pa.concat_tables(tables, promote_options="default") if tables else None


def load_stream(
    r: Client,
    sid: str,
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
    lake: Lake = True,
) -> pd.DataFrame:
    """One sponsor's event stream as a DataFrame, one row per entry, oldest first.

    Columns: ``time`` (UTC, from the entry id), ``entry_id``, ``sid``, ``type``, ``cid``
    (short), ``visit``, ``points``, ``tag``, ``reason``, then any other field of any entry
    (by name). ``start``/``end`` are entry ids (or ms timestamps) bounding the read. Archived
    history comes from ``lake`` (default: ULT_LAKE_DIR), the rest from Redis.
    """
    return load_events(r, [sid], batch=batch, progress=progress, start=start, end=end, lake=lake)


def load_events(
    r: Client,
    sids: Iterable[str] | None = None,
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
    lake: Lake = True,
) -> pd.DataFrame:
    """The event streams of ``sids`` (default: every sponsor in the registry), one frame:
    archived history from ``lake`` (default: ULT_LAKE_DIR), the rest from Redis."""
    if sids is None:
        sids = sponsor_ids(r)
    table = load_arrow(r, sids, batch=batch, progress=progress, start=start, end=end, lake=lake)
    return empty_events() if table is None else to_frame(table)


def iter_frames(
    r: Client,
    sid: str,
    batch: int = BATCH,
    start: str = "-",
    end: str = "+",
    lake: Lake = True,
) -> Iterator[pd.DataFrame]:
    """One sponsor's stream as DataFrames of at most ``batch`` rows (one per archived day
    from the lake, then pages of the Redis tail), for streaming aggregates over streams too
    big to hold (dtypes and categories may differ between pages)."""
    lake_dir = lake_path(lake)
    if lake_dir is not None:
        for table in read_sponsor(lake_dir, sid, start, end):
            yield to_frame(table)
        start = tail_start(lake_dir, sid, start)
    for page in iter_entries(r, keys.sponsor_keys(sid).events, batch, start, end):
        yield to_frame(entries_to_arrow(page, sid))


def load_sponsors(r: Client) -> pd.DataFrame:
    """Every registered sponsor: registry fields, public profile fields and current rule
    (columns and dtypes of :data:`SPONSOR_DTYPES`).

    Holds no customer data (marked public for :func:`ult.analytics.privacy.check`); never
    the owner key hash or the counter-code secret.
    """
    from ult.analytics.privacy import mark_public

    rows = [
        {"registered": int(f.pop("registered_ms", None) or entry_ms(eid)), **f}
        for page in iter_entries(r, keys.REGISTRY)
        for eid, f in page
    ]
    df = pd.DataFrame(rows, columns=["registered", "sid", "biz", "country", "place_id"])
    df = df.drop_duplicates("sid").reset_index(drop=True)
    df["registered"] = pd.to_datetime(df["registered"], unit="ms", utc=True)
    cmds: list[tuple[str, ...]] = [
        ("HMGET", keys.sponsor_keys(s).profile, *PROFILE_COLUMNS) for s in df["sid"]
    ]
    cmds += [("HGETALL", keys.sponsor_keys(s).rule) for s in df["sid"]]
    replies = _pipeline(r, cmds)
    n = len(df)
    prof = pd.DataFrame([list(x) for x in replies[:n]], columns=list(PROFILE_COLUMNS))
    prof["verified"] = prof["verified"] == "1"
    prof["utc_offset_min"] = pd.to_numeric(prof["utc_offset_min"]).fillna(0)
    rule = pd.DataFrame([_rule_row(h) for h in replies[n:]], columns=list(RULE_COLUMNS))
    out = pd.concat([df, prof, rule], axis=1)
    return mark_public(out.astype(SPONSOR_DTYPES))


def _rule_row(stored: Any) -> dict[str, Any]:
    h = stored if isinstance(stored, dict) else {}
    return Rule.from_hash({_text(a): _text(b) for a, b in h.items()}).to_dict()


def _pipeline(r: Client, commands: Sequence[Sequence[Any]]) -> list[Any]:
    pipe = r.pipeline(transaction=False)
    for cmd in commands:
        pipe.execute_command(*cmd)
    return pipe.execute() if commands else []
