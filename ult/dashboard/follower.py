"""Following a sponsor's stream from the dashboard kernel.

A :class:`StreamFollower` thread waits on the stream with ``XREAD BLOCK`` (one second at a
time, so it notices a stop quickly) and hands new entries to a callback. The thread is a daemon
and is stopped when the business changes, when the panel's widget is closed, and with the kernel
when the page closes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.exceptions
from redis.cluster import RedisCluster

from ult import ops
from ult.connection import Client
from ult.dashboard.context import LIVE_BLOCK_MS
from ult.schema import Event, parse_entry

log = logging.getLogger("ult.dashboard")


def newest(r: Client, key: str, count: int) -> list[Event]:
    """The stream's newest entries, newest first."""
    return [parse_entry(entry) for entry in ops.entries(r.xrevrange(key, "+", "-", count=count))]


def _xread_entries(reply: Any) -> list[Event]:
    """Entries of one XREAD reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    groups = reply.items() if isinstance(reply, dict) else reply
    events: list[Event] = []
    for _key, items in groups:
        entries = items[0] if items and isinstance(items[0], list) else items
        events.extend(parse_entry(entry) for entry in entries)
    return events


class StreamFollower:
    """Follow one stream from ``last_id`` with XREAD BLOCK in a daemon thread."""

    def __init__(
        self,
        connect: Callable[[], Client],
        key: str,
        last_id: str,
        on_entries: Callable[[list[Event]], None],
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
        self._client: Client | None = None
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
                if isinstance(client, RedisCluster):  # it has a pool per node
                    client.disconnect_connection_pools()
                else:
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
                    self.last_id = entries[-1].id
                    self.on_entries(entries)
                if not self._stop.is_set():
                    self.on_tick()
            except Exception as exc:
                if self._stop.is_set():
                    break
                _close(self._client)
                self._client = None
                if isinstance(exc, redis.exceptions.RedisError):
                    log.warning("live reader for %s: %s", self.key, exc)
                    failing = True
                    self.on_status("Live updates paused: the database is not reachable. Retrying…")
                else:
                    log.exception("live reader for %s failed", self.key)
                self._stop.wait(2)
        _close(self._client)
        self._client = None


def _close(client: Client | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken connection must not raise
            client.close()


# --- rendering ---------------------------------------------------------------------------------
