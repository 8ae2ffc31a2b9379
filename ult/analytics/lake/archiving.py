"""An archive run: every stream entry not yet in the lake appended to it exactly once, one
part per sponsor and UTC day, then the bookmarks moved; optionally the archived entries
trimmed from Redis. A run first repairs what a killed one left behind."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ult import keys, ops
from ult.analytics.lake.cards import archive_cards
from ult.analytics.lake.durable import TMP_SUFFIX, fsync_dir, make_dirs, write_durable
from ult.analytics.lake.ids import format_id, parse_id
from ult.analytics.lake.layout import (
    all_parts,
    day_name,
    day_parts,
    lake_sids,
    last_archived,
    read_bookmark,
    sponsor_dir,
    superseded,
    write_bookmark,
)
from ult.analytics.lake.locking import locked
from ult.analytics.lake.reading import drop_empty_columns
from ult.analytics.lake.trimming import trim, trim_claims
from ult.analytics.streams import entries_to_arrow, iter_entries, sponsor_ids
from ult.connection import Client
from ult.errors import UltError
from ult.validation import check_field

DAY_MS = 86_400_000
PAGE = 2_000  # entries per XRANGE: short enough not to hold Redis up between scans
NICE = 10  # archiving is background work: scans come first for the CPU
CLEAN = "_clean"  # in the lake's root while no run is under way and the last one ended


@dataclass
class ArchiveReport:
    """What one ``ult archive`` run did."""

    lake: str
    sponsors: int = 0
    entries: int = 0
    files: int = 0
    bytes: int = 0
    trimmed: int = 0
    cards: int = 0  # idle cards moved from Redis to the lake's card table
    claims: int = 0  # decided claims trimmed from Redis
    trim_days: int | None = None
    repaired: int = 0  # leftovers of a killed run removed, bookmarks moved up
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """The one line ``ult archive`` prints."""
        rate = self.entries / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"Archived {self.entries:,} entries of {self.sponsors} "
            f"business{'' if self.sponsors == 1 else 'es'} into {self.lake} "
            f"({self.files} files, {self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s "
            f"({rate:,.0f} entries/s)"
        )
        if self.trim_days is not None:
            line += (
                f"; trimmed {self.trimmed:,} archived entries older than {self.trim_days} days"
                f", moved {self.cards:,} idle cards to the lake, trimmed {self.claims:,} claims"
            )
        if self.repaired:
            line += f"; repaired {self.repaired} leftovers of an interrupted run"
        if self.skipped:
            line += f"; skipped {len(self.skipped)} malformed sponsor ids"
        return line + "."


def _write_part(
    lake: Path, sid: str, table: pa.Table, unsynced: set[Path] | None = None
) -> tuple[Path, int]:
    ids = table.column("entry_id")
    first, last = ids[0].as_py(), ids[-1].as_py()
    day = day_name(parse_id(first)[0])
    name = f"part-{first}_{last}.parquet"
    path = sponsor_dir(lake, sid) / f"day={day}" / name
    size = write_durable(path, lambda f: pq.write_table(table, f, compression="zstd"), unsynced)
    return path, size


def repair(lake: Path) -> int:
    """Remove what a killed run left behind: temporary files and parts merged into another;
    move each bookmark up to its newest part. Returns how many things were repaired."""
    fixed = 0
    for tmp in Path(lake).rglob(f".*{TMP_SUFFIX}"):
        tmp.unlink()
        fixed += 1
    for sid in lake_sids(lake):
        found = all_parts(lake, sid)
        for path in superseded(found):
            path.unlink()
            fixed += 1
        if found:
            newest = format_id(max(p.last for p in found))
            mark = read_bookmark(lake, sid)
            if mark is None or mark < parse_id(newest):
                write_bookmark(lake, sid, newest)
                fixed += 1
    return fixed


@contextmanager
def repaired(lake: Path) -> Iterator[int]:
    """A run over the lake (held under its lock), yielding how many leftovers of a killed run
    were repaired first. The stamp CLEAN says the last run ended: then there is nothing to
    repair and the lake is not walked. It is removed, durably, before the run changes
    anything and written back only when the run ends without an error; so a run killed or
    failed at any point leaves no stamp, and the next one repairs the whole lake (as does
    the first run on a lake written before the stamp existed)."""
    stamp = Path(lake) / CLEAN
    if stamp.exists():
        stamp.unlink()
        fsync_dir(Path(lake))
        fixed = 0
    else:
        fixed = repair(lake)
    yield fixed
    write_durable(stamp, lambda f: f.write(b""))


def _lake_error(lake: Path, e: OSError) -> UltError:
    if e.errno == errno.ENOSPC or "No space left" in str(e):
        return UltError("lake_full", f"The disk of the lake {lake} is full; nothing was trimmed.")
    reason = e.strerror or str(e)
    return UltError("lake_unwritable", f"Cannot write the lake {lake}: {reason}.")


def archive(
    r: Client,
    lake: Path,
    sids: Iterable[str] | None = None,
    trim_days: int | None = None,
    progress: bool | None = False,
    now_ms: int | None = None,
) -> ArchiveReport:
    """Append every stream entry not yet archived to the lake, exactly once; with
    ``trim_days``, then trim from Redis the archived entries older than that many days.

    ``sids`` defaults to every sponsor of the registry. ``progress=None`` shows a bar only on
    a terminal. A failure to write (UltError ``lake_unwritable``, ``lake_full``) leaves Redis
    untouched and the lake as it was before the file being written.
    """
    from tqdm.auto import tqdm

    if trim_days is not None and trim_days < 1:
        raise UltError("bad_request", "--trim-days must be at least 1 (today's views read Redis).")
    t0 = time.perf_counter()
    lake = Path(lake)
    report = ArchiveReport(lake=str(lake), trim_days=trim_days)
    sids = sponsor_ids(r) if sids is None else list(sids)
    try:
        make_dirs(lake)
        with locked(lake), repaired(lake) as fixed:
            report.repaired = fixed
            marks: dict[str, str | None] = {}
            disable = None if progress is None else not progress  # None: only on a terminal
            with tqdm(sids, desc="Archiving", unit=" businesses", disable=disable) as bar:
                for sid in bar:
                    try:
                        check_field("sid", sid)
                    except UltError:
                        report.skipped.append(sid)
                        continue
                    marks[sid] = _archive_sponsor(r, lake, sid, report)
                    report.sponsors += 1
                    bar.set_postfix(entries=report.entries, refresh=False)
            if trim_days is not None:
                now_ms = int(time.time() * 1000) if now_ms is None else now_ms
                cutoff = now_ms - trim_days * DAY_MS
                report.trimmed = trim(r, marks, cutoff)
                for sid in marks:
                    report.cards += archive_cards(r, lake, sid, cutoff, now_ms)
                    report.claims += trim_claims(r, sid, cutoff, now_ms)
    except OSError as e:
        raise _lake_error(lake, e) from e
    report.seconds = time.perf_counter() - t0
    return report


def _archive_sponsor(r: Client, lake: Path, sid: str, report: ArchiveReport) -> str | None:
    """Archive one sponsor's entries after its bookmark, up to the entry newest at the start
    (scans arriving meanwhile wait for the next run), one part per UTC day; then move the
    sponsor's bookmark. Returns the id of its last archived entry (None: none yet)."""

    key = keys.sponsor_keys(sid).events
    last = last_archived(lake, sid)
    top = ops.entries(r.xrevrange(key, "+", "-", count=1))
    if not top:
        return last
    end = top[0][0] if isinstance(top[0][0], str) else top[0][0].decode()
    if last is not None and parse_id(last) >= parse_id(end):
        return last
    start = "-" if last is None else "(" + last
    unsynced: set[Path] = set()  # directories to fsync once, before the bookmark moves
    day: list[pa.Table] = []
    day_no = None
    for page in iter_entries(r, key, PAGE, start=start, end=end):
        table = entries_to_arrow(page, sid)
        days = pc.divide(pc.cast(table.column("time"), pa.int64()), DAY_MS).to_numpy()
        for d in sorted(set(days.tolist())):
            if day_no is not None and d != day_no:
                _flush_day(lake, sid, day, report, unsynced)
                day = []
            day_no = d
            day.append(drop_empty_columns(table.filter(pa.array(days == d))))
    if not day:
        return last
    _flush_day(lake, sid, day, report, unsynced)
    for d in sorted(unsynced, key=lambda p: -len(p.parts)):
        fsync_dir(d)
    # once per sponsor: parts newer than the bookmark would move it up after a crash anyway
    newest = table.column("entry_id")[-1].as_py()
    write_bookmark(lake, sid, newest)
    return str(newest)


def _flush_day(
    lake: Path, sid: str, tables: list[pa.Table], report: ArchiveReport, unsynced: set[Path]
) -> None:
    """Write one day's new entries, merged with the day's earlier part if it has one."""
    new = pa.concat_tables(tables, promote_options="default")
    first_ms = parse_id(new.column("entry_id")[0].as_py())[0]
    day_dir = sponsor_dir(lake, sid) / f"day={day_name(first_ms)}"
    earlier = day_parts(lake, sid, day_name(first_ms))  # after the repair, all live
    merged = pa.concat_tables(
        [*(pq.read_table(p.path) for p in earlier), new], promote_options="default"
    )
    # a merge must be durable before the parts it replaces go
    _, size = _write_part(lake, sid, merged, unsynced if not earlier else None)
    for p in earlier:
        p.path.unlink()
        unsynced.add(day_dir)
    report.entries += len(new)
    report.files += 1
    report.bytes += size
