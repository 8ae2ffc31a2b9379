"""A Socket.IO server that refuses what ULT's protocol does not use, at once and for free.

python-socketio would buffer every binary attachment an event declares until the last one
arrives, and log a traceback for every malformed frame. ULT's events are small JSON objects,
so a binary frame, a frame that does not parse, or an event nobody handles closes the
connection before anything is held; refusals are logged as a summary at most once a minute.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import socketio
from socketio import packet

log = logging.getLogger("ult.service")

SUMMARY_EVERY_S = 60.0
# Events the server itself raises: a client must never send these names.
RESERVED = frozenset({"connect", "disconnect", "connect_error", "message"})


class RefusalLog:
    """Counts refused frames by kind; one log line per ``every_s`` at most, never per frame
    (``what`` names the things counted in that line)."""

    def __init__(
        self, every_s: float = SUMMARY_EVERY_S, what: str = "refused and closed connections"
    ) -> None:
        self.every_s = every_s
        self.what = what
        self.counts: Counter[str] = Counter()
        self.total: Counter[str] = Counter()  # since start, for tests and benchmarks
        self._last = float("-inf")

    def note(self, kind: str) -> None:
        self.counts[kind] += 1
        self.total[kind] += 1
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            summary = ", ".join(f"{k} {n}" for k, n in sorted(self.counts.items()))
            log.warning("%s: %s (since the last summary)", self.what, summary)
            self.counts.clear()


class StrictServer(socketio.AsyncServer):
    """``socketio.AsyncServer`` that closes a connection on its first binary frame, malformed
    frame or unknown event. Handled events and connects behave as usual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals = RefusalLog()
        self.namespace_events: dict[str, frozenset[str]] = {}  # namespace → its event names

    def register_namespace(self, namespace_handler: socketio.AsyncNamespace) -> None:
        """Serve a class-based namespace; its events are its ``on_<event>`` methods."""
        super().register_namespace(namespace_handler)
        names = (n.removeprefix("on_") for n in dir(namespace_handler) if n.startswith("on_"))
        self.namespace_events[namespace_handler.namespace] = frozenset(names)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str) or data[:1] in ("5", "6"):
            # a binary event or ack: refuse before the first attachment is buffered
            return await self.refuse(eio_sid, "binary")
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # any parse failure: bad JSON, bad ids, bad counts
            return await self.refuse(eio_sid, "malformed")
        kind = pkt.packet_type
        if kind == packet.EVENT:
            if not self._known_event(pkt):
                return await self.refuse(eio_sid, "unknown event")
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        else:  # the server never asks a client for an ack
            await self.refuse(eio_sid, "unexpected packet")

    def _known_event(self, pkt: packet.Packet) -> bool:
        data = pkt.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return False
        name, namespace = data[0], pkt.namespace or "/"
        if name in RESERVED:
            return False
        handled = self.handlers.get(namespace, ())
        return name in handled or name in self.namespace_events.get(namespace, ())

    async def refuse(self, eio_sid: str, kind: str) -> None:
        """Close the Engine.IO connection ``eio_sid`` at once and count why."""
        self.refusals.note(kind)
        self._binary_packet.pop(eio_sid, None)
        sock = self.eio.sockets.get(eio_sid)
        await self.eio.disconnect(eio_sid)  # says goodbye (an Engine.IO close packet)
        if sock is not None:
            # and hangs up: engineio would otherwise keep reading the websocket until the
            # client leaves or a ping times out (45 s)
            sock.queue.put_nowait(None)

    async def drop(self, sid: str, kind: str) -> None:
        """Close the connection of Socket.IO client ``sid`` (e.g. one that keeps flooding)."""
        eio_sid = self.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            await self.refuse(eio_sid, kind)
