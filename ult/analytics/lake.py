"""The Parquet lake: the streams' history as files, so Redis only keeps a recent tail.

Layout (see docs/data.md)::

    <lake>/events/sid=<sid>/day=<YYYY-MM-DD>/part-<first id>_<last id>.parquet
    <lake>/_bookmarks/<sid>.json    the last entry id archived for the sponsor
    <lake>/.lock                    held while an archive runs

A part holds the entries of one sponsor and one UTC day, with the columns of the analytics
loaders (:func:`ult.analytics.streams.entries_to_arrow`: short card ids only). Each archive
run merges what it adds to a day with the day's earlier part into one new part, so a day has
one file at rest. A file is written under a temporary name, fsynced, renamed into place and
its directory fsynced; only then does the bookmark move. After a crash:

- a leftover temporary file is deleted (its entries are still after the bookmark);
- a part whose id range lies inside another's was merged into it: readers skip it and the
  next run deletes it;
- a part newer than the bookmark (killed before the bookmark was written) moves the
  bookmark up to it, so nothing is archived twice.

Trimming (``XTRIM MINID``) never goes past the bookmark: only archived entries leave Redis.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import redis

from ult import keys
from ult.analytics.streams import entries_to_arrow, iter_entries, sponsor_ids
from ult.errors import UltError
from ult.validation import check_field

DAY_MS = 86_400_000
PAGE = 2_000  # entries per XRANGE: short enough not to hold Redis up between scans
NICE = 10  # archiving is background work: scans come first for the CPU
MAX_SEQ = 2**64 - 1
PART = re.compile(r"^part-(\d+)-(\d+)_(\d+)-(\d+)\.parquet$")
TMP_SUFFIX = ".tmp"

EntryId = tuple[int, int]


@dataclass(frozen=True)
class Part:
    """One Parquet file of the lake: the entries ``first``…``last`` of a sponsor's day."""

    path: Path
    first: EntryId
    last: EntryId

    @property
    def rows(self) -> int:
        return pq.read_metadata(self.path).num_rows


@dataclass
class ArchiveReport:
    """What one ``ult archive`` run did."""

    lake: str
    sponsors: int = 0
    entries: int = 0
    files: int = 0
    bytes: int = 0
    trimmed: int = 0
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
            line += f"; trimmed {self.trimmed:,} archived entries older than {self.trim_days} days"
        if self.repaired:
            line += f"; repaired {self.repaired} leftovers of an interrupted run"
        if self.skipped:
            line += f"; skipped {len(self.skipped)} malformed sponsor ids"
        return line + "."


# ---- entry ids --------------------------------------------------------------------------------


def parse_id(entry_id: str) -> EntryId:
    """``"1790000000000-3"`` → ``(1790000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def format_id(eid: EntryId) -> str:
    return f"{eid[0]}-{eid[1]}"


def lower_bound(start: str) -> EntryId:
    """The smallest id an XRANGE ``start`` (``-``, ``ms``, ``ms-seq``, ``(ms-seq``) admits."""
    if start == "-":
        return (0, 0)
    if start.startswith("("):
        ms, seq = parse_id(start[1:])
        return (ms, seq + 1) if "-" in start else (ms + 1, 0)
    return parse_id(start)


def upper_bound(end: str) -> EntryId:
    """The largest id an XRANGE ``end`` (``+``, ``ms``, ``ms-seq``, ``(ms-seq``) admits."""
    if end == "+":
        return (2**63 - 1, MAX_SEQ)
    if end.startswith("("):
        ms, seq = parse_id(end[1:])
        if "-" not in end or seq == 0:
            return (ms - 1, MAX_SEQ)
        return (ms, seq - 1)
    return parse_id(end) if "-" in end else (int(end), MAX_SEQ)


# ---- layout -----------------------------------------------------------------------------------


def sponsor_dir(lake: Path, sid: str) -> Path:
    return Path(lake) / "events" / f"sid={sid}"


def _bookmark_path(lake: Path, sid: str) -> Path:
    return Path(lake) / "_bookmarks" / f"{sid}.json"


def _day_name(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _all_parts(lake: Path, sid: str) -> list[Part]:
    found = []
    for path in sponsor_dir(lake, sid).glob("day=*/part-*.parquet"):
        m = PART.match(path.name)
        if m:
            a, b, c, d = map(int, m.groups())
            found.append(Part(path, (a, b), (c, d)))
    return sorted(found, key=lambda p: (p.first, p.last))


def _superseded(parts: list[Part]) -> set[Path]:
    """Parts whose range lies inside another part's: merged into it by a later run."""
    return {
        p.path
        for p in parts
        for q in parts
        if q is not p and q.first <= p.first and p.last <= q.last
    }


def parts(lake: Path, sid: str) -> list[Part]:
    """The live parts of a sponsor, oldest first (superseded ones left out)."""
    found = _all_parts(lake, sid)
    gone = _superseded(found)
    return [p for p in found if p.path not in gone]


def lake_sids(lake: Path) -> list[str]:
    """The sponsors that have parts in the lake."""
    root = Path(lake) / "events"
    if not root.is_dir():
        return []
    return sorted(p.name[4:] for p in root.glob("sid=*") if p.is_dir())


def part_files(lake: Path, sids: Iterable[str] | None = None) -> list[Path]:
    """Every live part file of ``sids`` (default: every sponsor in the lake)."""
    sids = lake_sids(lake) if sids is None else sids
    return [p.path for sid in sids for p in parts(lake, sid)]


def last_archived(lake: Path, sid: str) -> str | None:
    """The id of the sponsor's newest archived entry (None: nothing archived)."""
    best = _read_bookmark(lake, sid)
    found = _all_parts(lake, sid)
    if found:
        newest = max(p.last for p in found)
        best = newest if best is None else max(best, newest)
    return None if best is None else format_id(best)


def _read_bookmark(lake: Path, sid: str) -> EntryId | None:
    path = _bookmark_path(lake, sid)
    try:
        return parse_id(json.loads(path.read_text())["last_id"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise UltError(
            "lake_corrupt",
            f"The bookmark {path} is unreadable ({e}); delete it: the next run rebuilds it "
            "from the part files.",
        ) from e


# ---- reading ----------------------------------------------------------------------------------


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
    seq = pc.cast(pc.list_element(pc.split_pattern(table.column("entry_id"), "-"), 1), pa.uint64())
    lo_ms, lo_seq = pa.scalar(lo[0], pa.int64()), pa.scalar(lo[1], pa.uint64())
    hi_ms, hi_seq = pa.scalar(hi[0], pa.int64()), pa.scalar(hi[1], pa.uint64())
    after = pc.or_(
        pc.greater(ms, lo_ms), pc.and_(pc.equal(ms, lo_ms), pc.greater_equal(seq, lo_seq))
    )
    before = pc.or_(pc.less(ms, hi_ms), pc.and_(pc.equal(ms, hi_ms), pc.less_equal(seq, hi_seq)))
    return pc.and_(after, before)


def tail_start(lake: Path, sid: str, start: str = "-") -> str:
    """Where to start reading the sponsor's Redis stream so that nothing in the lake is read
    twice: after the last archived entry, or ``start`` if that is later."""
    last = last_archived(lake, sid)
    if last is None or lower_bound(start) > parse_id(last):
        return start
    return "(" + last


# ---- writing ----------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path, unsynced: set[Path] | None = None) -> None:
    """Create ``path`` and its missing parents, each new entry fsynced into its parent (or
    the parent added to ``unsynced``, for the caller to fsync once)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir()
        if unsynced is None:
            _fsync_dir(d.parent)
        else:
            unsynced.add(d.parent)


def write_durable(
    path: Path, write: Callable[[BinaryIO], object], unsynced: set[Path] | None = None
) -> int:
    """Write a file through ``write(fileobj)`` under a temporary name, fsync it, rename it to
    ``path`` and fsync the directory (or add it to ``unsynced``, for the caller to fsync
    once for many files). Returns its size. On any failure no file is left."""
    _make_dirs(path.parent, unsynced)
    tmp = path.with_name("." + path.name + TMP_SUFFIX)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, path)
        if unsynced is None:
            _fsync_dir(path.parent)
        else:
            unsynced.add(path.parent)
        return size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_part(
    lake: Path, sid: str, table: pa.Table, unsynced: set[Path] | None = None
) -> tuple[Path, int]:
    ids = table.column("entry_id")
    first, last = ids[0].as_py(), ids[-1].as_py()
    day = _day_name(parse_id(first)[0])
    name = f"part-{first}_{last}.parquet"
    path = sponsor_dir(lake, sid) / f"day={day}" / name
    size = write_durable(path, lambda f: pq.write_table(table, f, compression="zstd"), unsynced)
    return path, size


def _write_bookmark(lake: Path, sid: str, last_id: str) -> None:
    data = json.dumps({"sid": sid, "last_id": last_id}).encode()
    write_durable(_bookmark_path(lake, sid), lambda f: f.write(data))


def repair(lake: Path) -> int:
    """Remove what a killed run left behind: temporary files and parts merged into another;
    move each bookmark up to its newest part. Returns how many things were repaired."""
    fixed = 0
    for tmp in Path(lake).rglob(f".*{TMP_SUFFIX}"):
        tmp.unlink()
        fixed += 1
    for sid in lake_sids(lake):
        found = _all_parts(lake, sid)
        for path in _superseded(found):
            path.unlink()
            fixed += 1
        if found:
            newest = format_id(max(p.last for p in found))
            mark = _read_bookmark(lake, sid)
            if mark is None or mark < parse_id(newest):
                _write_bookmark(lake, sid, newest)
                fixed += 1
    return fixed


@contextmanager
def _locked(lake: Path) -> Iterator[None]:
    with open(Path(lake) / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UltError("archive_running", f"Another archive of {lake} is running.") from None
        yield


def _lake_error(lake: Path, e: OSError) -> UltError:
    if e.errno == errno.ENOSPC or "No space left" in str(e):
        return UltError("lake_full", f"The disk of the lake {lake} is full; nothing was trimmed.")
    reason = e.strerror or str(e)
    return UltError("lake_unwritable", f"Cannot write the lake {lake}: {reason}.")


def archive(
    r: redis.Redis,
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
        _make_dirs(lake)
        with _locked(lake):
            report.repaired = repair(lake)
            disable = None if progress is None else not progress  # None: only on a terminal
            with tqdm(sids, desc="Archiving", unit=" businesses", disable=disable) as bar:
                for sid in bar:
                    try:
                        check_field("sid", sid)
                    except UltError:
                        report.skipped.append(sid)
                        continue
                    _archive_sponsor(r, lake, sid, report)
                    report.sponsors += 1
                    bar.set_postfix(entries=report.entries, refresh=False)
            if trim_days is not None:
                now_ms = int(time.time() * 1000) if now_ms is None else now_ms
                cutoff = now_ms - trim_days * DAY_MS
                kept = [sid for sid in sids if sid not in report.skipped]
                report.trimmed = sum(trim(r, lake, sid, cutoff) for sid in kept)
    except OSError as e:
        raise _lake_error(lake, e) from e
    report.seconds = time.perf_counter() - t0
    return report


def _archive_sponsor(r: redis.Redis, lake: Path, sid: str, report: ArchiveReport) -> None:
    """Archive one sponsor's entries after its bookmark, up to the entry newest at the start
    (scans arriving meanwhile wait for the next run), one part per UTC day; then move the
    sponsor's bookmark."""

    key = keys.sponsor_keys(sid).events
    top = r.xrevrange(key, "+", "-", count=1)
    if not top:
        return
    end = top[0][0] if isinstance(top[0][0], str) else top[0][0].decode()
    last = last_archived(lake, sid)
    if last is not None and parse_id(last) >= parse_id(end):
        return
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
    if day:
        _flush_day(lake, sid, day, report, unsynced)
        for d in sorted(unsynced, key=lambda p: -len(p.parts)):
            _fsync_dir(d)
        # once per sponsor: parts newer than the bookmark would move it up after a crash anyway
        _write_bookmark(lake, sid, table.column("entry_id")[-1].as_py())


def _flush_day(
    lake: Path, sid: str, tables: list[pa.Table], report: ArchiveReport, unsynced: set[Path]
) -> None:
    """Write one day's new entries, merged with the day's earlier part if it has one."""
    new = pa.concat_tables(tables, promote_options="default")
    first_ms = parse_id(new.column("entry_id")[0].as_py())[0]
    day_dir = sponsor_dir(lake, sid) / f"day={_day_name(first_ms)}"
    earlier = [p for p in parts(lake, sid) if p.path.parent == day_dir]
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


def trim(r: redis.Redis, lake: Path, sid: str, cutoff_ms: int) -> int:
    """Trim from the sponsor's stream the entries older than ``cutoff_ms`` that are in the
    lake (never one after the bookmark). Returns how many entries went."""
    last = last_archived(lake, sid)
    if last is None:
        return 0
    ms, seq = parse_id(last)
    minid = min((ms, seq + 1), (cutoff_ms, 0))
    return int(r.xtrim(keys.sponsor_keys(sid).events, minid=format_id(minid), approximate=False))


# ---- ult archive ------------------------------------------------------------------------------


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ult archive`` to the CLI."""
    p = subparsers.add_parser(
        "archive",
        help="append the streams to the Parquet lake (ULT_LAKE_DIR); optionally trim Redis",
    )
    p.add_argument(
        "--trim-days",
        type=int,
        metavar="N",
        help="then trim from Redis the archived entries older than N days",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_archive)


def cmd_archive(args: argparse.Namespace) -> int:
    """``ult archive``: a progress bar on a terminal, a one-line summary always."""
    from ult.connection import connect
    from ult.settings import load_settings

    settings = load_settings()
    os.nice(NICE)
    progress = False if args.quiet else None
    report = archive(
        connect(settings), settings.lake_path, trim_days=args.trim_days, progress=progress
    )
    print(report.summary())
    return 0
