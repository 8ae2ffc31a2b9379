"""A stand-in for Apple's push service: an HTTP/2 server over cleartext (prior knowledge),
built on ``h2``, on 127.0.0.1. It records every request and answers what the test asks for
(200 by default; a queue of statuses such as 500 then 200, or 410; a delay). It runs in its
own thread and event loop, so the service under test (another process) and sync or async
tests alike can use it; it can be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events

from ult.embedded import free_port


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what the stub answered
    at: float = field(default_factory=time.monotonic)  # when the request had arrived


@dataclass
class ApnsStub:
    port: int = field(default_factory=free_port)
    default: int = 200
    delay_s: float = 0.0
    statuses: deque[int] = field(default_factory=deque)  # answered first, one per request
    pushes: list[Push] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def delivered(self, token: str | None = None) -> list[Push]:
        """The pushes answered 200 (to ``token``'s device only, when given)."""
        return [
            p for p in self.pushes if p.status == 200 and (token is None or p.path.endswith(token))
        ]

    def start(self) -> ApnsStub:
        async def listen() -> asyncio.AbstractServer:
            return await asyncio.start_server(self._serve, "127.0.0.1", self.port)

        self.server = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(5)
        return self

    def stop(self) -> None:
        """Close the server and every connection (APNs is down)."""

        async def close() -> None:
            if self.server is not None:
                self.server.close()
            for writer in list(self.writers):
                writer.close()
            if self.server is not None:
                await self.server.wait_closed()
            self.server = None

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, Push] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    self._on(event, conn, writer, streams)
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def _on(self, event: Any, conn: Any, writer: Any, streams: dict[int, Push]) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = {_text(k): _text(v) for k, v in event.headers}
            streams[event.stream_id] = Push(headers.get(":path", ""), headers, b"")
        elif isinstance(event, h2.events.DataReceived):
            streams[event.stream_id].body += event.data
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            push = streams.pop(event.stream_id)
            self.loop.create_task(self._answer(conn, writer, event.stream_id, push))

    async def _answer(self, conn: Any, writer: Any, stream_id: int, push: Push) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        push.status = self.statuses.popleft() if self.statuses else self.default
        self.pushes.append(push)
        ok = push.status == 200
        conn.send_headers(stream_id, [(":status", str(push.status))], end_stream=ok)
        if not ok:
            reason = {410: "Unregistered"}.get(push.status, "InternalServerError")
            conn.send_data(stream_id, json.dumps({"reason": reason}).encode(), end_stream=True)
        try:
            writer.write(conn.data_to_send())
            await writer.drain()
        except ConnectionError:
            pass


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
