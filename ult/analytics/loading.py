"""Streaming reads of the Redis Streams into pandas DataFrames.

A stream is read with ``XRANGE … COUNT batch`` pages, each page turned at once into a
compact Arrow table (strings, int32, millisecond timestamps), so the Python objects of only
one page are alive at a time; the pages are joined and converted to pandas at the end.

The loader is generic over event types: every field of every entry becomes a column (absent
fields are missing), so new event types (``claim``, ``void`` …) simply appear. Stream field
names are given readable column names (:data:`COLUMNS`); card ids are cut to the short cid
(:func:`ult.identity.short_cid`) as they are read, so a DataFrame never holds a full cid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import redis
from tqdm.auto import tqdm

from ult import keys
from ult.connection import connect as _connect
from ult.identity import short_cid
from ult.rules import Rule
from ult.schema import entry_ms

BATCH = 10_000

# stream field → column name; other fields keep their own name
COLUMNS = {
    "t": "type",
    "c": "cid",
    "v": "visit",
    "p": "points",
    "a": "tag",
    "r": "reason",
    "s": "status",
    "id": "claim_id",
}
INT_COLUMNS = ("visit", "points")
CATEGORY_COLUMNS = ("sid", "type", "tag", "reason", "status", "country")
FIRST_COLUMNS = ("time", "entry_id", "sid", "type", "cid", "visit", "points", "tag", "reason")
FIRST_COLUMNS += ("status", "claim_id")
PROFILE_COLUMNS = ("formatted_address", "verified", "utc_offset_min")
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


def connect(url: str | None = None) -> redis.Redis:
    """A client for notebooks: ``url``, else ``REDIS_URL``, else the embedded server of
    ``make run`` (``ult.settings.load_settings().effective_redis_url``)."""
    return _connect(url=url)


def iter_entries(
    r: redis.Redis, key: str, batch: int = BATCH, start: str = "-", end: str = "+"
) -> Iterator[list[Entry]]:
    """Pages of at most ``batch`` entries of stream ``key``, oldest first."""
    lower = start
    while True:
        page = r.xrange(key, min=lower, max=end, count=batch)
        if not page:
            return
        yield [(_text(eid), _fields(f)) for eid, f in page]
        if len(page) < batch:
            return
        lower = "(" + _text(page[-1][0])


def entries_to_arrow(entries: Sequence[Entry], sid: str | None = None) -> pa.Table:
    """One page of entries as an Arrow table with the loader's columns and types."""
    ids = [eid for eid, _ in entries]
    ms = pa.array([int(eid.split("-", 1)[0]) for eid in ids], type=pa.int64())
    columns: dict[str, pa.Array] = {
        "time": ms.cast(pa.timestamp("ms", tz="UTC")),
        "entry_id": pa.array(ids, type=pa.string()),
    }
    if sid is not None:
        columns["sid"] = pa.array([sid] * len(ids), type=pa.string())
    names: dict[str, None] = {}
    for _, f in entries:
        names.update(dict.fromkeys(f))
    for field in names:
        col = COLUMNS.get(field, field)
        values = [f.get(field) for _, f in entries]
        if col == "cid":
            values = [None if v is None else short_cid(v) for v in values]
        arr = pa.array(values, type=pa.string())
        columns[col] = pc.cast(arr, pa.int32()) if col in INT_COLUMNS else arr
    return pa.table(columns)


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
    table = table.select(first + [c for c in table.column_names if c not in first])
    df = table.to_pandas(
        types_mapper={pa.int32(): pd.Int32Dtype()}.get, self_destruct=True, split_blocks=True
    )
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


def _read_arrow(
    r: redis.Redis, sid: str, batch: int, bar: tqdm | None, start: str, end: str
) -> list[pa.Table]:
    tables = []
    for page in iter_entries(r, keys.sponsor_keys(sid).events, batch, start, end):
        tables.append(entries_to_arrow(page, sid))
        if bar is not None:
            bar.update(len(page))
    return tables


def load_arrow(
    r: redis.Redis,
    sids: Iterable[str],
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
) -> pa.Table | None:
    """The events of ``sids`` as one Arrow table (None when there are none)."""
    sids = list(sids)
    bar = None
    if progress:
        total = sum(_pipeline(r, [("XLEN", keys.sponsor_keys(s).events) for s in sids]))
        bar = tqdm(total=total, desc="Loading events", unit=" entries", leave=False)
    try:
        tables = [t for sid in sids for t in _read_arrow(r, sid, batch, bar, start, end)]
    finally:
        if bar is not None:
            bar.close()
    return pa.concat_tables(tables, promote_options="default") if tables else None


def load_stream(
    r: redis.Redis,
    sid: str,
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
) -> pd.DataFrame:
    """One sponsor's event stream as a DataFrame, one row per entry, oldest first.

    Columns: ``time`` (UTC, from the entry id), ``entry_id``, ``sid``, ``type``, ``cid``
    (short), ``visit``, ``points``, ``tag``, ``reason``, then any other field of any entry.
    ``start``/``end`` are entry ids (or ms timestamps) bounding the read.
    """
    return load_events(r, [sid], batch=batch, progress=progress, start=start, end=end)


def load_events(
    r: redis.Redis,
    sids: Iterable[str] | None = None,
    batch: int = BATCH,
    progress: bool = True,
    start: str = "-",
    end: str = "+",
) -> pd.DataFrame:
    """The event streams of ``sids`` (default: every sponsor in the registry), one frame."""
    if sids is None:
        sids = sponsor_ids(r)
    table = load_arrow(r, sids, batch=batch, progress=progress, start=start, end=end)
    return empty_events() if table is None else to_frame(table)


def iter_frames(
    r: redis.Redis, sid: str, batch: int = BATCH, start: str = "-", end: str = "+"
) -> Iterator[pd.DataFrame]:
    """One sponsor's stream as DataFrames of at most ``batch`` rows, for streaming aggregates
    over streams too big to hold (dtypes and categories may differ between pages)."""
    for page in iter_entries(r, keys.sponsor_keys(sid).events, batch, start, end):
        yield to_frame(entries_to_arrow(page, sid))


def sponsor_ids(r: redis.Redis) -> list[str]:
    """The sids of the registry stream, in registration order (each once)."""
    seen: dict[str, None] = {}
    for page in iter_entries(r, keys.REGISTRY):
        seen.update((f["sid"], None) for _, f in page if "sid" in f)
    return list(seen)


def load_sponsors(r: redis.Redis) -> pd.DataFrame:
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
    cmds = [("HMGET", keys.sponsor_keys(s).profile, *PROFILE_COLUMNS) for s in df["sid"]]
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


def _pipeline(r: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    pipe = r.pipeline(transaction=False)
    for cmd in commands:
        pipe.execute_command(*cmd)
    return pipe.execute() if commands else []


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(f: dict[Any, Any]) -> dict[str, str]:
    if f and isinstance(next(iter(f)), bytes):
        return {_text(a): _text(b) for a, b in f.items()}
    return f
