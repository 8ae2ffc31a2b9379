"""The two ceilings ULT is measured against, with the same client code and concurrency.

- A bare python-socketio server (``python -m ult.bench.baselines --port P``): the same ASGI
  stack as the scan service (python-socketio under uvicorn, same buffer limits), whose
  ``scan`` handler acks at once with an answer shaped like ULT's, touching no Redis. It is
  the transport ceiling.
- Raw ``XADD`` from redis-py asyncio (:class:`XaddTask`), one stream per sponsor, the
  same number of concurrent tasks: the storage ceiling.
"""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Any

import socketio

from ult.bench.stats import Recorder
from ult.rules import Rule
from ult.scans import ScanResult
from ult.schema import F
from ult.validation import MAX_PAYLOAD_BYTES


def sample_ack() -> dict[str, Any]:
    """What the bare server answers: a real scan ack (same fields and size as ULT's)."""
    result = ScanResult(
        sid="bench-sponsor-0000",
        biz="Bench Sponsor 0",
        cid="0" * 32,
        visits=1,
        points=1,
        rule=Rule(),
        next_scan_in=0,
        entry_id="1764110000000-0",
        duplicate=False,
        now_ms=1764110000000,
    )
    return result.to_ack()


async def _ping_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``GET /ping`` → 200, for readiness polling."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def create_bare_app() -> socketio.ASGIApp:
    """A Socket.IO server whose ``scan`` event is acked immediately, without storage."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        max_http_buffer_size=MAX_PAYLOAD_BYTES,
        logger=False,
        engineio_logger=False,
    )

    ack = sample_ack()

    async def scan(conn: str, *args: Any) -> dict[str, Any]:
        return ack

    sio.on("scan", scan)
    return socketio.ASGIApp(sio, other_asgi_app=_ping_app)


def serve_bare(port: int) -> None:
    """Run the bare server under uvicorn as ``ult serve`` runs the service."""
    import uvicorn

    uvicorn.run(
        create_bare_app(),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        ws_max_size=MAX_PAYLOAD_BYTES * 2,
    )


class XaddTask:
    """One raw-XADD 'client' of the storage ceiling, on a shared redis-py asyncio pool.

    It writes what the scan script writes for a scan (``t c v p`` fields) to a per-sponsor
    stream, with nothing else: no script, no card, no Socket.IO.
    """

    def __init__(self, index: int, r: Any, sids: tuple[str, ...]) -> None:
        self.index = index
        self.r = r
        self.streams = [xadd_stream(sid) for sid in sids]
        self.cid = secrets.token_hex(16)
        self.sent = 0

    async def connect(self) -> None:
        await self.r.ping()

    async def scan(self, rec: Recorder, started: float | None = None) -> None:
        """One XADD, recorded like a scan."""
        started = time.perf_counter() if started is None else started
        stream = self.streams[(self.index + self.sent) % len(self.streams)]
        self.sent += 1
        try:
            fields = {F.KIND: "scan", F.CARD: self.cid, F.VISIT: self.sent, F.POINTS: 1}
            await self.r.xadd(stream, fields)
        except Exception as e:  # counted, never raised
            rec.error(f"{type(e).__name__}: {e}")
            return
        rec.ok(started)

    async def close(self) -> None:
        return None


def xadd_stream(sid: str) -> str:
    """The baseline's stream for a sponsor (same hash tag as the sponsor's own keys)."""
    return f"ult:{{{sid}}}:bench-xadd"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ult.bench.baselines")
    parser.add_argument("--port", type=int, required=True)
    serve_bare(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
