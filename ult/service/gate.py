"""Connection admission under uvicorn: caps per address and in all, a header deadline and a
bound on header bytes.

uvicorn has no deadline for receiving a request's headers (its keep-alive timer restarts on
every byte) and, with httptools, no bound on their size, so half-sent or endless requests would
hold file handles and memory until the process has none left. The gate wraps uvicorn's HTTP
protocol: a connection over its address's cap is closed at once, one that has not finished its
request headers within the deadline is closed, and one whose headers pass
``MAX_HEADER_BYTES`` is answered 431 and closed. A connection upgraded to a websocket stays
counted until it closes.

A full server is no lockout. A newcomer whose address holds less than its fair share (the cap
over the addresses holding something) gets the slot of the oldest connection of the address
holding the most, which is closed. When nobody holds more than the newcomer, a small reserve
of connections (one per address) still answers ``/healthz`` and nothing else.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ult.addresses import TrustedProxies, address_key
from ult.service.strict import RefusalLog
from ult.settings import Settings

RESERVED_HANDLES = 256  # Redis pools, logs, files served: what the process needs besides clients
# Request line and headers of one request; past it: 431. Browsers send ~1-2 KB, a page with
# every cookie a few KB; nginx's own default buffers stop at 8 KB a line.
MAX_HEADER_BYTES = 16 * 1024
HEALTH_RESERVE = 32  # connections over the cap that may ask /healthz only (one per address)
HEALTH_PATH = "/healthz"
HEADERS_END = b"\r\n\r\n"
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: 24\r\nconnection: close\r\n\r\nrequest headers too large"
)
SERVER_FULL = b"server full, try again\n"


def handle_limit() -> int:
    """Raise the soft file-handle limit to the hard one; return what is usable for clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(soft - RESERVED_HANDLES, 16)


@dataclass(eq=False)
class Slot:
    """One admitted connection: what the gate releases when it closes (once)."""

    key: str  # the client address key ('' for a trusted proxy: not counted per address)
    transport: asyncio.Transport
    reserve: bool = False  # over the cap: may ask /healthz only
    released: bool = False


class ConnectionGate:
    """Counts open connections per client address (the TCP peer, unless it is a trusted
    proxy, which limits its clients itself) and in all."""

    def __init__(
        self, per_address: int, total: int, header_timeout_s: float, trusted: TrustedProxies
    ) -> None:
        usable = handle_limit()
        self.total_cap = min(total, usable) if total else usable
        self.per_address = per_address
        self.header_timeout_s = header_timeout_s
        self.trusted = trusted
        self.open = 0
        self.held: dict[str, dict[Slot, None]] = {}  # address → its open slots, oldest first
        self.reserve_held: set[str] = set()  # addresses holding a reserve slot
        self.refusals = RefusalLog()

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionGate:
        return cls(
            settings.connections_per_address,
            settings.max_connections,
            settings.header_timeout_s,
            TrustedProxies(settings.trusted_proxies),
        )

    def admit(self, peer: str | None, transport: asyncio.Transport) -> Slot | None:
        """The connection's slot, or None when it must be refused."""
        key = "" if peer in self.trusted else address_key(peer)
        mine = len(self.held.get(key, ())) if key else 0
        if key and self.per_address and mine >= self.per_address:
            self.refusals.note("too many connections from one address")
            return None
        if self.open >= self.total_cap and not self._make_room(key, mine):
            return self._reserve(key, transport)
        slot = Slot(key, transport)
        self.open += 1
        if key:
            self.held.setdefault(key, {})[slot] = None
        return slot

    def _make_room(self, key: str, mine: int) -> bool:
        """Close the oldest connection of the address holding the most, when the newcomer's
        address (holding ``mine``) is under its fair share and that one holds more."""
        if not key or not self.held:
            return False
        share = self.total_cap // (len(self.held) + (0 if mine else 1))
        if mine >= share:
            return False
        heaviest = max(self.held.values(), key=len)
        if len(heaviest) <= mine + 1:
            return False
        evicted = next(iter(heaviest))
        self.release(evicted)
        evicted.transport.abort()
        self.refusals.note("closed for a newcomer (server full)")
        return True

    def _reserve(self, key: str, transport: asyncio.Transport) -> Slot | None:
        if len(self.reserve_held) >= HEALTH_RESERVE or key in self.reserve_held:
            self.refusals.note("connection cap reached")
            return None
        self.reserve_held.add(key)
        return Slot(key, transport, reserve=True)

    def release(self, slot: Slot) -> None:
        """Give back ``slot`` (again: nothing)."""
        if slot.released:
            return
        slot.released = True
        if slot.reserve:
            self.reserve_held.discard(slot.key)
            return
        self.open -= 1
        mine = self.held.get(slot.key)
        if mine is not None:
            mine.pop(slot, None)
            if not mine:
                del self.held[slot.key]

    def protocol(self) -> type[asyncio.Protocol]:
        """uvicorn's HTTP protocol class, admitted through this gate (pass as ``http=``)."""
        return type(GatedHTTPProtocol.__name__, (GatedHTTPProtocol,), {"gate": self})


class GatedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with the caps, the header deadline and the header bound of
    :attr:`gate` (a subclass per gate: :meth:`ConnectionGate.protocol`)."""

    gate: ConnectionGate
    app: Any  # uvicorn's: the ASGI app this connection's requests go to
    _slot: Slot | None = None  # what to release when the connection closes (None: nothing)
    _deadline: asyncio.TimerHandle | None = None
    _armed_cycle: Any = None  # the request cycle the headers are awaited after
    _in_headers = False  # reading a request's headers (counted against MAX_HEADER_BYTES)
    _header_bytes = 0
    _tail = b""  # the last bytes read, to find a header end split over two reads

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._slot = self.gate.admit(peer[0] if isinstance(peer, tuple) else None, transport)
        if self._slot is None:
            transport.abort()
            return
        if self._slot.reserve:
            self.app = health_only(self.app)
        self._arm()

    def _arm(self) -> None:
        """Await the headers of the connection's next request (bytes counted, deadline set)."""
        self._disarm()
        self._in_headers, self._header_bytes, self._tail = True, 0, b""
        self._armed_cycle = self.cycle
        if self.gate.header_timeout_s:
            self._deadline = self.loop.call_later(self.gate.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        self._in_headers = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.gate.refusals.note("request headers too slow")
        self.transport.abort()

    def _headers_too_large(self, data: bytes) -> bool:
        """Count ``data`` against the header bound; True when the headers pass it."""
        seen = self._tail + data
        end = seen.find(HEADERS_END)
        if end >= 0:  # the headers end in this read; what follows is a body or the next request
            return self._header_bytes - len(self._tail) + end + len(HEADERS_END) > MAX_HEADER_BYTES
        self._header_bytes += len(data)
        self._tail = seen[-(len(HEADERS_END) - 1) :]
        return self._header_bytes > MAX_HEADER_BYTES

    def data_received(self, data: bytes) -> None:
        if self._slot is None or self.transport.is_closing():
            return  # refused: not one more byte is parsed
        if self._in_headers and self._headers_too_large(data):
            self._disarm()
            self.gate.refusals.note("request headers too large")
            self.transport.write(TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)
        handler = self.transport.get_protocol()
        if handler is not self:  # upgraded to a websocket: count it until it closes
            self._disarm()
            self._hand_over(handler)
        elif self._in_headers and self.cycle is not self._armed_cycle:
            self._disarm()  # the headers of a new request are in

    def _hand_over(self, handler: asyncio.BaseProtocol) -> None:
        """The websocket ``handler`` took the connection: it releases the gate's slot."""
        slot, self._slot = self._slot, None
        if slot is None:
            return
        if slot.reserve:  # a reserve slot serves /healthz only
            self.gate.release(slot)
            self.transport.abort()
            return
        lost = handler.connection_lost
        handler.connection_lost = partial(_release_then, self.gate, slot, lost)  # type: ignore[method-assign]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._slot is not None and self._slot.reserve:
            self.transport.close()  # one answer per reserve slot: it cannot be held
        elif not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._slot is not None:
            self.gate.release(self._slot)
        super().connection_lost(exc)


def health_only(app: Any) -> Any:
    """``app`` for a reserve connection: ``/healthz`` is served, anything else gets 503."""

    async def only_health(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH:
            return await app(scope, receive, send)
        headers = [(b"content-type", b"text/plain"), (b"retry-after", b"5")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": SERVER_FULL})

    return only_health


def _release_then(
    gate: ConnectionGate,
    slot: Slot,
    lost: Callable[[Exception | None], None],
    exc: Exception | None,
) -> None:
    """A handed-over connection closed: release its slot, then run the handler's own close."""
    gate.release(slot)
    lost(exc)
