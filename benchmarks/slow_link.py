"""A slow mobile link on loopback: an asyncio TCP proxy that delays, throttles and accounts.

    async with SlowLink(("127.0.0.1", 8000), SLOW_4G) as link:
        ...  # point the client at link.url

The model, close to Lighthouse's "Slow 4G" (what Chrome DevTools calls it):

* latency: every chunk is held ``rtt / 2`` in each direction (a 150 ms round trip);
* bandwidth: ONE link per direction shared by all connections, like a phone's radio: a chunk
  is serialised onto it after every byte that was ready to go before it (first come, first
  served; a connection still in its handshake holds nobody up), at ``rate`` bits per second,
  then travels for the one-way delay. Only payload bytes count (no TCP, IP or TLS overhead);
* handshakes: a new connection passes its first byte only ``handshake_rtts`` round trips after
  it opened (TCP + TLS of an https site: 2).

Everything is scheduled from the proxy's own clock, so its accounting (:class:`Direction`,
:class:`Conn`) is exact and machine-independent even when the actual sleeps are late: tests
assert on it. :func:`run_in_thread` runs a link beside synchronous code (Playwright's sync API).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

SEGMENT = 8 * 1024  # a chunk is split so that a big read trickles out, as on a real link
QUEUE_SEGMENTS = 256  # per connection and direction: 2 MB in flight at most, then backpressure


@dataclass(frozen=True)
class Profile:
    """A link's shape. ``math.inf`` rates and 0 delays make a transparent proxy."""

    rtt_s: float
    down_bps: float
    up_bps: float
    handshake_rtts: int

    @property
    def one_way_s(self) -> float:
        return self.rtt_s / 2


SLOW_4G = Profile(rtt_s=0.150, down_bps=1.6e6, up_bps=750e3, handshake_rtts=2)
UNTHROTTLED = Profile(rtt_s=0.0, down_bps=math.inf, up_bps=math.inf, handshake_rtts=0)


@dataclass
class Chunk:
    """One segment as the proxy saw it: on the wire from ``sent`` (proxy got it from the
    sender), serialised onto the link from ``tx_start`` to ``tx_end``, handed to the receiver
    at ``release``. Times are ``time.time()`` seconds."""

    conn: int
    up: bool
    size: int
    sent: float
    tx_start: float
    tx_end: float
    release: float


@dataclass
class Direction:
    """One direction of the shared link, drained at ``bps``: each segment takes the first
    free time on it from when it may enter (first come, first served among those ready)."""

    bps: float
    one_way_s: float
    bytes: int = 0
    busy_until: float = 0.0  # when the last byte booked so far leaves the sender
    first_tx_start: float | None = None
    last_release: float = 0.0
    # (start, end) of the bookings still to come, by start. A connection in its handshake
    # books ahead; the others' segments use the link before it meanwhile, as on a radio.
    booked: list[tuple[float, float]] = field(default_factory=list)

    def schedule(self, size: int, ready: float, now: float = 0.0) -> tuple[float, float, float]:
        """Book ``size`` bytes that may enter the link at ``ready`` (bookings that ended by
        ``now`` are forgotten): (tx_start, tx_end, release)."""
        duration = size * 8 / self.bps if math.isfinite(self.bps) else 0.0
        self.booked = [b for b in self.booked if b[1] > now]
        start = ready
        for b_start, b_end in self.booked:
            if start + duration <= b_start:
                break
            start = max(start, b_end)
        end = start + duration
        bisect.insort(self.booked, (start, end))
        self.busy_until = max(self.busy_until, end)
        self.bytes += size
        if self.first_tx_start is None:
            self.first_tx_start = start
        release = end + self.one_way_s
        self.last_release = max(self.last_release, release)
        return start, end, release


@dataclass
class Conn:
    """One proxied connection's accounting."""

    id: int
    opened: float
    ready: float  # when its handshakes are done and its first byte may go
    bytes_up: int = 0
    bytes_down: int = 0
    closed: float | None = None
    sent_up: float = 0.0  # when its last byte booked on the link in each direction is sent
    sent_down: float = 0.0


@dataclass
class Stats:
    """Totals of a link: a snapshot is a plain copy (safe to read from another thread)."""

    connections: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    conns: list[Conn] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)


class SlowLink:
    """The proxy: listens on 127.0.0.1 (a free port unless given), forwards to ``target``.

    Bounded: at most ``max_connections`` open at once (more are closed at once and counted as
    refused), at most ``QUEUE_SEGMENTS`` segments buffered per connection and direction, and
    at most ``max_log`` chunks logged. :meth:`stop` closes the listener and every connection.
    """

    def __init__(
        self,
        target: tuple[str, int],
        profile: Profile = SLOW_4G,
        port: int = 0,
        max_connections: int = 64,
        max_log: int = 100_000,
    ) -> None:
        self.target, self.profile, self.port = target, profile, port
        self.max_connections, self.max_log = max_connections, max_log
        self.up = Direction(profile.up_bps, profile.one_way_s)
        self.down = Direction(profile.down_bps, profile.one_way_s)
        self.conns: list[Conn] = []
        self.chunks: list[Chunk] = []
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> SlowLink:
        self.loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Cut every open connection, keep listening: the next request needs new handshakes."""
        for w in list(self._writers):
            w.close()

    def threadsafe(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the link's loop from another thread (see :func:`run_in_thread`)."""
        assert self.loop is not None, "not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def idle_for(self) -> float:
        """Seconds since the last byte was handed over in either direction."""
        return time.time() - max(self.up.last_release, self.down.last_release)

    async def __aenter__(self) -> SlowLink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def stats(self) -> Stats:
        """A copy of the accounting so far."""
        return Stats(
            connections=len(self.conns),
            refused=self.refused,
            bytes_up=self.up.bytes,
            bytes_down=self.down.bytes,
            conns=[Conn(**c.__dict__) for c in self.conns],
            chunks=list(self.chunks),
        )

    def open_now(self) -> int:
        return sum(1 for c in self.conns if c.closed is None)

    # ---- one connection --------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            if self.open_now() >= self.max_connections:
                self.refused += 1
                return
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # stop() cut it; a cancelled callback task would be logged as an error
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        now = time.time()
        conn = Conn(len(self.conns), now, now + self.profile.handshake_rtts * self.profile.rtt_s)
        self.conns.append(conn)
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.target)
        except OSError:
            conn.closed = time.time()
            return
        self._writers.add(s_writer)
        try:
            await asyncio.gather(
                self._pipe(conn, c_reader, s_writer, up=True),
                self._pipe(conn, s_reader, c_writer, up=False),
            )
        finally:
            self._writers.discard(s_writer)
            s_writer.close()
            conn.closed = time.time()

    async def _pipe(
        self, conn: Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
    ) -> None:
        """Read one side, schedule each segment on the shared link, deliver it in order."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_SEGMENTS)
        deliver = asyncio.create_task(self._deliver(queue, writer))
        try:
            while data := await reader.read(64 * 1024):
                for i in range(0, len(data), SEGMENT):
                    await queue.put(self._schedule(conn, data[i : i + SEGMENT], up))
        except (ConnectionError, OSError):
            pass
        finally:
            await queue.put(None)
            await asyncio.gather(deliver, return_exceptions=True)

    def _schedule(self, conn: Conn, seg: bytes, up: bool) -> tuple[float, bytes]:
        # handshakes: a segment may enter the link only once its connection is "open";
        # waiting is done by the deliverer, so the link itself never idles for it
        now = time.time()
        link = self.up if up else self.down
        after = conn.sent_up if up else conn.sent_down  # a connection's bytes stay in order
        start, end, release = link.schedule(len(seg), max(now, conn.ready, after), now)
        if up:
            conn.sent_up = end
        else:
            conn.sent_down = end
        if up:
            conn.bytes_up += len(seg)
        else:
            conn.bytes_down += len(seg)
        if len(self.chunks) < self.max_log:
            self.chunks.append(Chunk(conn.id, up, len(seg), now, start, end, release))
        return release, seg

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        """Hand segments to the receiver at their release times (in order: they only grow).
        Once the receiver is gone the rest is dropped, so that the reader never blocks."""
        alive = True
        while (item := await queue.get()) is not None:
            release, seg = item
            if not alive:
                continue
            if (wait := release - time.time()) > 0:
                await asyncio.sleep(wait)
            try:
                writer.write(seg)
                await writer.drain()
            except (ConnectionError, OSError):
                alive = False
                writer.close()
        if alive and writer.can_write_eof():
            with contextlib.suppress(ConnectionError, OSError):
                writer.write_eof()


@contextlib.contextmanager
def run_in_thread(target: tuple[str, int], profile: Profile = SLOW_4G) -> Iterator[SlowLink]:
    """A started :class:`SlowLink` on its own event loop in a daemon thread; stopped on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="slow-link", daemon=True)
    thread.start()
    try:
        link = asyncio.run_coroutine_threadsafe(SlowLink(target, profile).start(), loop).result(10)
        try:
            yield link
        finally:
            link.threadsafe(link.stop())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
