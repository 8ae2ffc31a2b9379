"""The archive's fixed cost per business: what one ``ult archive --trim-days 30`` run costs each
business when nothing is new, and when a week of a few scans a day is. Figures are printed,
never asserted.

    .venv/bin/python benchmarks/archive_cost.py [--businesses B]

Each business gets 8 weeks of history archived weekly (~30 day parts and some card files in
the lake), then 4 weeks are timed: a run with nothing new, then a week of scans and its run.
An embedded Valkey without AOF and the lake on tmpfs (``/dev/shm`` where there is one), all
throwaway.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import redis

from ult import run
from ult.analytics.lake.archiving import archive
from ult.clock import DAY_MS
from ult.embedded import EmbeddedServer
from ult.rules import Rule
from ult.scans import scan
from ult.sponsors import register

START_MS = 1_735_689_600_000  # 2025-01-01 UTC
HISTORY_WEEKS, TIMED_WEEKS, SCANS_PER_DAY, TRIM_DAYS = 8, 4, 4, 30
TMPFS = Path("/dev/shm")


def scan_week(r: redis.Redis, sids: list[str], week: int) -> None:
    """SCANS_PER_DAY new cards a day at each business for the 7 days of ``week``."""
    for sid in sids:
        for d in range(7):
            day = 7 * week + d
            for i in range(SCANS_PER_DAY):
                key = f"w{week}d{d}i{i}".ljust(40, "x")
                now_ms = START_MS + day * DAY_MS + i * 1000
                run(r, scan(sid, key, nonce=f"n{day}-{i}", now_ms=now_ms))


def timed_archive(r: redis.Redis, lake: Path, now_ms: int) -> float:
    """Seconds of one archive run with the trim."""
    started = time.perf_counter()
    archive(r, lake, trim_days=TRIM_DAYS, now_ms=now_ms)
    return time.perf_counter() - started


def measure(businesses: int) -> tuple[float, float]:
    """Median seconds per business of a run with nothing new, and of one after a week."""
    root = TMPFS if TMPFS.is_dir() else None
    with (
        tempfile.TemporaryDirectory(dir=root) as tmp,
        EmbeddedServer(Path(tmp) / "valkey", extra_args=["--appendonly", "no"]) as server,
    ):
        r = redis.Redis.from_url(server.url, decode_responses=True)
        sids = [
            register(r, f"Cost {i}", f"Street {i}", "SE", f"local:cost-{i}", rule=Rule(),
                     now_ms=START_MS - DAY_MS).sid
            for i in range(businesses)
        ]  # fmt: skip
        lake = Path(tmp) / "lake"
        for week in range(HISTORY_WEEKS):
            scan_week(r, sids, week)
            archive(r, lake, trim_days=TRIM_DAYS, now_ms=START_MS + (7 * week + 7) * DAY_MS)
        idle, busy = [], []
        for week in range(HISTORY_WEEKS, HISTORY_WEEKS + TIMED_WEEKS):
            idle.append(timed_archive(r, lake, START_MS + 7 * week * DAY_MS + 3_600_000))
            scan_week(r, sids, week)
            busy.append(timed_archive(r, lake, START_MS + (7 * week + 7) * DAY_MS))
        r.close()
    return statistics.median(idle) / businesses, statistics.median(busy) / businesses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=50, metavar="B")
    args = parser.parse_args()
    idle, busy = measure(args.businesses)
    print(
        f"{args.businesses} businesses, median of {TIMED_WEEKS} runs: nothing new "
        f"{idle * 1000:.1f} ms per business; a week of scans ({SCANS_PER_DAY} a day) "
        f"{busy * 1000:.1f} ms per business"
    )


if __name__ == "__main__":
    main()
