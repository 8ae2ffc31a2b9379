"""The Parquet lake: `ult archive` on 90 days of demo history, trim to 30, every figure the
same; exactly once across repeated and killed runs; faults give clear errors and leave Redis
as it was."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import redis
from support.service import service_env
from support.wait import wait_until

import ult.analytics as ua
from ult import demo, run
from ult.analytics import lake
from ult.analytics.lake.archiving import DAY_MS
from ult.analytics.lake.ids import parse_id
from ult.analytics.lake.layout import day_name, lake_sids, last_archived, parts, sponsor_dir
from ult.cards import loyalists
from ult.dashboard.live import read_day
from ult.errors import UltError
from ult.keys import REGISTRY, sponsor_keys
from ult.scans import scan

END_MS = 1_790_000_000_000
KEY = "k" * 40
NOW_MS = int(time.time() * 1000)


def stream_lengths(r: redis.Redis, sids: list[str]) -> dict[str, int]:
    return {sid: r.xlen(sponsor_keys(sid).events) for sid in sids}


def stream_memory(r: redis.Redis, sids: list[str]) -> int:
    return sum(r.memory_usage(sponsor_keys(sid).events, samples=0) for sid in sids)


def figures(r: redis.Redis, lake_dir: Path, sids: list[str]) -> dict[str, object]:
    """What the notebooks and the dashboard show, read the way they read it."""
    events = ua.load_events(r, progress=False, lake=lake_dir)
    day_start = END_MS // DAY_MS * DAY_MS
    return {
        "events": events,
        "funnel": ua.reward_funnel(events),
        "cohorts": ua.cohort_retention(events),
        "loyalists": [run(r, loyalists(sid, limit=10**6)) for sid in sids],
        "today": [vars(read_day(r, sponsor_keys(sid).events, day_start, "+")) for sid in sids],
        "frames": [len(f) for sid in sids for f in ua.iter_frames(r, sid, lake=lake_dir)],
        "state": [  # cards (visits, points, cooldowns, caps) and claims live in hashes
            (r.hgetall(sponsor_keys(sid).cards), r.hgetall(sponsor_keys(sid).claims))
            for sid in sids
        ],
    }


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    """Every figure the same; the cards and claims left in Redis (a trim moves idle cards and
    old decided claims to the lake) unchanged, the loyalists those of the cards left (then
    cards that ranked below the list before)."""
    for name in ("events", "funnel", "cohorts"):
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    for rows, kept in zip(before["loyalists"], after["loyalists"], strict=True):
        left = {row["cid"] for row in kept}
        still = [row for row in rows if row["cid"] in left]
        assert still and kept[: len(still)] == still
    assert before["today"] == after["today"]
    for (cards, claims), (cards_after, claims_after) in zip(
        before["state"], after["state"], strict=True
    ):
        assert cards_after.items() <= cards.items() and claims_after.items() <= claims.items()
    assert sum(before["frames"]) == sum(after["frames"]) == len(before["events"])


def ult_archive(redis_url: str, var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = service_env(redis_url, var_dir)
    cmd = [sys.executable, "-m", "ult", "archive", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_archive_trim_keeps_every_figure(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    report = demo.load(
        r, demo.DemoConfig(sponsors=2, days=90, seed=5, end_ms=END_MS), progress=False
    )
    sids = [s["sid"] for s in report.sponsors]
    lake_dir = tmp_path / "lake"
    lengths = stream_lengths(r, sids)
    before = figures(r, lake_dir, sids)
    memory = stream_memory(r, sids)

    done = ult_archive(redis_url, tmp_path)  # the CLI, lake under ULT_VAR_DIR
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.count("\n") == 0 and f"Archived {sum(lengths.values()):,} entries" in line
    assert stream_lengths(r, sids) == lengths, "archiving alone removes nothing"
    assert sum(p.rows for sid in sids for p in parts(lake_dir, sid)) == sum(lengths.values())

    trimmed = lake.archive(r, lake_dir, trim_days=30, now_ms=END_MS)
    assert trimmed.entries == 0, "a second archive adds nothing"
    cutoff = END_MS - 30 * DAY_MS
    for sid in sids:
        oldest = r.xrange(sponsor_keys(sid).events, count=1)[0][0]
        assert cutoff <= parse_id(oldest)[0]
        assert parse_id(last_archived(lake_dir, sid)) >= parse_id(oldest)
    assert trimmed.trimmed == sum(lengths.values()) - sum(stream_lengths(r, sids).values()) > 0
    assert stream_memory(r, sids) < memory * 0.6
    after = figures(r, lake_dir, sids)
    assert_same(before, after)

    con = ua.duckdb(r, lake=lake_dir)
    pd.testing.assert_frame_equal(ua.cohort_counts_sql(con), ua.cohort_counts(after["events"]))
    by_type = con.sql("SELECT type, count(*) AS n FROM events GROUP BY type").df()
    counts = after["events"]["type"].astype(str).value_counts()
    assert dict(zip(by_type["type"], by_type["n"], strict=True)) == counts.to_dict()
    assert con.execute("SELECT count(*) FROM tail").fetchone()[0] == 0, "the tail is all archived"

    res = run(r, scan(sids[0], KEY, nonce="after-trim", now_ms=END_MS + 60_000))
    assert res.visits == 1
    nxt = lake.archive(r, lake_dir)
    assert (nxt.entries, nxt.files) == (1, 1)
    latest = ua.load_events(r, progress=False, lake=lake_dir)
    assert len(latest) == len(before["events"]) + 1 and latest["entry_id"].is_unique
    assert lake.archive(r, lake_dir).entries == 0
    day = sponsor_dir(lake_dir, sids[0]) / f"day={day_name(END_MS + 60_000)}"
    assert len(list(day.glob("*.parquet"))) == 1, "a day keeps one file"


def small_history(r: redis.Redis, make_sponsor, days: int = 4, per_day: int = 30) -> str:
    """A sponsor registered now with ``per_day`` scans on each of the next ``days`` days."""
    sid = make_sponsor()["sid"]
    for d in range(1, days + 1):
        for i in range(per_day):
            key = f"{d:02d}{i:02d}".ljust(40, "x")
            run(r, scan(sid, key, nonce=f"n{d}-{i}", now_ms=NOW_MS + d * DAY_MS + i))
    return sid


KILLERS = {
    "before_rename": "os.replace = lambda *a: os._exit(9)",
    "before_bookmark": "lake.archiving.write_bookmark = lambda *a: os._exit(9)",
}


@pytest.mark.parametrize("moment", KILLERS)
def test_run_killed_mid_write_is_repaired(
    r: redis.Redis, redis_url: str, make_sponsor, tmp_path: Path, moment: str
) -> None:
    sid = small_history(r, make_sponsor)
    lake_dir = tmp_path / "lake"
    expected = ua.load_events(r, progress=False, lake=False)
    code = textwrap.dedent(f"""
        import os, redis
        from ult.analytics import lake
        {KILLERS[moment]}
        lake.archive(redis.Redis.from_url({redis_url!r}, decode_responses=True), {str(lake_dir)!r})
    """)
    killed = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert killed.returncode == 9
    leftovers = list(lake_dir.rglob(".*.tmp")) + list(lake_dir.rglob("*.parquet"))
    assert leftovers, "the killed run left a file behind"
    assert r.xlen(sponsor_keys(sid).events) == len(expected), "Redis untouched"

    report = lake.archive(r, lake_dir, trim_days=1, now_ms=NOW_MS + 4 * DAY_MS)
    assert report.repaired >= 1
    assert not list(lake_dir.rglob(".*.tmp"))
    events = ua.load_events(r, progress=False, lake=lake_dir)
    pd.testing.assert_frame_equal(events, expected)
    assert report.trimmed > 0 and lake.archive(r, lake_dir).entries == 0


def test_unwritable_lake_is_a_clear_error(r: redis.Redis, make_sponsor, tmp_path: Path) -> None:
    sid = small_history(r, make_sponsor, days=2, per_day=5)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(UltError) as err:
        lake.archive(r, blocker / "lake", trim_days=1, now_ms=NOW_MS + 9 * DAY_MS)
    assert err.value.code == "lake_unwritable" and str(blocker) in err.value.message
    assert r.xlen(sponsor_keys(sid).events) == 11  # registered + 10 scans


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 32 KB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_leaves_redis_and_lake_as_they_were(
    r: redis.Redis, make_sponsor, tiny_disk: Path
) -> None:
    sid = make_sponsor()["sid"]
    events = sponsor_keys(sid).events
    for _ in range(4000):  # random-ish fields: ~200 KB of Parquet, far over 32 KB
        r.xadd(events, {"t": "scan", "c": os.urandom(16).hex(), "a": os.urandom(12).hex()})
    length = r.xlen(events)
    with pytest.raises(UltError) as err:
        lake.archive(r, tiny_disk / "lake", trim_days=1, now_ms=2**42)
    assert err.value.code == "lake_full" and "full" in err.value.message
    assert r.xlen(events) == length, "nothing trimmed"
    assert not list(tiny_disk.rglob(".*.tmp")), "no half-written file left"
    assert last_archived(tiny_disk / "lake", sid) is None


def test_bad_input_changes_nothing(r: redis.Redis, make_sponsor, tmp_path: Path) -> None:
    sid = small_history(r, make_sponsor, days=1, per_day=3)
    lake_dir = tmp_path / "lake"
    for days in (0, -5):
        with pytest.raises(UltError, match="at least 1"):
            lake.archive(r, lake_dir, trim_days=days)
    assert not lake_dir.exists()
    r.xadd(REGISTRY, {"sid": "../../escape"})  # a hostile registry entry
    report = lake.archive(r, lake_dir)
    assert report.skipped == ["../../escape"] and report.entries == 4
    assert not (tmp_path.parent / "escape").exists() and lake_sids(lake_dir) == [sid]
    lake_dir.joinpath(".lock").touch()
    with open(lake_dir / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(UltError) as err:
            lake.archive(r, lake_dir)
    assert err.value.code == "archive_running"


def test_cli_refuses_a_bad_trim(redis_url: str, tmp_path: Path) -> None:
    done = ult_archive(redis_url, tmp_path, "--trim-days", "0")
    assert done.returncode == 2 and "at least 1" in done.stderr


def test_scheduled_archive_in_ult_up(
    r: redis.Redis, redis_url: str, make_sponsor, tmp_path: Path, monkeypatch
) -> None:
    from dataclasses import replace

    from ult import launcher
    from ult.settings import load_settings

    sid = small_history(r, make_sponsor, days=2, per_day=3)
    newest = r.xrevrange(sponsor_keys(sid).events, count=1)[0][0]
    monkeypatch.setattr(launcher, "SECONDS_PER_MINUTE", 0.05)
    settings = replace(load_settings({}), var_dir=str(tmp_path), archive_every_minutes=1)
    stop = launcher.start_archiver(settings, redis_url)
    try:
        wait_until(
            lambda: last_archived(settings.lake_path, sid) == newest,
            20,
            message="the scheduled archive did not run",
        )
    finally:
        stop()
    assert r.xlen(sponsor_keys(sid).events) == 7, "ULT_TRIM_DAYS unset: nothing trimmed"


def test_bounded_reads_span_lake_and_redis(r: redis.Redis, make_sponsor, tmp_path: Path) -> None:
    sid = small_history(r, make_sponsor, days=4, per_day=5)
    ids = [eid for eid, _ in r.xrange(sponsor_keys(sid).events)]
    bounds = [("-", "+"), (ids[3], ids[12]), ("(" + ids[3], "(" + ids[12])]
    bounds += [(ids[8].split("-")[0], str(NOW_MS + 3 * DAY_MS + 2)), (ids[15], "+")]
    expected = [
        ua.load_stream(r, sid, progress=False, start=a, end=b, lake=False) for a, b in bounds
    ]
    lake_dir = tmp_path / "lake"
    assert lake.archive(r, lake_dir, trim_days=2, now_ms=NOW_MS + 4 * DAY_MS).trimmed > 0
    assert r.xlen(sponsor_keys(sid).events) < len(ids)
    for (a, b), want in zip(bounds, expected, strict=True):
        got = ua.load_stream(r, sid, progress=False, start=a, end=b, lake=lake_dir)
        pd.testing.assert_frame_equal(got, want, obj=f"{a}..{b}")


def test_corrupt_bookmark_is_a_clear_error(r: redis.Redis, make_sponsor, tmp_path: Path) -> None:
    sid = small_history(r, make_sponsor, days=2, per_day=3)
    lake_dir = tmp_path / "lake"
    lake.archive(r, lake_dir)
    mark = lake_dir / "_bookmarks" / f"{sid}.json"
    mark.write_text("{not json")
    with pytest.raises(UltError) as err:
        lake.archive(r, lake_dir, trim_days=1, now_ms=NOW_MS + 9 * DAY_MS)
    assert err.value.code == "lake_corrupt" and "delete it" in err.value.message
    assert r.xlen(sponsor_keys(sid).events) == 7
    mark.unlink()
    again = lake.archive(r, lake_dir)
    assert (again.entries, again.repaired) == (0, 1)
    assert last_archived(lake_dir, sid) == r.xrevrange(sponsor_keys(sid).events, count=1)[0][0]
