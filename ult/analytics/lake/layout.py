"""Where things are in the lake: the part files of each sponsor and day, which of them are
live, and each sponsor's bookmark (see :mod:`ult.analytics.lake`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from ult.analytics.lake.durable import write_durable
from ult.analytics.lake.ids import EntryId, format_id, lower_bound, parse_id
from ult.errors import UltError

PART = re.compile(r"^part-(\d+)-(\d+)_(\d+)-(\d+)\.parquet$")


@dataclass(frozen=True)
class Part:
    """One Parquet file of the lake: the entries ``first``…``last`` of a sponsor (a day's, or
    many days' once compacted)."""

    path: Path
    first: EntryId
    last: EntryId

    @property
    def rows(self) -> int:
        return pq.read_metadata(self.path).num_rows


def sponsor_dir(lake: Path, sid: str) -> Path:
    """The directory of the sponsor's parts."""
    return Path(lake) / "events" / f"sid={sid}"


def bookmark_path(lake: Path, sid: str) -> Path:
    """The file holding the id of the sponsor's last archived entry."""
    return Path(lake) / "_bookmarks" / f"{sid}.json"


def day_name(ms: int) -> str:
    """The UTC day of ``ms`` as ``YYYY-MM-DD`` (a part's directory)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def all_parts(lake: Path, sid: str) -> list[Part]:
    """Every part file of the sponsor, superseded ones included, oldest first: the day parts
    (``day=*/``) and the compacted ones, directly in the sponsor's directory."""
    root = sponsor_dir(lake, sid)
    return _parts_of([*root.glob("day=*/part-*.parquet"), *root.glob("part-*.parquet")])


def day_parts(lake: Path, sid: str, day: str) -> list[Part]:
    """The part files in the sponsor's directory of ``day`` (``YYYY-MM-DD``), oldest first:
    one directory listed, not the sponsor's every day."""
    return _parts_of(list((sponsor_dir(lake, sid) / f"day={day}").glob("part-*.parquet")))


def _parts_of(paths: list[Path]) -> list[Part]:
    found = []
    for path in paths:
        m = PART.match(path.name)
        if m:
            a, b, c, d = map(int, m.groups())
            found.append(Part(path, (a, b), (c, d)))
    return sorted(found, key=lambda p: (p.first, p.last))


def superseded(parts: list[Part]) -> set[Path]:
    """Parts whose range lies inside another part's: merged into it by a later run."""
    return {
        p.path
        for p in parts
        for q in parts
        if q is not p and q.first <= p.first and p.last <= q.last
    }


def parts(lake: Path, sid: str) -> list[Part]:
    """The live parts of a sponsor, oldest first (superseded ones left out)."""
    found = all_parts(lake, sid)
    gone = superseded(found)
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
    best = read_bookmark(lake, sid)
    newest = newest_part(lake, sid)
    if newest is not None:
        best = newest if best is None else max(best, newest)
    return None if best is None else format_id(best)


def newest_part(lake: Path, sid: str) -> EntryId | None:
    """The id of the newest entry in the sponsor's part files (None: no parts). A day part
    holds only its day's entries, so only the newest day's directory and the compacted parts
    beside it are listed, not every day's."""
    root = sponsor_dir(lake, sid)
    if not root.is_dir():
        return None
    days = sorted(p.name for p in root.glob("day=*"))
    found = _parts_of([*root.glob("part-*.parquet")])
    if days:
        newest_day = _parts_of(list((root / days[-1]).glob("part-*.parquet")))
        if not newest_day:  # an emptied directory (a killed compaction): list them all
            return max((p.last for p in all_parts(lake, sid)), default=None)
        found += newest_day
    return max((p.last for p in found), default=None)


def read_bookmark(lake: Path, sid: str) -> EntryId | None:
    """The id in the sponsor's bookmark (None: none yet); UltError ``lake_corrupt``."""
    path = bookmark_path(lake, sid)
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


def write_bookmark(lake: Path, sid: str, last_id: str) -> None:
    """Move the sponsor's bookmark to ``last_id``, durably."""
    data = json.dumps({"sid": sid, "last_id": last_id}).encode()
    write_durable(bookmark_path(lake, sid), lambda f: f.write(data))


def tail_start(lake: Path, sid: str, start: str = "-") -> str:
    """Where to start reading the sponsor's Redis stream so that nothing in the lake is read
    twice: after the last archived entry, or ``start`` if that is later."""
    last = last_archived(lake, sid)
    if last is None or lower_bound(start) > parse_id(last):
        return start
    return "(" + last
