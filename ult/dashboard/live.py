"""The live tab: today's numbers, velocity alerts, a feed that updates within a second (with a
Void button per counted visit), the loyal customers.

A :class:`StreamFollower` thread waits on the sponsor's event stream with ``XREAD BLOCK`` (one
second at a time, so it notices a stop quickly) and hands new entries to the panel, which
redraws its widgets from that thread. The thread is a daemon and is stopped when the business
changes, when the panel's widget is closed, and with the kernel when the page closes (Voilà
shuts the page's kernel down on ``beforeunload``). Other panels (the claims panel) get the
same entries through :attr:`LivePanel.listeners`: one reader per page.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ipywidgets as W
import redis
import redis.exceptions

from ult import run
from ult.cards import loyalists
from ult.claims import void_scan
from ult.dashboard.alerts import AlertsBox
from ult.dashboard.context import LIVE_BLOCK_MS, Context
from ult.dashboard.storage import Business
from ult.dashboard.table import Action, ActionTable, Column, Row
from ult.dashboard.ui import Message, classed, esc, guarded, local_datetime, local_time, table
from ult.errors import UltError
from ult.identity import short_cid
from ult.keys import sponsor_keys

log = logging.getLogger("ult.dashboard")

DAY_MS = 86_400_000
FEED_ROWS = 30
LOYALIST_ROWS = 25
LOYALISTS_EVERY_S = 2.0  # redraw the loyalists table at most this often while scans arrive

Entry = tuple[str, dict[str, str]]

FEED_COLUMNS = [
    Column("time", "Time"),
    Column("card", "Card", "ult-cid"),
    Column("what", "What happened"),
    Column("spot", "Spot"),
]
VOID_SCAN = Action("void", "Void", "plain", confirm="Confirm void")
CLAIM_WORDS = {
    "requested": "Reward claimed — waiting for staff",
    "approved": "Reward given",
    "rejected": "Reward claim rejected",
}

REFUSAL_WORDS = {
    "cooldown": "scanned again too soon",
    "daily_cap": "daily limit reached",
    "code_required": "counter code missing",
    "code_invalid": "counter code expired",
}


def now_ms() -> int:
    """The current time in epoch milliseconds (the unit of stream ids)."""
    return int(time.time() * 1000)


def entry_ms(entry_id: str) -> int:
    """A stream entry's time (its id's milliseconds)."""
    return int(entry_id.split("-", 1)[0])


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

    def add(self, entry: Entry) -> None:
        """Count one stream entry if it falls on this day."""
        entry_id, fields = entry
        if not self.start_ms <= entry_ms(entry_id) < self.end_ms:
            return
        kind = fields.get("t")
        if kind == "scan":
            self.scans += 1
            self.cards.add(fields.get("c", ""))
        elif kind == "refused":
            self.refused += 1


def read_day(r: redis.Redis, key: str, start_ms: int, until_id: str) -> DayStats:
    """The day's stats from the stream, up to and including ``until_id``."""
    stats = DayStats(start_ms)
    low = f"{start_ms}-0"
    while True:
        batch = r.xrange(key, low, until_id, count=1000)
        for entry in batch:
            stats.add(entry)
        if len(batch) < 1000:
            return stats
        low = "(" + batch[-1][0]


def newest(r: redis.Redis, key: str, count: int) -> list[Entry]:
    """The stream's newest entries, newest first."""
    return list(r.xrevrange(key, "+", "-", count=count))


def _xread_entries(reply: Any) -> list[Entry]:
    """Entries of one XREAD reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    groups = reply.items() if isinstance(reply, dict) else reply
    entries: list[Entry] = []
    for _key, items in groups:
        entries.extend(items[0] if items and isinstance(items[0], list) else items)
    return entries


class StreamFollower:
    """Follow one stream from ``last_id`` with XREAD BLOCK in a daemon thread."""

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        key: str,
        last_id: str,
        on_entries: Callable[[list[Entry]], None],
        on_tick: Callable[[], None] | None = None,
        on_status: Callable[[str | None], None] | None = None,
        block_ms: int = LIVE_BLOCK_MS,
    ) -> None:
        self.connect = connect
        self.key = key
        self.last_id = last_id
        self.on_entries = on_entries
        self.on_tick = on_tick or (lambda: None)
        self.on_status = on_status or (lambda _text: None)
        self.block_ms = block_ms
        self._stop = threading.Event()
        self._client: redis.Redis | None = None
        self._thread = threading.Thread(target=self._run, name=f"ult-live {key}", daemon=True)

    def start(self) -> StreamFollower:
        """Start following; returns self."""
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the thread is still alive."""
        return self._thread.is_alive()

    def stop(self, wait: bool = False) -> None:
        """Stop following; ``wait`` joins the thread.

        Closing the connection wakes a waiting XREAD at once (otherwise the thread ends
        within one BLOCK period); while joining, it is closed again in case the thread was
        just reconnecting.
        """
        self._stop.set()
        self._wake()
        if not wait or self._thread is threading.current_thread():
            return
        deadline = time.monotonic() + self.block_ms / 1000 + 3
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.05)
            self._wake()

    def _wake(self) -> None:
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):  # the reader sees a closed connection
                client.connection_pool.disconnect()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                if self._client is None:
                    self._client = self.connect()
                reply = self._client.xread({self.key: self.last_id}, count=500, block=self.block_ms)
                if failing:
                    failing = False
                    self.on_status(None)
                entries = _xread_entries(reply)
                if entries and not self._stop.is_set():
                    self.last_id = entries[-1][0]
                    self.on_entries(entries)
                if not self._stop.is_set():
                    self.on_tick()
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._client = _close(self._client)
                if isinstance(exc, redis.exceptions.RedisError):
                    log.warning("live reader for %s: %s", self.key, exc)
                    failing = True
                    self.on_status("Live updates paused: the database is not reachable. Retrying…")
                else:
                    log.exception("live reader for %s failed", self.key)
                self._stop.wait(2)
        self._client = _close(self._client)


def _close(client: redis.Redis | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken connection must not raise
            client.close()
    return None


# --- rendering ---------------------------------------------------------------------------------


def stats_html(stats: DayStats) -> str:
    """The three numbers at the top of the live tab."""

    def stat(css: str, value: int, label: str) -> str:
        return (
            f'<div class="ult-stat {css}"><span class="ult-stat-value">{value}</span>'
            f'<span class="ult-stat-label">{label}</span></div>'
        )

    return (
        '<div class="ult-stats">'
        + stat("ult-stat-scans", stats.scans, "scans today")
        + stat("ult-stat-cards", len(stats.cards), "different cards today")
        + stat("ult-stat-refused", stats.refused, "not counted today")
        + "</div>"
    )


def describe(fields: dict[str, str]) -> tuple[str, str]:
    """(css class, plain-text description) of one event."""
    kind = fields.get("t", "")
    if kind == "scan":
        points = fields.get("p", "0")
        unit = "point" if points == "1" else "points"
        return "ult-ev-scan", f"Visit {fields.get('v', '?')} · +{points} {unit}"
    if kind == "refused":
        reason = fields.get("r", "")
        return "ult-ev-refused", f"Not counted: {REFUSAL_WORDS.get(reason, reason)}"
    if kind == "registered":
        return "ult-ev-info", "Business registered"
    if kind == "rule":
        return "ult-ev-info", "Reward rule changed"
    if kind == "expired":
        return "ult-ev-info", "Points expired after a long absence"
    if kind == "claim":
        return "ult-ev-claim", CLAIM_WORDS.get(fields.get("s", ""), "Reward claim")
    if kind == "void":
        if fields.get("ref"):
            return "ult-ev-refused", "Visit voided by you · points taken back"
        return "ult-ev-refused", "Reward voided by you · points given back"
    return "ult-ev-info", kind.replace("_", " ").capitalize() or "Event"


def feed_row(entry: Entry, offset_min: int, voided: set[str]) -> Row:
    """One feed row as plain text (table.js inserts it with ``textContent``)."""
    entry_id, fields = entry
    css, text = describe(fields)
    is_scan = fields.get("t") == "scan"
    was_voided = is_scan and entry_id in voided
    if was_voided:
        text, css = f"{text} · voided", "ult-ev-voided"
    return Row(
        id=entry_id,
        cells={
            "time": local_time(entry_ms(entry_id), offset_min),
            "card": short_cid(fields.get("c", "")),
            "what": text,
            "spot": fields.get("a", ""),
        },
        css="ult-row-voided" if was_voided else "",
        cell_css={"what": css},
        actions=(VOID_SCAN,) if is_scan and not was_voided else (),
    )


def feed_rows(entries: list[Entry], offset_min: int, voided: set[str]) -> list[Row]:
    """The live feed, newest first; counted visits not yet voided get a Void button."""
    return [feed_row(entry, offset_min, voided) for entry in entries]


def voided_among(r: redis.Redis, sid: str, entries: list[Entry]) -> set[str]:
    """Which of these scans the sponsor has voided."""
    ids = [entry_id for entry_id, fields in entries if fields.get("t") == "scan"]
    if not ids:
        return set()
    flags = r.smismember(sponsor_keys(sid).voided, ids)
    return {entry_id for entry_id, flag in zip(ids, flags, strict=True) if flag}


def loyalists_html(rows: list[dict[str, Any]], offset_min: int) -> str:
    """The loyal customers table: anonymous short card ids only."""
    cells = [
        [
            f'<code class="ult-cid">{esc(row["cid"])}</code>',
            esc(row["visits"]),
            esc(row["points"]),
            esc(local_datetime(row["first_ms"], offset_min)),
            esc(local_datetime(row["last_ms"], offset_min)),
        ]
        for row in rows
    ]
    return table(
        ["Card", "Visits", "Points", "First visit", "Last visit"],
        cells,
        "ult-loyalists-table",
        "No cards yet.",
    )


class StreamListener(Protocol):
    """A panel fed by the live reader (called from the reader's thread)."""

    def on_entries(self, entries: list[Entry]) -> None:
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
        self.entries: deque[Entry] = deque(maxlen=FEED_ROWS)
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
        self.refresh = classed(W.Button(description="Refresh"), "ult-refresh")
        self.message = Message()
        self.widget = classed(
            LiveBox(
                self.stop,
                children=[
                    self.stats_view,
                    self.alerts.widget,
                    self.status,
                    W.HTML(
                        '<h3 class="ult-h3">Live feed</h3><p class="ult-hint">Counted a visit '
                        "by mistake? <b>Void</b> takes its visit and points back off the card."
                        "</p>"
                    ),
                    self.message,
                    self.feed,
                    W.HTML(
                        '<h3 class="ult-h3">Loyal customers</h3><p class="ult-hint">Cards are '
                        "anonymous: a short id, never a person.</p>"
                    ),
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
        last_id = recent[0][0] if recent else "0-0"
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
        self.status.value = (
            '<p class="ult-live-on"><span class="ult-dot"></span> Live — new scans appear '
            "here as they happen.</p>"
        )
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

    def _on_entries(self, generation: int, entries: list[Entry]) -> None:
        with self._lock:
            if generation != self._generation:
                return
            for entry in entries:
                self._roll_day(entry_ms(entry[0]))
                self.stats.add(entry)
                self.entries.appendleft(entry)
                if entry[1].get("t") == "void" and entry[1].get("ref"):
                    self.voided.add(entry[1]["ref"])
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
            self.status.value = (
                '<p class="ult-live-on"><span class="ult-dot"></span> Live again.</p>'
            )

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
        with self._lock:
            self.voided.add(entry_id)
            self._loyalists_due = True
            self._draw()

    def _card_of(self, entry_id: str) -> str:
        """The short card id of a feed entry ("" when it left the feed)."""
        fields = next((f for i, f in self.entries if i == entry_id), {})
        return short_cid(fields.get("c", ""))

    @guarded(lambda self: self.message)
    def _on_refresh(self, _button: W.Button | None = None) -> None:
        self.message.clear()
        if self.business is not None:
            self.show(self.business, self.offset_min)
