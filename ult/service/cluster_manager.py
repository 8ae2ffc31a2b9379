"""Socket.IO across processes on a Redis Cluster: client managers over sharded pub/sub.

python-socketio's Redis managers speak plain ``PUBLISH``/``SUBSCRIBE`` to one server and do
not know Redis Cluster. On a cluster, a plain ``PUBLISH`` is broadcast to every node over
the cluster bus; sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``) stays on the shard that owns
the channel's slot, which is all one Socket.IO channel needs. Every service process listens
on the channel through that shard; the dashboard kernel publishes to it (write-only).

:func:`client_manager` and :func:`write_only_manager` pick python-socketio's own Redis
managers on one server and these on a cluster, so callers need not care.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from socketio.async_pubsub_manager import AsyncPubSubManager

from ult.connection import is_cluster

log = logging.getLogger("ult.service")

LISTEN_POLL_S = 1.0  # how long one read of the shard waits for a message
RETRY_MAX_S = 5.0  # longest pause between attempts to resubscribe after a failure


class AsyncClusterManager(AsyncPubSubManager):
    """The service's manager on a cluster: ``SPUBLISH`` to emit, ``SSUBSCRIBE`` to listen."""

    name = "ult-cluster"

    def __init__(
        self, url: str, channel: str = "socketio", write_only: bool = False, logger: Any = None
    ) -> None:
        super().__init__(channel=channel, write_only=write_only, logger=logger)
        self.url = url
        self._client: AsyncRedisCluster | None = None

    async def _redis(self) -> AsyncRedisCluster:
        if self._client is None:
            client = AsyncRedisCluster.from_url(self.url)
            await client.initialize()  # pubsub() needs the slot map
            self._client = client
        return self._client

    async def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release cleanly
                await client.aclose()

    async def _publish(self, data: Any) -> None:
        payload = self.json.dumps(data)
        for attempt in range(2):
            try:
                client = await self._redis()
                await client.spublish(self.channel, payload)
                return
            except Exception as exc:
                await self._reset()
                if attempt:
                    log.warning("live event not published: %s", exc)

    async def _listen(self) -> AsyncIterator[Any]:
        pause = 0.1
        while True:
            pubsub = None
            try:
                client = await self._redis()
                pubsub = client.pubsub()
                await pubsub.ssubscribe(self.channel)
                pause = 0.1
                while True:
                    message = await pubsub.get_sharded_message(
                        ignore_subscribe_messages=True, timeout=LISTEN_POLL_S
                    )
                    if message and message.get("type") == "smessage":
                        yield message["data"]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the shard's master died or moved: subscribe again
                log.warning("live events: resubscribing after %s", type(exc).__name__)
                await self._reset()
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()


class ClusterWriteManager(socketio.PubSubManager):
    """A synchronous, write-only emitter on a cluster (the dashboard kernel's)."""

    name = "ult-cluster-write"

    def __init__(self, url: str, channel: str = "socketio") -> None:
        super().__init__(channel=channel, write_only=True)
        self.url = url
        self.redis: RedisCluster | None = None  # connects on the first emit

    def _publish(self, data: Any) -> None:
        payload = self.json.dumps(data)
        for attempt in range(2):
            try:
                if self.redis is None:
                    self.redis = RedisCluster.from_url(self.url)
                self.redis.spublish(self.channel, payload)
                return
            except Exception as exc:
                if self.redis is not None:
                    self.redis.close()
                self.redis = None
                if attempt:
                    log.warning("live event not published: %s", exc)


def client_manager(url: str, channel: str, manager: type | None = None) -> Any:
    """The service's Socket.IO client manager: ``manager`` (default python-socketio's
    ``AsyncRedisManager``) on one server, :class:`AsyncClusterManager` on a cluster."""
    if is_cluster(url):
        return AsyncClusterManager(url, channel=channel)
    return (manager or socketio.AsyncRedisManager)(url, channel=channel)


def write_only_manager(url: str, channel: str) -> Any:
    """An emitter for processes outside the service (python-socketio's, or ours on a cluster)."""
    if is_cluster(url):
        return ClusterWriteManager(url, channel=channel)
    return socketio.RedisManager(url, channel=channel, write_only=True)
