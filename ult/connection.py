"""Connections to Redis, made from settings in one place."""

from __future__ import annotations

import redis

from ult.settings import Settings, load_settings


def connect(settings: Settings | None = None, url: str | None = None) -> redis.Redis:
    """A synchronous client with decoded responses."""
    url = url or (settings or load_settings()).effective_redis_url
    return redis.Redis.from_url(url, decode_responses=True)
