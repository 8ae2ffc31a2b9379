"""Today's numbers on the live tab: scans, distinct cards and refusals of the sponsor's local
day, counted from the stream."""

from __future__ import annotations

from dataclasses import dataclass, field

from ult import ops
from ult.clock import DAY_MS
from ult.connection import Client
from ult.dashboard.ui import esc
from ult.i18n import _
from ult.schema import Event, parse_entry


def day_start_ms(at_ms: int, utc_offset_min: int) -> int:
    """Local midnight (at ``utc_offset_min``) of the day containing ``at_ms``, in epoch ms."""
    offset = utc_offset_min * 60_000
    return (at_ms + offset) // DAY_MS * DAY_MS - offset


@dataclass
class DayStats:
    """Scans, refusals and distinct cards of one local day."""

    start_ms: int
    scans: int = 0
    refused: int = 0
    cards: set[str] = field(default_factory=set)

    @property
    def end_ms(self) -> int:
        """The first millisecond after this day."""
        return self.start_ms + DAY_MS

    def add(self, event: Event) -> None:
        """Count one stream entry if it falls on this day."""
        if not self.start_ms <= event.ms < self.end_ms:
            return
        kind = event.kind
        if kind == "scan":
            self.scans += 1
            self.cards.add(event.card)
        elif kind == "refused":
            self.refused += event.refusals  # an entry may stand for several (F.COUNT)


def read_day(r: Client, key: str, start_ms: int, until_id: str) -> DayStats:
    """The day's stats from the stream, up to and including ``until_id``."""
    stats = DayStats(start_ms)
    low = f"{start_ms}-0"
    while True:
        batch = ops.entries(r.xrange(key, low, until_id, count=1000))
        for entry in batch:
            stats.add(parse_entry(entry))
        if len(batch) < 1000:
            return stats
        low = "(" + batch[-1][0]


def stats_html(stats: DayStats) -> str:
    """The three numbers at the top of the live tab."""

    def stat(css: str, value: int, label: str) -> str:
        return (
            f'<div class="ult-stat {css}"><span class="ult-stat-value">{value}</span>'
            f'<span class="ult-stat-label">{label}</span></div>'
        )

    return (
        '<div class="ult-stats">'
        + stat("ult-stat-scans", stats.scans, esc(_("scans today")))
        + stat("ult-stat-cards", len(stats.cards), esc(_("different cards today")))
        + stat("ult-stat-refused", stats.refused, esc(_("not counted today")))
        + "</div>"
    )
