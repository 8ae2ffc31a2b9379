"""Connection admission under uvicorn: caps per address and in all, and a header deadline.

uvicorn has no deadline for receiving a request's headers (its keep-alive timer restarts on
every byte), so thousands of half-sent requests would hold file handles until the process has
none left. The gate wraps uvicorn's HTTP protocol: a connection over the caps is closed at
once, and one that has not finished its request headers within the deadline is closed. A
connection upgraded to a websocket stays counted until it closes.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from functools import partial
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ult.addresses import TrustedProxies, address_key
from ult.service.ratelimit import OpenCounts
from ult.service.strict import RefusalLog
from ult.settings import Settings

RESERVED_HANDLES = 256  # Redis pools, logs, files served: what the process needs besides clients


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


class ConnectionGate:
    """Counts open connections per client address (the TCP peer, unless it is a trusted
    proxy, which limits its clients itself) and in all."""

    def __init__(
        self, per_address: int, total: int, header_timeout_s: float, trusted: TrustedProxies
    ) -> None:
        usable = handle_limit()
        self.total_cap = min(total, usable) if total else usable
        self.per_address = OpenCounts(per_address)
        self.header_timeout_s = header_timeout_s
        self.trusted = trusted
        self.open = 0
        self.refusals = RefusalLog()

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionGate:
        return cls(
            settings.connections_per_address,
            settings.max_connections,
            settings.header_timeout_s,
            TrustedProxies(settings.trusted_proxies),
        )

    def admit(self, peer: str | None) -> str | None:
        """The key to release later, or None when the connection must be refused."""
        if self.open >= self.total_cap:
            self.refusals.note("connection cap reached")
            return None
        key = "" if peer in self.trusted else address_key(peer)
        if key and not self.per_address.acquire(key):
            self.refusals.note("too many connections from one address")
            return None
        self.open += 1
        return key

    def release(self, key: str) -> None:
        self.open -= 1
        if key:
            self.per_address.release(key)

    def protocol(self) -> type[asyncio.Protocol]:
        """uvicorn's HTTP protocol class, admitted through this gate (pass as ``http=``)."""
        return type(GatedHTTPProtocol.__name__, (GatedHTTPProtocol,), {"gate": self})


class GatedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with the caps and the header deadline of :attr:`gate` (a
    subclass per gate: :meth:`ConnectionGate.protocol`)."""

    gate: ConnectionGate
    _key: str | None = None  # what to release when the connection closes (None: nothing)
    _deadline: asyncio.TimerHandle | None = None
    _armed_cycle: Any = None  # the request cycle the deadline was set for

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._key = self.gate.admit(peer[0] if isinstance(peer, tuple) else None)
        if self._key is None:
            transport.abort()
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        if self.gate.header_timeout_s:
            self._armed_cycle = self.cycle
            self._deadline = self.loop.call_later(self.gate.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.gate.refusals.note("request headers too slow")
        self.transport.abort()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        handler = self.transport.get_protocol()
        if handler is not self:  # upgraded to a websocket: count it until it closes
            self._disarm()
            self._hand_over(handler)
        elif self._deadline is not None and self.cycle is not self._armed_cycle:
            self._disarm()  # the headers of a new request are in

    def _hand_over(self, handler: asyncio.BaseProtocol) -> None:
        """The websocket ``handler`` took the connection: it releases the gate's count."""
        key, self._key = self._key, None
        if key is not None:
            lost = handler.connection_lost
            handler.connection_lost = partial(_release_then, self.gate, key, lost)  # type: ignore[method-assign]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._key is not None:
            self.gate.release(self._key)
            self._key = None
        super().connection_lost(exc)


def _release_then(
    gate: ConnectionGate, key: str, lost: Callable[[Exception | None], None], exc: Exception | None
) -> None:
    """A handed-over connection closed: release its count, then run the handler's own close."""
    gate.release(key)
    lost(exc)
