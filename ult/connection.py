"""Connections to Redis, made from settings in one place.

``REDIS_URL`` may name one server or any node of a Redis Cluster: :func:`is_cluster` asks
the server (``INFO cluster``) and the clients built here are redis-py's cluster clients
when it is one. Every key of a sponsor carries its ``{sid}`` hash tag, so each script and
command of the core touches one slot and runs the same on both (see docs/scaling.md).

Every client retries a failed command on a fresh connection with an exponential backoff:
after Redis restarts (or a cluster fails over), the pool's old connections are dead, and a
retry on a new one succeeds instead of reporting an outage.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeAlias

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster

from ult.settings import Settings, load_settings

Client: TypeAlias = redis.Redis | RedisCluster  # what :func:`connect` makes
AsyncClient: TypeAlias = redis.asyncio.Redis | AsyncRedisCluster  # what :func:`aconnect` makes

RETRIES = 5  # waits 0.1 + 0.2 + 0.4 + 0.8 + 1 s: rides out a restart, not a long outage
RETRY_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=1.0, base=0.05)


def retry() -> redis.retry.Retry:
    """The retry policy of synchronous clients."""
    return redis.retry.Retry(_backoff(), RETRIES, supported_errors=RETRY_ERRORS)


def aretry() -> redis.asyncio.retry.Retry:
    """The retry policy of asyncio clients and pools (pass as ``retry=``)."""
    return redis.asyncio.retry.Retry(_backoff(), RETRIES, supported_errors=RETRY_ERRORS)


@cache
def is_cluster(url: str) -> bool:
    """Whether the server at ``url`` runs in cluster mode (asked once per URL)."""
    with redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5, retry=retry()) as r:
        return bool(int(r.info("cluster").get("cluster_enabled", 0)))


def _url(settings: Settings | None, url: str | None) -> str:
    return url or (settings or load_settings()).effective_redis_url


def _cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    options.pop("db", None)  # a cluster has only database 0
    return options


def connect(settings: Settings | None = None, url: str | None = None, **options: Any) -> Client:
    """A synchronous client with decoded responses (a cluster client on a cluster)."""
    url = _url(settings, url)
    options = {"decode_responses": True, "retry": retry(), **options}
    if is_cluster(url):
        return RedisCluster.from_url(url, **_cluster_options(options))
    return redis.Redis.from_url(url, **options)


def aconnect(
    settings: Settings | None = None, url: str | None = None, **options: Any
) -> AsyncClient:
    """An asyncio client with decoded responses (a cluster client on a cluster)."""
    url = _url(settings, url)
    options = {"decode_responses": True, "retry": aretry(), **options}
    if is_cluster(url):
        return AsyncRedisCluster.from_url(url, **_cluster_options(options))
    return redis.asyncio.Redis.from_url(url, **options)
