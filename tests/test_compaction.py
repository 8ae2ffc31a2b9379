"""Compaction of the lake: the day parts merged into few large files, the same rows before and
after, exactly once across a crash between the new file and the removal of the old ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import redis
from support.service import service_env

import ult.analytics as ua
from ult import demo, run
from ult.analytics import lake
from ult.analytics.lake.archiving import repaired
from ult.analytics.lake.cards import write_cards
from ult.analytics.lake.compaction import compact, groups, merge_parts
from ult.analytics.lake.layout import all_parts, lake_sids, parts
from ult.cards import card_table_dir, find_archived
from ult.scans import scan

END_MS = 1_790_000_000_000
KEY = "k" * 40


def snapshot(r: redis.Redis, lake_dir: Path) -> dict[str, object]:
    """The rows as the loaders and DuckDB read them."""
    con = ua.duckdb(r, lake=lake_dir)
    return {
        "events": ua.load_events(r, progress=False, lake=lake_dir),
        "count": con.execute("SELECT count(*) FROM events").fetchone(),
        "cohorts": ua.cohort_counts_sql(con),
    }


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    pd.testing.assert_frame_equal(before["events"], after["events"])
    assert before["count"] == after["count"]
    pd.testing.assert_frame_equal(before["cohorts"], after["cohorts"])


def files(lake_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (lake_dir / "events").rglob("*.parquet")}


def archived_demo(r: redis.Redis, lake_dir: Path, days: int = 60) -> list[str]:
    config = demo.DemoConfig(sponsors=2, days=days, seed=5, end_ms=END_MS)
    sids = [s["sid"] for s in demo.load(r, config, progress=False).sponsors]
    lake.archive(r, lake_dir)
    return sids


def test_compact_keeps_every_row_in_far_fewer_files(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    lake_dir = tmp_path / "lake"  # ULT_VAR_DIR/lake, as the CLI sees it
    sids = archived_demo(r, lake_dir)
    before, day_files = snapshot(r, lake_dir), len(files(lake_dir))

    cmd = [sys.executable, "-m", "ult", "archive", "--compact", "--quiet"]
    done = subprocess.run(
        cmd, env=service_env(redis_url, tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"{day_files:,} → {len(sids)} event files" in done.stdout
    assert_same(before, snapshot(r, lake_dir))
    assert day_files > 50 and len(files(lake_dir)) == len(sids), "one file per sponsor"
    assert not list((lake_dir / "events").rglob("day=*")), "no empty day directories"

    at_rest = files(lake_dir)
    compact(lake_dir)
    assert files(lake_dir) == at_rest, "a second compaction changes nothing"

    res = run(r, scan(sids[0], KEY, nonce="after-compact", now_ms=END_MS + 60_000))
    assert res.visits == 1
    assert lake.archive(r, lake_dir).entries == 1
    events = ua.load_events(r, progress=False, lake=lake_dir)
    assert len(events) == len(before["events"]) + 1 and events["entry_id"].is_unique
    compact(lake_dir)
    assert len(files(lake_dir)) == len(sids)
    pd.testing.assert_frame_equal(ua.load_events(r, progress=False, lake=lake_dir), events)


def test_crash_before_the_old_parts_go_reads_once(r: redis.Redis, tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    archived_demo(r, lake_dir, days=30)
    before = snapshot(r, lake_dir)
    target = 500  # several compacted files per sponsor
    with pytest.raises(SystemExit), repaired(lake_dir):  # a compaction run, killed
        for sid in lake_sids(lake_dir):
            for group in groups(parts(lake_dir, sid), target):
                if len(group) > 1:
                    merge_parts(lake_dir, sid, group)  # renamed into place
        raise SystemExit("killed before the old parts go")
    assert len(all_parts(lake_dir, lake_sids(lake_dir)[0])) > len(
        parts(lake_dir, lake_sids(lake_dir)[0])
    )
    assert_same(before, snapshot(r, lake_dir))

    report = compact(lake_dir, target=target)
    assert report.repaired > 0
    for sid in lake_sids(lake_dir):
        assert all_parts(lake_dir, sid) == parts(lake_dir, sid), "superseded parts removed"
        assert all(p.rows >= target for p in parts(lake_dir, sid)[:-1])
    assert_same(before, snapshot(r, lake_dir))
    at_rest = files(lake_dir)
    compact(lake_dir, target=target)
    assert files(lake_dir) == at_rest


def test_card_table_keeps_the_newest_row_per_card(tmp_path: Path) -> None:
    def row(cid: str, record: str) -> dict:
        return {"cid": cid, "record": record, "claim_id": "", "claim": ""}

    a, b = "a" * 32, "b" * 32
    write_cards(tmp_path, "s1", [row(a, "old"), row(b, "b")], now_ms=1)
    write_cards(tmp_path, "s1", [row(a, "new")], now_ms=2)
    compact(tmp_path, sids=["s1"])
    assert len(list(card_table_dir(tmp_path, "s1").glob("*.parquet"))) == 1
    found = find_archived(tmp_path, "s1", a)
    assert found is not None and (found.record, found.archived_ms) == ("new", 2)
    assert find_archived(tmp_path, "s1", b) is not None
