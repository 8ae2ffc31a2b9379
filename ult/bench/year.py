"""A year in minutes: a year of scans at many businesses replayed on a moving clock through the
service's own scan path (:func:`ult.scans.arun_scan` over an :class:`ult.ops.AutoPipeline`,
the scan script in batches), with the lake's schedule of ``ult up``
(:class:`ult.analytics.lake.schedule.Schedule`: archive and trim at the end of each week, or
day, compaction when due), against an embedded Valkey of its own.

Each business has a steady population (:class:`Customers`): its regulars and occasionals are
customers from day 0, each for a span of months (with, for some, a break of one to four months)
before a new card takes its place, and its "once" cards come on days spread over the year; so
the cards seen in any 30 days are about the same all year, and Redis should stay flat once the
first trim window is past. Each month's end records Redis memory, cards and stream entries in
Redis and the lake's files; the year's end, the notebooks' weekly cohort query over the whole
year in DuckDB and whether every card that came back after the trim window scanned on from its
old visits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis
import redis.asyncio

from ult import ops
from ult.analytics.duck import cohort_retention_sql, duckdb
from ult.analytics.lake.compaction import compact
from ult.analytics.lake.schedule import Schedule
from ult.bench.machine import describe_machine
from ult.bench.memory import used_memory
from ult.clock import DAY_MS
from ult.embedded import EmbeddedServer
from ult.keys import sponsor_keys
from ult.rules import Rule
from ult.scans import ScanResult, arun_scan, scan
from ult.sponsors import register

START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC: the year replayed
HOUR_MS = 3_600_000
OPEN_HOURS = (8, 20)  # scans happen between these UTC hours
CHUNK = 2_000  # scans per event-loop tick: one call of the scan script, as the service batches

# A business's customers at any time: (kind, share of its cards, chance of a visit on a given
# day). Regulars and occasionals are customers from day 0 and each keeps coming for a span of
# SPAN_DAYS, then a new card takes its place the next day; "once" cards come on a day drawn
# uniformly from the year. So the cards seen in any 30 days are about the same all year.
MIX = (("regular", 0.10, 0.30), ("occasional", 0.30, 0.04), ("once", 0.60, 0.0))
SPAN_DAYS = (60, 300)  # a regular's or occasional's time as a customer (breaks not counted)
AWAY_SHARE = 0.3  # of the regulars and occasionals: a break of AWAY_DAYS once in their span
AWAY_DAYS = (35, 120)
AWAY_AFTER = 7  # days at least between a card's first visit and its break
NEVER = 1 << 30  # the day of a visit that never comes (an unused generation of a slot)


@dataclass(frozen=True)
class YearConfig:
    """What to replay. ``cards_per_business``: a business's customers by MIX, its regulars and
    occasionals at any time and its "once" cards of the year. ``archive_every_days``: the schedule's archive
    period. Weekly by default: each run costs every business a fixed ~5-20 ms
    (docs/benchmarks.md), which a daily schedule pays 365 times a year."""

    businesses: int = 1_000
    days: int = 365
    cards_per_business: int = 150
    trim_days: int = 30
    archive_every_days: int = 7
    compact_every_hours: int = 24
    seed: int = 7
    start_ms: int = START_MS


QUICK = {"businesses": 5, "days": 90}  # a small run (the test's)


class Customers:
    """Who of each business's cards comes on a day: arrays of shape (businesses, cards), a
    business's cards being its slots (one per customer of MIX) times the generations of cards
    that hold each slot through the year."""

    def __init__(self, config: YearConfig, rng: np.random.Generator) -> None:
        self.seed = config.seed
        shape = (config.businesses, config.cards_per_business)
        kind = rng.choice(len(MIX), size=shape, p=[share for _, share, _ in MIX])
        rate = np.array([rate for _, _, rate in MIX])[kind]
        steady = rate > 0
        once_day = rng.integers(0, config.days, size=shape)
        # generation 0: the card a slot has on day 0, a customer already (first visit before
        # day 0), through the rest of its span; each next one from the day after it
        first = np.where(steady, -1, once_day)
        left = rng.integers(1, SPAN_DAYS[1], size=shape)
        gens: list[tuple[np.ndarray, ...]] = []
        while True:
            gen = self._generation(first, left, steady, rng)
            gens.append(gen)
            first = np.where(steady, gen[1] + 1, NEVER)
            if not (first < config.days).any():
                break
            left = rng.integers(*SPAN_DAYS, size=shape)
        n = len(gens)
        first, last, away_from, away_to = (
            np.stack([g[i] for g in gens], axis=2).reshape(shape[0], shape[1] * n) for i in range(4)
        )
        self.first, self.last, self.away_from, self.away_to = first, last, away_from, away_to
        self.rate = np.repeat(rate, n, axis=1)

    @staticmethod
    def _generation(
        first: np.ndarray, span: np.ndarray, steady: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(first, last, away_from, away_to) of one generation of cards: a steady card comes
        ``span`` days, plus its break if it has one (a break starts within its span)."""
        shape = first.shape
        start = np.maximum(first, 0)
        away = steady & (rng.random(shape) < AWAY_SHARE) & (span > AWAY_AFTER)
        away_from = start + rng.integers(AWAY_AFTER, np.maximum(span, AWAY_AFTER + 1))
        length = rng.integers(*AWAY_DAYS, size=shape)
        last = np.where(steady, start + span + np.where(away, length, 0), first)
        return (
            first,
            last,
            np.where(away, away_from, -1),
            np.where(away, away_from + length, -1),
        )

    def key(self, b: int, c: int) -> str:
        """The card key of card ``c`` of business ``b`` (43 url-safe characters, as a wallet
        card's), derived from the seed: a year's million cards need no table of keys."""
        digest = hashlib.blake2b(f"{self.seed}:{b}:{c}".encode(), digest_size=32).digest()
        return base64.urlsafe_b64encode(digest)[:43].decode()

    def visitors(self, day: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(business, card) indexes of the cards that scan on ``day``: each card on its first
        day, then at its rate while it is a customer and not away."""
        away = (day >= self.away_from) & (day < self.away_to)
        current = (day > self.first) & (day <= self.last) & ~away
        again = current & (rng.random(self.rate.shape) < self.rate)
        b, c = np.nonzero((day == self.first) | again)
        return b, c


@dataclass
class Month:
    """The state at the end of a month."""

    month: str
    scans: int
    used_memory_mb: float
    cards_in_redis: int
    stream_entries: int
    lake_files: int
    lake_mb: float
    wall_s: float


@dataclass
class Continuity:
    """Whether every scan went on from the card's visits before it."""

    scans: int = 0
    errors: int = 0
    wrong_visits: int = 0
    returning: int = 0  # scans of cards away longer than the trim window (and a schedule run)
    returning_continued: int = 0


@dataclass
class YearResult:
    """A run's figures."""

    config: dict[str, Any]
    machine: dict[str, Any]
    months: list[Month] = field(default_factory=list)
    continuity: Continuity = field(default_factory=Continuity)
    cards_seen_in_window: int = 0  # cards the model saw in the last trim_days
    cards_in_redis: int = 0
    lake_before_compaction: tuple[int, int] = (0, 0)  # files, bytes
    lake_after_compaction: tuple[int, int] = (0, 0)
    scheduled_compactions: int = 0
    cohort_view_s: float = 0.0  # the DuckDB view (lake + the Redis tail read in)
    cohort_query_s: float = 0.0  # cohort_retention_sql(con, "W")
    cohort_weeks: int = 0
    phase_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Replay:
    """One year's replay against a Valkey at ``url`` with its lake in ``lake``."""

    def __init__(self, config: YearConfig, url: str, lake: Path) -> None:
        self.config, self.url, self.lake = config, url, lake
        self.rng = np.random.default_rng(config.seed)
        self.customers = Customers(config, self.rng)
        shape = self.customers.rate.shape
        self.visits = np.zeros(shape, dtype=np.int64)  # the model's count of each card
        self.last_day = np.full(shape, -1, dtype=np.int64)
        self.r = redis.Redis.from_url(url, decode_responses=True)
        self.sids = register_businesses(self.r, config.businesses, config.start_ms - DAY_MS)
        self.schedule = Schedule.starting(
            lake, config.trim_days, config.compact_every_hours, config.start_ms
        )
        self.phase_s = {"scans": 0.0, "archive": 0.0, "compaction": 0.0, "figures": 0.0}
        self.compactions = 0

    async def run(self, on_month: Callable[[Month], None] | None = None) -> YearResult:
        """Replay every day; the figures of each month and of the end."""
        t0 = time.perf_counter()
        result = YearResult(asdict(self.config), describe_machine(self.r))
        ar = redis.asyncio.Redis.from_url(self.url, decode_responses=True)
        pipe = ops.AutoPipeline(ar)
        month_scans = 0
        try:
            for day in range(self.config.days):
                month_scans += await self.scan_day(pipe, day, result.continuity)
                last = day == self.config.days - 1
                if (day + 1) % self.config.archive_every_days == 0 or last:
                    self.run_schedule(self.config.start_ms + (day + 1) * DAY_MS)
                if last or _month(self.config.start_ms, day) != _month(
                    self.config.start_ms, day + 1
                ):
                    month = self.month_figures(day, month_scans, time.perf_counter() - t0)
                    result.months.append(month)
                    month_scans = 0
                    if on_month:
                        on_month(month)
        finally:
            await ar.aclose()
        self.finish(result)
        result.phase_s = {k: round(v, 1) for k, v in self.phase_s.items()}
        result.scheduled_compactions = self.compactions
        result.wall_s = round(time.perf_counter() - t0, 1)
        self.r.close()
        return result

    async def scan_day(self, pipe: ops.AutoPipeline, day: int, seen: Continuity) -> int:
        """Every scan of ``day`` in time order, in ticks of CHUNK; checks each against the
        model. Returns how many scans were sent."""
        t0 = time.perf_counter()
        b, c = self.customers.visitors(day, self.rng)
        day_ms = self.config.start_ms + day * DAY_MS
        at = day_ms + self.rng.integers(OPEN_HOURS[0] * HOUR_MS, OPEN_HOURS[1] * HOUR_MS, len(b))
        order = np.argsort(at, kind="stable")
        b, c, at = b[order], c[order], at[order]
        for i in range(0, len(b), CHUNK):
            part = range(i, min(i + CHUNK, len(b)))
            results = await asyncio.gather(
                *(self._scan(pipe, int(b[j]), int(c[j]), int(at[j]), day) for j in part),
                return_exceptions=True,
            )
            for j, res in zip(part, results, strict=True):
                self.check(int(b[j]), int(c[j]), day, res, seen)
        self.phase_s["scans"] += time.perf_counter() - t0
        return len(b)

    def _scan(self, pipe: ops.AutoPipeline, b: int, c: int, at: int, day: int) -> Any:
        key = self.customers.key(b, c)
        op = scan(self.sids[b], key, nonce=f"d{day:x}", now_ms=at)
        return arun_scan(pipe.run, op, self.lake)

    def check(self, b: int, c: int, day: int, res: Any, seen: Continuity) -> None:
        """Count the scan against the model: its visits must be the card's before, plus one."""
        seen.scans += 1
        if not isinstance(res, ScanResult):
            seen.errors += 1
            return
        expected = int(self.visits[b, c]) + 1
        away = day - int(self.last_day[b, c])
        returning = self.last_day[b, c] >= 0 and (
            away > self.config.trim_days + self.config.archive_every_days
        )
        if res.visits != expected:
            seen.wrong_visits += 1
        if returning:
            seen.returning += 1
            seen.returning_continued += int(res.visits == expected)
        self.visits[b, c], self.last_day[b, c] = res.visits, day

    def run_schedule(self, now_ms: int) -> None:
        """The lake's schedule of ``ult up`` at ``now_ms`` (archive, trim, maybe compact)."""
        t0 = time.perf_counter()
        archived, compacted = self.schedule.step(self.r, now_ms)
        spent = time.perf_counter() - t0
        if compacted is not None:
            self.compactions += 1
            self.phase_s["compaction"] += compacted.seconds
            spent -= compacted.seconds
        self.phase_s["archive"] += spent

    def month_figures(self, day: int, scans: int, wall_s: float) -> Month:
        """The state after ``day``, the last of a month."""
        t0 = time.perf_counter()
        files, size = lake_size(self.lake)
        month = Month(
            month=_month(self.config.start_ms, day),
            scans=scans,
            used_memory_mb=round(used_memory(self.r) / 1e6, 1),
            cards_in_redis=cards_in_redis(self.r, self.sids),
            stream_entries=stream_entries(self.r, self.sids),
            lake_files=files,
            lake_mb=round(size / 1e6, 1),
            wall_s=round(wall_s, 1),
        )
        self.phase_s["figures"] += time.perf_counter() - t0
        return month

    def finish(self, result: YearResult) -> None:
        """The end: cards in Redis against the model's window, the lake compacted in full, the
        notebooks' cohort query over the year."""
        window = self.config.days - self.config.trim_days
        result.cards_seen_in_window = int((self.last_day >= window).sum())
        result.cards_in_redis = cards_in_redis(self.r, self.sids)
        result.lake_before_compaction = lake_size(self.lake)
        t0 = time.perf_counter()
        compact(self.lake)
        self.phase_s["compaction"] += time.perf_counter() - t0
        result.lake_after_compaction = lake_size(self.lake)
        t0 = time.perf_counter()
        con = duckdb(self.r, self.lake, memory_limit="256MB")  # as notebook 04 opens it
        t1 = time.perf_counter()
        cohorts = cohort_retention_sql(con, freq="W")
        result.cohort_view_s = round(t1 - t0, 2)
        result.cohort_query_s = round(time.perf_counter() - t1, 2)
        result.cohort_weeks = len(cohorts)
        con.close()


def register_businesses(r: redis.Redis, count: int, at_ms: int) -> list[str]:
    """Register ``count`` cafés with the default rule at ``at_ms``: the clock of the streams
    (an entry is never older than the one before it) starts there."""
    return [
        register(
            r, f"Year café {i}", f"Årsgatan {i}", "SE", f"local:year-{i}", rule=Rule(), now_ms=at_ms
        ).sid
        for i in range(count)
    ]


def _month(start_ms: int, day: int) -> str:
    return datetime.fromtimestamp((start_ms + day * DAY_MS) / 1000, UTC).strftime("%Y-%m")


def cards_in_redis(r: redis.Redis, sids: list[str]) -> int:
    """The cards Redis holds for ``sids`` (HLEN of each cards hash, pipelined)."""
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hlen(sponsor_keys(sid).cards)
    return int(sum(pipe.execute()))


def stream_entries(r: redis.Redis, sids: list[str]) -> int:
    """The entries of the streams of ``sids`` in Redis."""
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.xlen(sponsor_keys(sid).events)
    return int(sum(pipe.execute()))


def lake_size(lake: Path) -> tuple[int, int]:
    """(Parquet files, bytes) of the lake: event parts and card tables."""
    sizes = [p.stat().st_size for p in Path(lake).rglob("*.parquet")]
    return len(sizes), sum(sizes)


def work_root() -> str | None:
    """Where the run's files go: tmpfs when the machine has one (the figures are CPU, not
    fsync: each of the year's ~365 parts per business is fsynced), else the default."""
    return "/dev/shm" if Path("/dev/shm").is_dir() else None


def run_year(
    config: YearConfig,
    on_month: Callable[[Month], None] | None = None,
    root: str | None = None,
) -> YearResult:
    """Replay ``config`` in a throwaway directory (under ``root``, default
    :func:`work_root`) with its own embedded Valkey (AOF off: memory, not durability, is
    measured; the service's AOF costs are in docs/benchmarks.md)."""
    with tempfile.TemporaryDirectory(prefix="ult-year-", dir=root or work_root()) as tmp:
        work = Path(tmp)
        args = ["--appendonly", "no"]
        with EmbeddedServer(work / "valkey", extra_args=args) as server:
            replay = Replay(config, server.url, work / "lake")
            return asyncio.run(replay.run(on_month))
