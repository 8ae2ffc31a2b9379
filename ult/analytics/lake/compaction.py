"""Compaction: a sponsor's many small day parts merged into few large files, exactly once
and crash-safe, so that DuckDB reads 100k-row row groups instead of a file per day.

Consecutive live parts of a sponsor are packed, oldest first, into groups of at least
``TARGET_ROWS`` rows (the newest group may be smaller; it grows at the next compaction). A
group of two or more parts becomes one file ``<lake>/events/sid=<sid>/part-<first>_<last>
.parquet`` (fsynced, renamed into place, directory fsynced); only then do its parts go. A
crash in between leaves parts whose id range lies inside the new file's: readers skip them as
superseded and the next run (archive or compaction) deletes them. The card table is compacted
the same way, to one file per sponsor with the newest row of each card.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ult.analytics.lake.archiving import repaired
from ult.analytics.lake.cards import ROW_GROUP
from ult.analytics.lake.durable import fsync_dir, make_dirs, write_durable
from ult.analytics.lake.layout import Part, lake_sids, parts, sponsor_dir
from ult.analytics.lake.locking import locked
from ult.cards import card_table_dir

TARGET_ROWS = 1_000_000  # rows per compacted file: ten 100k-row row groups
# A sponsor's parts are worth a scheduled compaction once it has this many day parts: about a
# month of them, so a compaction rewrites a sponsor's history once a month, not daily.
DUE_FILES = 30
# Its card table, once it has this many files: the lookup of each returning card reads them
# all, as does a rebuild of the Bloom filter (an archive run moving cards reads their footers).
DUE_CARD_FILES = 7


@dataclass
class CompactReport:
    """What one compaction did."""

    lake: str
    files_before: int = 0
    files_after: int = 0
    card_files_before: int = 0
    card_files_after: int = 0
    repaired: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """The one line ``ult archive --compact`` prints."""
        return (
            f"Compacted {self.lake}: {self.files_before:,} → {self.files_after:,} event files, "
            f"{self.card_files_before:,} → {self.card_files_after:,} card files "
            f"in {self.seconds:.1f} s."
        )


def groups(live: list[Part], target: int = TARGET_ROWS) -> list[list[Part]]:
    """Consecutive parts packed oldest first until a group holds ``target`` rows; a part of
    ``target`` rows or more stays alone, so compacting again changes nothing."""
    found: list[list[Part]] = []
    current: list[Part] = []
    rows = 0
    for part in live:
        current.append(part)
        rows += part.rows
        if rows >= target:
            found.append(current)
            current, rows = [], 0
    if current:
        found.append(current)
    return found


def _write(path: Path, table: pa.Table) -> None:
    def write(f: BinaryIO) -> None:
        pq.write_table(table, f, compression="zstd", row_group_size=ROW_GROUP)

    write_durable(path, write)


def merge_parts(lake: Path, sid: str, group: list[Part]) -> Path:
    """Write the entries of ``group`` as one durable file that supersedes them (its id range
    covers theirs); the parts stay until :func:`remove_parts`."""
    table = pa.concat_tables([pq.read_table(p.path) for p in group], promote_options="default")
    first, last = (table.column("entry_id")[i].as_py() for i in (0, -1))
    path = sponsor_dir(lake, sid) / f"part-{first}_{last}.parquet"
    _write(path, table)
    return path


def remove_parts(lake: Path, sid: str, group: list[Part]) -> None:
    """Delete parts merged into a durable file, and the day directories they leave empty."""
    for part in group:
        part.path.unlink()
        day = part.path.parent
        if day != sponsor_dir(lake, sid) and not any(day.iterdir()):
            day.rmdir()
    fsync_dir(sponsor_dir(lake, sid))


def compact_sponsor(lake: Path, sid: str, target: int = TARGET_ROWS) -> None:
    """Merge the sponsor's small parts into files of ``target`` rows or more."""
    for group in groups(parts(lake, sid), target):
        if len(group) > 1:
            merge_parts(lake, sid, group)
            remove_parts(lake, sid, group)


def compact_cards(lake: Path, sid: str) -> None:
    """Merge the sponsor's card table into one file holding the newest row of each card (a
    lookup takes the newest row; after a crash the old files repeat rows of the new one)."""
    old = sorted(card_table_dir(lake, sid).glob("part-*.parquet"))
    if len(old) < 2:
        return
    table = pa.concat_tables([pq.read_table(p) for p in old], promote_options="default")
    table = table.sort_by([("cid", "ascending"), ("archived_ms", "descending")])
    cids = table.column("cid").combine_chunks()
    # keep a row when its cid differs from the row before: the newest row of each card
    changed = pc.not_equal(cids.slice(1), cids.slice(0, len(cids) - 1))
    table = table.filter(pa.concat_arrays([pa.array([True]), changed]))
    newest = pc.max(table.column("archived_ms")).as_py()
    _write(card_table_dir(lake, sid) / f"part-{newest}-{secrets.token_hex(4)}.parquet", table)
    for path in old:
        path.unlink()
    fsync_dir(card_table_dir(lake, sid))


@dataclass(frozen=True)
class Due:
    """What a scheduled compaction merges: the parts of ``sids``, the card tables of
    ``card_sids``."""

    sids: list[str]
    card_sids: list[str]

    def __bool__(self) -> bool:
        return bool(self.sids or self.card_sids)


def due(lake: Path) -> Due:
    """The sponsors with DUE_FILES day parts or more, and those with DUE_CARD_FILES card
    files or more (the others' few files cost a reader little)."""
    lake = Path(lake)
    sids = lake_sids(lake)
    return Due(
        [s for s in sids if _count(sponsor_dir(lake, s).glob("day=*/part-*.parquet")) >= DUE_FILES],
        [
            s
            for s in sids
            if _count(card_table_dir(lake, s).glob("part-*.parquet")) >= DUE_CARD_FILES
        ],
    )


def _count(paths: Iterable[Path]) -> int:
    return sum(1 for _ in paths)


def _card_files(lake: Path) -> int:
    return sum(1 for _ in (Path(lake) / "cards").glob("sid=*/part-*.parquet"))


def compact(
    lake: Path,
    sids: Iterable[str] | None = None,
    target: int = TARGET_ROWS,
    card_sids: Iterable[str] | None = None,
) -> CompactReport:
    """Compact the event parts of ``sids`` (default: every sponsor in the lake) and the card
    tables of ``card_sids`` (default: the same) under the lake's lock, after repairing what a
    killed run left behind (:func:`ult.analytics.lake.archiving.repaired`)."""
    t0 = time.perf_counter()
    lake = Path(lake)
    report = CompactReport(lake=str(lake))
    make_dirs(lake)
    with locked(lake), repaired(lake) as fixed:
        report.repaired = fixed
        sids = lake_sids(lake) if sids is None else list(sids)
        report.files_before = sum(len(parts(lake, sid)) for sid in sids)
        report.card_files_before = _card_files(lake)
        for sid in sids:
            compact_sponsor(lake, sid, target)
        for sid in sids if card_sids is None else card_sids:
            compact_cards(lake, sid)
        report.files_after = sum(len(parts(lake, sid)) for sid in sids)
        report.card_files_after = _card_files(lake)
    report.seconds = time.perf_counter() - t0
    return report
