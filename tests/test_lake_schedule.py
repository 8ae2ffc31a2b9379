"""The lake's schedule of `ult up` (ult.analytics.lake.schedule): each step archives; every
ULT_COMPACT_EVERY_HOURS it compacts the businesses whose day parts piled up, and only those.
Driven step by step on a moving clock, as the launcher's thread drives it on the real one."""

from __future__ import annotations

from pathlib import Path

import redis

from ult import run
from ult.analytics.lake.cards import write_cards
from ult.analytics.lake.compaction import DUE_CARD_FILES, DUE_FILES, compact, due
from ult.analytics.lake.layout import parts, sponsor_dir
from ult.analytics.lake.schedule import HOUR_MS, Schedule
from ult.cards import card_table_dir
from ult.clock import DAY_MS, now_ms
from ult.scans import scan

# a midnight after the sponsors registered (a stream entry is never older than the one before)
START_MS = (now_ms() // DAY_MS + 1) * DAY_MS


def day_parts(lake_dir: Path, sid: str) -> int:
    return sum(1 for _ in sponsor_dir(lake_dir, sid).glob("day=*/part-*.parquet"))


def test_the_schedule_compacts_once_a_month_of_day_parts_piled_up(
    r: redis.Redis, make_sponsor, tmp_path: Path
) -> None:
    busy, quiet = make_sponsor("Busy")["sid"], make_sponsor("Quiet")["sid"]
    lake_dir = tmp_path / "lake"
    schedule = Schedule.starting(lake_dir, 0, 24, START_MS)
    compactions = []
    for day in range(DUE_FILES + 2):
        noon = START_MS + day * DAY_MS + 12 * HOUR_MS
        run(r, scan(busy, "b" * 40, nonce=f"d{day}", now_ms=noon))
        if day % 10 == 0:
            run(r, scan(quiet, "q" * 40, nonce=f"d{day}", now_ms=noon))
        archived, compacted = schedule.step(r, START_MS + (day + 1) * DAY_MS)
        assert archived.entries >= 1
        if compacted is not None:
            compactions.append((day, compacted))
            assert day_parts(lake_dir, busy) == 0 and len(parts(lake_dir, busy)) == 1
    # the day of its registration (its rule entry) has a part too: 30 parts after day 28
    assert [day for day, _ in compactions] == [DUE_FILES - 2], "once, when the month was full"
    report = compactions[0][1]
    assert report.files_before == DUE_FILES and report.files_after == 1, "only the busy one"
    assert day_parts(lake_dir, quiet) == 5, "a few parts: not worth a rewrite yet"
    assert day_parts(lake_dir, busy) == 3, "the days after it wait for the next month"


def test_no_compaction_before_its_period_nor_when_switched_off(
    r: redis.Redis, make_sponsor, tmp_path: Path
) -> None:
    sid = make_sponsor()["sid"]
    for day in range(DUE_FILES):
        run(r, scan(sid, "k" * 40, nonce=f"d{day}", now_ms=START_MS + day * DAY_MS))
    lake_dir = tmp_path / "lake"
    end = START_MS + DUE_FILES * DAY_MS
    weekly = Schedule.starting(lake_dir, 0, 24 * 7, end - DAY_MS)
    assert weekly.step(r, end)[1] is None, "due files, but the week has not passed"
    assert day_parts(lake_dir, sid) == DUE_FILES + 1  # and the day of its registration
    off = Schedule.starting(lake_dir, 0, 0, START_MS)
    assert off.step(r, end + 400 * DAY_MS)[1] is None, "ULT_COMPACT_EVERY_HOURS=0: never"
    assert weekly.step(r, end + 7 * DAY_MS)[1] is not None
    assert day_parts(lake_dir, sid) == 0


def test_a_card_table_is_due_after_a_week_of_files(tmp_path: Path) -> None:
    lake_dir, sid = tmp_path / "lake", "cafe-0001"
    sponsor_dir(lake_dir, sid).mkdir(parents=True)
    for i in range(DUE_CARD_FILES):
        assert not due(lake_dir), "a few card files: not worth a rewrite"
        row = {"cid": f"{i:032x}", "record": "r", "claim_id": "", "claim": ""}
        write_cards(lake_dir, sid, [row], START_MS + i)
    todo = due(lake_dir)
    assert (todo.sids, todo.card_sids) == ([], [sid]), "its card table only"
    compact(lake_dir, todo.sids, card_sids=todo.card_sids)
    assert len(list(card_table_dir(lake_dir, sid).glob("part-*.parquet"))) == 1
