"""Connections to Redis, made from settings in one place.

``REDIS_URL`` may name one server or any node of a Redis Cluster: :func:`is_cluster` asks
the server (``INFO cluster``) and the clients built here are redis-py's cluster clients
when it is one. Every key of a sponsor carries its ``{sid}`` hash tag, so each script and
command of the core touches one slot and runs the same on both (see docs/scaling.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster

from ult.settings import Settings, load_settings

# A failover takes a few seconds: retry long enough to ride out a dropped connection, not
# so long that a customer's phone waits in silence (the page retries `unavailable` itself).
RETRIES = 3
BACKOFF = (0.05, 0.5)  # base and cap of the exponential backoff, seconds


@cache
def is_cluster(url: str) -> bool:
    """Whether the server at ``url`` runs in cluster mode (asked once per URL)."""
    with redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5) as r:
        return bool(int(r.info("cluster").get("cluster_enabled", 0)))


def _url(settings: Settings | None, url: str | None) -> str:
    return url or (settings or load_settings()).effective_redis_url


def _cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    options.pop("db", None)  # a cluster has only database 0
    return options


def connect(
    settings: Settings | None = None, url: str | None = None, **options: Any
) -> redis.Redis | RedisCluster:
    """A synchronous client with decoded responses (a cluster client on a cluster)."""
    url = _url(settings, url)
    options = {"decode_responses": True, **options}
    if is_cluster(url):
        return RedisCluster.from_url(url, **_cluster_options(options))
    return redis.Redis.from_url(url, **options)


def aconnect(
    settings: Settings | None = None, url: str | None = None, **options: Any
) -> redis.asyncio.Redis | AsyncRedisCluster:
    """An asyncio client with decoded responses (a cluster client on a cluster)."""
    url = _url(settings, url)
    options = {"decode_responses": True, **options}
    if is_cluster(url):
        from redis.asyncio.retry import Retry

        backoff = ExponentialWithJitterBackoff(base=BACKOFF[0], cap=BACKOFF[1])
        options.setdefault("retry", Retry(backoff, RETRIES))
        return AsyncRedisCluster.from_url(url, **_cluster_options(options))
    return redis.asyncio.Redis.from_url(url, **options)
