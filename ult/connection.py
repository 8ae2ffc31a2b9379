"""Connections to Redis, made from settings in one place.

Every client retries a failed command on a fresh connection with an exponential backoff:
after Redis restarts, the pool's old connections are dead, and a retry on a new one
succeeds instead of reporting an outage.
"""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialBackoff

from ult.settings import Settings, load_settings

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


def connect(settings: Settings | None = None, url: str | None = None) -> redis.Redis:
    """A synchronous client with decoded responses."""
    url = url or (settings or load_settings()).effective_redis_url
    return redis.Redis.from_url(url, decode_responses=True, retry=retry())
