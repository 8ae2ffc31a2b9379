"""The lake's schedule under ``ult up``: an archive run every ULT_ARCHIVE_EVERY_MINUTES (trimming
with ULT_TRIM_DAYS) and, every ULT_COMPACT_EVERY_HOURS, a compaction of the sponsors whose
small files piled up (:func:`ult.analytics.lake.compaction.due`).

:meth:`Schedule.step` is one tick of it on a clock it is given, so the launcher's thread and
the year benchmark (``benchmarks/year.py``) run the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ult.analytics.lake.archiving import ArchiveReport, archive
from ult.analytics.lake.compaction import CompactReport, compact, due
from ult.connection import Client

HOUR_MS = 3_600_000


@dataclass
class Schedule:
    """The archive and compaction rule of ``ult up``; ``next_compact_ms`` is when the next
    compaction is due (the first comes one period after the schedule starts)."""

    lake: Path
    trim_days: int | None
    compact_every_hours: int
    next_compact_ms: int = 0

    @classmethod
    def starting(
        cls, lake: Path, trim_days: int, compact_every_hours: int, now_ms: int
    ) -> Schedule:
        """The schedule as it starts at ``now_ms`` (``trim_days`` 0: no trim)."""
        first = now_ms + compact_every_hours * HOUR_MS
        return cls(Path(lake), trim_days if trim_days > 0 else None, compact_every_hours, first)

    def compaction_due(self, now_ms: int) -> bool:
        """Whether a compaction is due at ``now_ms`` (never with ULT_COMPACT_EVERY_HOURS 0)."""
        return self.compact_every_hours > 0 and now_ms >= self.next_compact_ms

    def step(self, r: Client, now_ms: int) -> tuple[ArchiveReport, CompactReport | None]:
        """One scheduled run at ``now_ms``: archive (and trim), then, if the period passed,
        compact the sponsors due. Returns both reports (None: nothing compacted this time)."""
        report = archive(r, self.lake, trim_days=self.trim_days, now_ms=now_ms)
        if not self.compaction_due(now_ms):
            return report, None
        self.next_compact_ms = now_ms + self.compact_every_hours * HOUR_MS
        todo = due(self.lake)
        return report, compact(self.lake, todo.sids, card_sids=todo.card_sids) if todo else None
