"""The live tab: today's numbers (``today``), velocity alerts (``alerts``), a feed that
updates within a second (``feed``), the loyal customers (``loyalists``).

One :class:`~ult.dashboard.follower.StreamFollower` thread per page reads the sponsor's stream
and hands new entries to the panel, which redraws its widgets from that thread. Other panels
(the claims panel) get the same entries through :attr:`LivePanel.listeners`: one reader per
page. Voilà shuts the page's kernel, and so the thread, down on ``beforeunload``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as W

from ult import run
from ult.cards import loyalists
from ult.claims import void_scan
from ult.clock import now_ms
from ult.dashboard.alerts import AlertsBox
from ult.dashboard.context import Context
from ult.dashboard.feed import FEED_COLUMNS, feed_rows, voided_among
from ult.dashboard.follower import StreamFollower, newest
from ult.dashboard.loyalists import loyalists_html
from ult.dashboard.storage import Business
from ult.dashboard.table import ActionTable
from ult.dashboard.today import DayStats, day_start_ms, read_day, stats_html
from ult.dashboard.ui import Message, classed, esc, guarded, section_html
from ult.errors import UltError
from ult.i18n import _
from ult.identity import short_cid
from ult.keys import sponsor_keys
from ult.schema import Event

log = logging.getLogger("ult.dashboard")

FEED_ROWS = 30
LOYALIST_ROWS = 25
LOYALISTS_EVERY_S = 2.0  # redraw the loyalists table at most this often while scans arrive


class StreamListener(Protocol):
    """A panel fed by the live reader (called from the reader's thread)."""

    def on_entries(self, entries: list[Event]) -> None:
        """New stream entries of the business shown, oldest first."""

    def on_tick(self) -> None:
        """Called about once a second while the reader runs."""


class LiveBox(W.VBox):
    """The live tab's box; closing it stops the panel's reader."""

    def __init__(self, on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_close = on_close

    def close(self) -> None:
        """Stop the reader, then close the widget."""
        self._on_close()
        super().close()


class LivePanel:
    """Today's stats, alerts, the live feed and the loyalists table of the selected business."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.offset_min = 0
        self.stats = DayStats(0)
        self.entries: deque[Event] = deque(maxlen=FEED_ROWS)
        self.voided: set[str] = set()
        self.listeners: list[StreamListener] = []
        self._follower: StreamFollower | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._loyalists_due = False
        self._loyalists_at = 0.0

        self.stats_view = classed(W.HTML(stats_html(self.stats)), "ult-stats-box")
        self.alerts = AlertsBox()
        self.status = classed(W.HTML(), "ult-live-status")
        self.feed = classed(
            ActionTable(
                FEED_COLUMNS,
                "No scans yet. When a customer scans your code it appears here at once.",
                self._on_feed_action,
                css="ult-feed-table",
            ),
            "ult-feed",
        )
        self.loyal = classed(W.HTML(), "ult-loyalists")
        self.refresh = classed(W.Button(description=_("Refresh")), "ult-refresh")
        feed_words = [
            _("Live feed"),
            _("Counted a visit by mistake? Void takes its visit and points back off the card."),
        ]
        loyal_words = [_("Loyal customers"), _("Cards are anonymous: a short id, never a person.")]
        self.message = Message()
        self.widget = classed(
            LiveBox(
                self.stop,
                children=[
                    self.stats_view,
                    self.alerts.widget,
                    self.status,
                    W.HTML(section_html(*feed_words)),
                    self.message,
                    self.feed,
                    W.HTML(section_html(*loyal_words)),
                    self.loyal,
                    W.HBox([self.refresh]),
                ],
            ),
            "ult-tab-live",
        )
        self.refresh.on_click(self._on_refresh)

    @property
    def following(self) -> bool:
        """Whether a live reader is running."""
        return self._follower is not None and self._follower.running

    def show(self, business: Business, offset_min: int) -> None:
        """Load ``business``'s day and start following its stream (stopping any other)."""
        self.stop()
        r = self.ctx.redis
        key = sponsor_keys(business.sid).events
        recent = newest(r, key, FEED_ROWS)
        last_id = recent[0].id if recent else "0-0"
        start = day_start_ms(now_ms(), offset_min)
        with self._lock:
            self._generation += 1
            generation = self._generation
            self.business, self.offset_min = business, offset_min
            self.stats = read_day(r, key, start, last_id) if recent else DayStats(start)
            self.entries = deque(recent, maxlen=FEED_ROWS)
            self.voided = voided_among(r, business.sid, recent)
            self._draw()
            self._draw_loyalists()
            self.alerts.update(r, business.sid)
        live_on = esc(_("Live — new scans appear here as they happen."))
        self.status.value = f'<p class="ult-live-on"><span class="ult-dot"></span> {live_on}</p>'
        self._follower = StreamFollower(
            lambda: self.ctx.live_redis(f"ult-live-{business.sid}"),
            key,
            last_id,
            on_entries=lambda entries: self._on_entries(generation, entries),
            on_tick=lambda: self._on_tick(generation),
            on_status=lambda text: self._on_status(generation, text),
        ).start()

    def stop(self, wait: bool = False) -> None:
        """Stop the live reader, if any (it ends within a second; ``wait`` to join it)."""
        with self._lock:
            self._generation += 1  # late callbacks of the old reader are ignored
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.stop(wait)

    def _on_entries(self, generation: int, entries: list[Event]) -> None:
        with self._lock:
            if generation != self._generation:
                return
            for event in entries:
                self._roll_day(event.ms)
                self.stats.add(event)
                self.entries.appendleft(event)
                if event.kind == "void" and event.ref:
                    self.voided.add(event.ref)
            self._loyalists_due = True
            self.alerts.mark_due()
            self._draw()
        self._tell(lambda listener: listener.on_entries(entries))

    def _on_tick(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if self._roll_day(now_ms()):
                self._draw()
            if self._loyalists_due and time.monotonic() - self._loyalists_at >= LOYALISTS_EVERY_S:
                self._draw_loyalists()
            if self.business is not None:
                self.alerts.maybe_update(self.ctx.redis, self.business.sid)
        self._tell(lambda listener: listener.on_tick())

    def _tell(self, call: Callable[[StreamListener], None]) -> None:
        """Pass an event to every listener; one failing never stops the reader or the others."""
        for listener in list(self.listeners):
            try:
                call(listener)
            except Exception:
                log.exception("live listener %s failed", type(listener).__name__)

    def _on_status(self, generation: int, text: str | None) -> None:
        if generation != self._generation:
            return
        if text:
            self.status.value = f'<p class="ult-note ult-note-warn">{esc(text)}</p>'
        else:
            again = esc(_("Live again."))
            self.status.value = f'<p class="ult-live-on"><span class="ult-dot"></span> {again}</p>'

    def _roll_day(self, at_ms: int) -> bool:
        """Start a new day's stats when ``at_ms`` is past the current day."""
        if at_ms < self.stats.end_ms:
            return False
        self.stats = DayStats(day_start_ms(at_ms, self.offset_min))
        return True

    def _draw(self) -> None:
        self.stats_view.value = stats_html(self.stats)
        self.feed.show(feed_rows(list(self.entries), self.offset_min, self.voided))

    def _draw_loyalists(self) -> None:
        if self.business is None:
            return
        rows = run(self.ctx.redis, loyalists(self.business.sid, limit=LOYALIST_ROWS))
        self.loyal.value = loyalists_html(rows, self.offset_min)
        self._loyalists_due = False
        self._loyalists_at = time.monotonic()

    @guarded(lambda self: self.message)
    def _on_feed_action(self, action: str, entry_id: str) -> None:
        """The feed's Void button: take a counted visit back (owner key checked by the core)."""
        business = self.business
        if business is None or action != "void":
            return
        self.message.clear()
        try:
            run(self.ctx.redis, void_scan(business.sid, business.owner_key, entry_id))
        except UltError as exc:
            if exc.code != "already_void":
                raise
            self.message.info("That visit was already voided.")
        else:
            card = self._card_of(entry_id)
            self.message.ok(f"Visit voided: card {card} lost that visit and its points.")
            voided = next((e.card for e in self.entries if e.id == entry_id), "")
            if voided:  # its wallet passes show the points it lost
                self.ctx.card_changed(business.sid, voided)
        with self._lock:
            self.voided.add(entry_id)
            self._loyalists_due = True
            self._draw()

    def _card_of(self, entry_id: str) -> str:
        """The short card id of a feed entry ("" when it left the feed)."""
        return next((short_cid(e.card) for e in self.entries if e.id == entry_id), "")

    @guarded(lambda self: self.message)
    def _on_refresh(self, _button: W.Button | None = None) -> None:
        self.message.clear()
        if self.business is not None:
            self.show(self.business, self.offset_min)
