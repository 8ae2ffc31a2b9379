"""Watch flags: whether any sponsor dashboard watches a sponsor's live Socket.IO room.

The scan script reads ``ult:{sid}:watched`` and tells the service whether a live ``scan``
event is worth a publish through Redis (most scans have nobody watching). Each service
process keeps the flag alive while it has members in the sponsor's room; it lapses by itself
when the last watcher leaves or the process dies.
"""

from __future__ import annotations

import logging

import redis.asyncio
import redis.exceptions
import socketio

from ult.connection import AsyncClient
from ult.keys import sponsor_keys
from ult.service.notify import sponsor_room

log = logging.getLogger("ult.service")

WATCH_TTL_S = 180


class WatchFlags:
    """Keeps ``ult:{sid}:watched`` alive while this process has members in the sponsor's
    room, so the scan script tells the service when a live ``scan`` event is worth a publish."""

    def __init__(self, sio: socketio.AsyncServer, r: AsyncClient) -> None:
        self.sio, self.r = sio, r
        self.task = None

    async def mark(self, sid: str) -> None:
        """A dashboard on this process now watches ``sid``: raise the flag, keep it up."""
        await self.r.set(sponsor_keys(sid).watched, "1", ex=WATCH_TTL_S)
        if self.task is None:
            self.task = self.sio.start_background_task(self._refresh_forever)

    def watched_here(self) -> list[str]:
        rooms = self.sio.manager.rooms.get("/", {})
        prefix = sponsor_room("")
        return [
            room[len(prefix) :]
            for room, members in rooms.items()
            if room and room.startswith(prefix) and members
        ]

    async def _refresh_forever(self) -> None:
        while True:
            await self.sio.sleep(WATCH_TTL_S / 3)
            try:
                for sid in self.watched_here():
                    await self.r.set(sponsor_keys(sid).watched, "1", ex=WATCH_TTL_S)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                log.warning("could not refresh watch flags")
