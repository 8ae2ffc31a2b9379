"""Reading the Redis Streams page by page: ``XRANGE … COUNT batch`` pages, each turned at once
into a compact Arrow table (strings, int32, millisecond timestamps), so the Python objects of
only one page are alive at a time.

Stream fields get readable column names (:data:`ult.schema.COLUMNS`); card ids are cut to the
short cid (:func:`ult.identity.short_cid`) as they are read, so no table holds a full cid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ult import keys, ops
from ult.connection import Client
from ult.identity import short_cid
from ult.schema import COLUMNS, Entry

BATCH = 10_000
INT_COLUMNS = ("visit", "points")


def iter_entries(
    r: Client, key: str, batch: int = BATCH, start: str = "-", end: str = "+"
) -> Iterator[list[Entry]]:
    """Pages of at most ``batch`` entries of stream ``key``, oldest first."""
    lower = start
    while True:
        page = ops.entries(r.xrange(key, min=lower, max=end, count=batch))
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


def sponsor_ids(r: Client) -> list[str]:
    """The sids of the registry stream, in registration order (each once)."""
    seen: dict[str, None] = {}
    for page in iter_entries(r, keys.REGISTRY):
        seen.update((f["sid"], None) for _, f in page if "sid" in f)
    return list(seen)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(f: dict[Any, Any]) -> dict[str, str]:
    if f and isinstance(next(iter(f)), bytes):
        return {_text(a): _text(b) for a, b in f.items()}
    return f
