"""The ASGI application: python-socketio (Redis client manager) plus the HTTP routes."""

from __future__ import annotations

import logging

import redis.asyncio
import socketio
from starlette.applications import Starlette

from ult.connection import aretry
from ult.service.events import register_events
from ult.service.guards import Guards
from ult.service.notify import SOCKETIO_CHANNEL, STAFF_ROOM_PREFIX
from ult.service.pages import routes
from ult.service.strict import StrictServer
from ult.settings import Settings, load_settings
from ult.validation import MAX_PAYLOAD_BYTES

REDIS_CONNECTIONS = 64  # enough to keep Redis busy; more only adds contention
PUBLISH_CONNECTIONS = 16


class BoundedRedisManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager on a blocking pool: a burst of live events waits for
    a connection instead of failing (and reconnecting) past redis-py's default limit."""

    def _redis_connect(self) -> None:
        super()._redis_connect()
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            self.redis_url, max_connections=PUBLISH_CONNECTIONS, timeout=5, retry=aretry()
        )
        self.redis = redis.asyncio.Redis.from_pool(pool)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)

    async def _handle_close_room(self, message: dict) -> None:
        """A revoked staff key's room is closed: its connections are dropped, not just moved
        out of the room, so they stop receiving the sponsor's live events at once."""
        room, namespace = message.get("room") or "", message.get("namespace") or "/"
        if room.startswith(STAFF_ROOM_PREFIX):
            for conn, _ in list(self.get_participants(namespace, room)):
                await self.server.disconnect(conn, namespace=namespace, ignore_queue=True)
        await super()._handle_close_room(message)


def create_app(settings: Settings | None = None, redis_url: str | None = None) -> socketio.ASGIApp:
    """Build the service. Several processes on one Redis share Socket.IO rooms."""
    settings = settings or load_settings()
    url = redis_url or settings.effective_redis_url
    # A blocking pool: under a burst, scans queue for a connection instead of failing.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=5, decode_responses=True, retry=aretry()
    )
    r = redis.asyncio.Redis.from_pool(pool)
    manager = BoundedRedisManager(url, channel=SOCKETIO_CHANNEL)
    sio = StrictServer(
        async_mode="asgi",
        client_manager=manager,
        max_http_buffer_size=MAX_PAYLOAD_BYTES,
        logger=False,
        engineio_logger=False,
    )
    guards = Guards.from_settings(settings)
    register_events(sio, r, guards)
    web = Starlette(routes=routes(r, guards.health))

    async def shutdown() -> None:
        await r.aclose()

    return socketio.ASGIApp(sio, other_asgi_app=web, on_shutdown=shutdown)


def serve(
    settings: Settings | None = None, port: int | None = None, redis_url: str | None = None
) -> None:
    """Run the service under uvicorn until interrupted. No access log: it would keep IPs.

    Connections pass the gate (caps, header deadline); forwarded headers are read by the
    service itself, from trusted proxies only, so uvicorn's own reading is off.
    """
    import uvicorn

    from ult.service.gate import ConnectionGate

    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        create_app(settings, redis_url),
        host=settings.host,
        port=port or settings.port,
        access_log=False,
        log_level="warning",
        ws_max_size=MAX_PAYLOAD_BYTES * 2,
        http=ConnectionGate.from_settings(settings).protocol(),
        proxy_headers=False,
    )
