"""Emitting to Socket.IO rooms from outside the service (the dashboard kernel).

A write-only client manager publishes through Redis; every service process delivers the
message to its own members of the room (such an emitter cannot receive acks).
"""

from __future__ import annotations

from typing import Any

from ult.clock import now_ms

SOCKETIO_CHANNEL = "ult-socketio"


def sponsor_room(sid: str) -> str:
    """The live room of a sponsor's dashboards (joined with ``watch``)."""
    return f"sponsor:{sid}"


def card_room(sid: str, cid: str) -> str:
    """The room of one customer card (joined by the page on ``card``, ``scan`` and ``claim``)."""
    return f"card:{sid}:{cid}"


def staff_room(sid: str, name: str) -> str:
    """The room of the connections watching with one staff key (closed when it is revoked)."""
    return f"staff:{sid}:{name}"


STAFF_ROOM_PREFIX = staff_room("", "")[:6]  # "staff:"


class Notifier:
    """Emit ``claim_update`` to a card and events to a sponsor room, via Redis."""

    def __init__(self, redis_url: str) -> None:
        from ult.service.cluster_manager import write_only_manager  # one server or a cluster

        self._manager = write_only_manager(redis_url, SOCKETIO_CHANNEL)

    def claim_update(self, sid: str, cid: str, claim: dict[str, Any]) -> None:
        """Tell the card's open pages that its claim changed (``cid``: the full card id)."""
        data = claim | {"now_ms": now_ms()}
        self._manager.emit("claim_update", data, room=card_room(sid, cid))

    def staff_revoked(self, sid: str, name: str) -> None:
        """Drop every live connection watching with the staff key ``name``, on every service
        process (each closes the room and disconnects its members: see ``ult.service.app``)."""
        self._manager.close_room(staff_room(sid, name))

    def close(self) -> None:
        """Release the Redis connection (the manager connects lazily, on the first emit)."""
        redis_client = getattr(self._manager, "redis", None)
        if redis_client is not None:
            redis_client.close()
