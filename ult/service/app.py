"""The ASGI application: python-socketio (Redis client manager) plus the HTTP routes."""

from __future__ import annotations

import gc

import redis.asyncio
import socketio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ult.connection import aconnect, aretry, is_cluster
from ult.replicas import ReplicatedPipeline, parse_acks
from ult.service import metrics
from ult.service.cluster_manager import client_manager
from ult.service.events import register_events
from ult.service.guards import Guards
from ult.service.notify import SOCKETIO_CHANNEL, STAFF_ROOM_PREFIX
from ult.service.pages import routes
from ult.service.passkit import PassKit
from ult.service.strict import StrictServer
from ult.service.wallet import WalletDesk
from ult.settings import Settings, load_settings
from ult.validation import MAX_PAYLOAD_BYTES
from ult.wallet.push import Pusher
from ult.wallet.setup import Wallets

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
    """Build the service. Several processes on one Redis (or one cluster) share Socket.IO
    rooms. With no arguments it reads the settings: the app factory of worker processes."""
    settings = settings or load_settings()
    url = redis_url or settings.effective_redis_url
    if is_cluster(url):
        # a cluster client fails fast; the pipeline reloads the layout (see ult.replicas)
        r = aconnect(url=url, retry=Retry(NoBackoff(), 0))
    else:
        # A blocking pool: under a burst, scans queue for a connection instead of failing.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_CONNECTIONS,
            timeout=5,
            decode_responses=True,
            retry=aretry(),
        )
        r = redis.asyncio.Redis.from_pool(pool)
    manager = client_manager(url, SOCKETIO_CHANNEL, BoundedRedisManager)
    sio = StrictServer(
        async_mode="asgi",
        client_manager=manager,
        max_http_buffer_size=MAX_PAYLOAD_BYTES,
        transports=["websocket"],  # the pages use no polling: its sessions escape the gate
        logger=False,
        engineio_logger=False,
    )
    guards = Guards.from_settings(settings)
    acks = parse_acks(settings.replica_acks)
    pipeline = None  # one server without replica acks: the plain pipeline
    if acks != 0 or is_cluster(url):  # on a cluster it also reloads the layout after failures
        pipeline = ReplicatedPipeline(r, acks, settings.replica_timeout_ms)
    wallets = Wallets.from_settings(settings)
    register_events(sio, r, guards, pipeline, WalletDesk(r, wallets) if wallets else None)
    pages = routes(r, guards.health, wallets.kinds if wallets else ())
    if wallets and wallets.apple:
        pages += PassKit(r, wallets.apple).routes()
    web = Starlette(routes=[*pages, Route("/metrics", metrics_page)])
    pusher: list[Pusher] = []  # made in the server's event loop

    async def startup() -> None:
        if wallets:
            pusher.append(Pusher(r, wallets, count_push))
            sio.start_background_task(pusher[0].run_forever)

    async def shutdown() -> None:
        for running in pusher:
            await running.aclose()
        if wallets:
            await wallets.aclose()
        await r.aclose()
        metrics.process_exited()

    # What the service holds for its lifetime (modules, catalogs, scripts) is never garbage:
    # keep it out of the collector's full passes, which otherwise stall the event loop for
    # tens of milliseconds as the heap grows.
    gc.freeze()
    return socketio.ASGIApp(sio, other_asgi_app=web, on_startup=startup, on_shutdown=shutdown)


def count_push(outcome: str) -> None:
    """Count one wallet push's outcome in /metrics."""
    metrics.WALLET_PUSHES.labels(outcome).inc()


async def metrics_page(request: Request) -> Response:
    """Prometheus metrics of every worker process (no per-customer labels)."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


def serve(
    settings: Settings | None = None, port: int | None = None, redis_url: str | None = None
) -> None:
    """Run the service until interrupted (``ULT_WORKERS`` processes: see ult.service.workers)."""
    from ult.service.workers import serve as serve_workers

    serve_workers(settings, port, redis_url)
