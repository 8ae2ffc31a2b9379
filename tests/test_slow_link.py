"""The slow-link proxy of benchmarks/slow_link.py against a real loopback echo server.

Nothing here times the machine: the assertions are on the proxy's own schedule (when each
byte was due on the link), which follows from its arithmetic, not from how late sleeps wake.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from slow_link import Direction, Profile, SlowLink  # noqa: E402

# fast enough for a test, slow enough that the link's queue really fills
FAST_UP = Profile(rtt_s=0.02, down_bps=1.6e6, up_bps=math.inf, handshake_rtts=2)
EPS = 1e-6  # float rounding of the schedule's sums


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def roundtrip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` through the proxy on ``port``, half-close, read the echo back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return data


async def test_bytes_pass_intact_in_order_and_are_counted(echo_port: int) -> None:
    payload = os.urandom(100_000)
    async with SlowLink(("127.0.0.1", echo_port), FAST_UP) as link:
        assert await roundtrip(link.port, payload) == payload
        stats = link.stats()
    assert stats.connections == 1
    assert stats.bytes_up == stats.bytes_down == len(payload)
    assert stats.conns[0].bytes_up == stats.conns[0].bytes_down == len(payload)


async def test_many_small_writes_keep_their_order(echo_port: int) -> None:
    lines = b"".join(b"%06d\n" % i for i in range(2000))
    async with SlowLink(("127.0.0.1", echo_port), FAST_UP) as link:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        for i in range(0, len(lines), 7):
            writer.write(lines[i : i + 7])
            await writer.drain()
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 30) == lines
        writer.close()


async def test_bandwidth_and_latency_are_in_the_schedule(echo_port: int) -> None:
    """100 KB down at 1.6 Mbit/s is due no sooner than 0.5 s after it entered the link, plus
    the one-way delay; and nothing entered before the 2 handshake round trips were over."""
    size = 100_000
    async with SlowLink(("127.0.0.1", echo_port), FAST_UP) as link:
        await roundtrip(link.port, os.urandom(size))
        stats = link.stats()
    conn = stats.conns[0]
    assert conn.ready == pytest.approx(conn.opened + 2 * FAST_UP.rtt_s)
    assert min(c.tx_start for c in stats.chunks) >= conn.ready - EPS
    down = [c for c in stats.chunks if not c.up]
    first, last = min(c.tx_start for c in down), max(c.release for c in down)
    assert last - first >= size * 8 / FAST_UP.down_bps + FAST_UP.one_way_s - EPS
    assert link.down.busy_until - link.down.first_tx_start >= size * 8 / 1.6e6 - EPS


async def test_all_connections_share_one_link_per_direction(echo_port: int) -> None:
    """Two connections at once: their segments take turns on the link, never overlapping,
    so both together take as long as their sum."""
    async with SlowLink(("127.0.0.1", echo_port), FAST_UP) as link:
        sent = [os.urandom(50_000), os.urandom(50_000)]
        got = await asyncio.gather(*(roundtrip(link.port, p) for p in sent))
        stats = link.stats()
    assert got == sent
    assert stats.connections == 2
    down = sorted((c for c in stats.chunks if not c.up), key=lambda c: c.tx_start)
    assert {c.conn for c in down} == {0, 1}
    for before, after in zip(down, down[1:], strict=False):
        assert after.tx_start >= before.tx_end - EPS
    assert down[-1].tx_end - down[0].tx_start >= 100_000 * 8 / FAST_UP.down_bps - EPS


def test_a_connection_in_its_handshake_holds_nobody_up() -> None:
    """A segment that may enter the link only later (its connection is still in its
    handshake) books that time; one ready now goes first instead of queueing behind it, and
    one too long for the gap goes after the booking."""
    link = Direction(bps=8000, one_way_s=0.05)  # a byte a millisecond
    later = link.schedule(100, ready=1.0, now=0.0)
    ready = link.schedule(100, ready=0.1, now=0.1)
    too_long = link.schedule(1000, ready=0.5, now=0.5)
    assert later[:2] == pytest.approx((1.0, 1.1))
    assert ready == pytest.approx((0.1, 0.2, 0.25))
    assert too_long[:2] == pytest.approx((1.1, 2.1))
    assert link.busy_until == pytest.approx(2.1)


async def test_bounded_and_stoppable(echo_port: int) -> None:
    link = await SlowLink(("127.0.0.1", echo_port), FAST_UP, max_connections=1).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
        writer.write(b"hi")
        assert await asyncio.wait_for(reader.readexactly(2), 10) == b"hi"
        r2, w2 = await asyncio.open_connection("127.0.0.1", link.port)
        assert await asyncio.wait_for(r2.read(), 10) == b""  # refused: closed at once
        w2.close()
        assert link.refused == 1
    finally:
        await link.stop()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # stop() cut the open connection
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", link.port)
