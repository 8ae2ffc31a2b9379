"""An archive run's fixed cost stays small and exactly once holds: a lake left clean is not
walked for leftovers, a run killed on a clean lake is repaired by the next, and the Bloom filter
grown from each run's new cards is the one a rebuild from every card file gives."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import redis

import ult.analytics as ua
from ult import run
from ult.analytics import lake
from ult.analytics.lake import archiving
from ult.analytics.lake.archiving import CLEAN, DAY_MS
from ult.analytics.lake.cards import archived_cids, bloom_filter
from ult.keys import sponsor_keys
from ult.scans import scan

NOW_MS = int(time.time() * 1000)


def scans(r: redis.Redis, sid: str, day: int, count: int, prefix: str = "k") -> None:
    """``count`` cards scanning once on ``day`` days from now."""
    for i in range(count):
        key = f"{prefix}{day:02d}{i:03d}".ljust(40, "x")
        run(r, scan(sid, key, nonce=f"n{prefix}{day}-{i}", now_ms=NOW_MS + day * DAY_MS + i))


def test_a_clean_lake_is_not_walked(
    r: redis.Redis, make_sponsor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = make_sponsor()["sid"]
    scans(r, sid, 1, 20)
    lake_dir = tmp_path / "lake"
    assert lake.archive(r, lake_dir).entries > 0
    assert (lake_dir / CLEAN).exists(), "a run that ended marks the lake clean"

    def walk(_lake: Path) -> int:
        raise AssertionError("a clean lake was walked for leftovers")

    monkeypatch.setattr(archiving, "repair", walk)
    scans(r, sid, 2, 20)
    assert lake.archive(r, lake_dir).entries == 20


def test_a_failed_run_leaves_the_lake_to_repair(
    r: redis.Redis, make_sponsor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = make_sponsor()["sid"]
    scans(r, sid, 1, 20)
    lake_dir = tmp_path / "lake"
    lake.archive(r, lake_dir)

    def fail(*_a: object) -> None:
        raise OSError("the disk went away")

    monkeypatch.setattr(archiving, "write_bookmark", fail)
    scans(r, sid, 2, 20)
    with pytest.raises(Exception, match="disk went away"):
        lake.archive(r, lake_dir)
    assert not (lake_dir / CLEAN).exists()
    monkeypatch.undo()
    again = lake.archive(r, lake_dir)
    assert (again.entries, again.repaired) == (0, 1), "the bookmark moved up to the new part"


@pytest.mark.parametrize("moment", ["before_rename", "before_bookmark"])
def test_a_run_killed_on_a_clean_lake_is_repaired(
    r: redis.Redis, redis_url: str, make_sponsor, tmp_path: Path, moment: str
) -> None:
    sid = make_sponsor()["sid"]
    scans(r, sid, 1, 20)
    lake_dir = tmp_path / "lake"
    lake.archive(r, lake_dir)
    scans(r, sid, 2, 20)
    scans(r, sid, 3, 20)
    expected = ua.load_events(r, progress=False, lake=False)
    killer = {
        "before_rename": "os.replace = lambda *a: os._exit(9)",
        "before_bookmark": "lake.archiving.write_bookmark = lambda *a: os._exit(9)",
    }[moment]
    code = textwrap.dedent(f"""
        import os, redis
        from ult.analytics import lake
        {killer}
        lake.archive(redis.Redis.from_url({redis_url!r}, decode_responses=True), {str(lake_dir)!r})
    """)
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 9
    assert not (lake_dir / CLEAN).exists(), "the killed run had taken the stamp away"

    report = lake.archive(r, lake_dir, trim_days=1, now_ms=NOW_MS + 5 * DAY_MS)
    assert report.repaired >= 1
    assert not list(lake_dir.rglob(".*.tmp"))
    pd.testing.assert_frame_equal(ua.load_events(r, progress=False, lake=lake_dir), expected)
    assert report.trimmed > 0 and lake.archive(r, lake_dir).entries == 0


def test_the_grown_filter_is_the_rebuilt_one(r: redis.Redis, make_sponsor, tmp_path: Path) -> None:
    sid = make_sponsor()["sid"]
    lake_dir = tmp_path / "lake"
    k = sponsor_keys(sid)
    for week in range(6):  # a new batch of cards each week, idle by the run: the filter
        # grows past MIN_FILTER_BITS (rebuilt at its new size) and takes bits in between
        scans(r, sid, 7 * week, 300, prefix=f"w{week}")
        report = lake.archive(r, lake_dir, trim_days=3, now_ms=NOW_MS + (7 * week + 4) * DAY_MS)
        assert report.cards == 300
        filt = r.execute_command("GET", k.archived, NEVER_DECODE=True)
        assert filt == bloom_filter(archived_cids(lake_dir, sid))
    assert len(archived_cids(lake_dir, sid)) == 1_800


def test_a_bookmark_put_back_older_archives_nothing_twice(
    r: redis.Redis, make_sponsor, tmp_path: Path
) -> None:
    sid = make_sponsor()["sid"]
    lake_dir = tmp_path / "lake"
    scans(r, sid, 1, 20)
    lake.archive(r, lake_dir)
    mark = lake_dir / "_bookmarks" / f"{sid}.json"
    old = mark.read_text()
    scans(r, sid, 2, 20)
    lake.archive(r, lake_dir)
    mark.write_text(old)  # as `ult restore --force` of an older backup does, on a clean lake
    scans(r, sid, 3, 20)
    assert lake.archive(r, lake_dir).entries == 20, "the parts, not the bookmark, say how far"
    events = ua.load_events(r, progress=False, lake=lake_dir)
    assert events["entry_id"].is_unique and len(events) == r.xlen(sponsor_keys(sid).events)
