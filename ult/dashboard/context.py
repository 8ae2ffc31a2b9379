"""What every panel of one dashboard page shares: settings, Redis, the place resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis

from ult.places import Resolver, resolver_from_settings
from ult.settings import Settings, load_settings

LIVE_BLOCK_MS = 1000  # XREAD BLOCK timeout: how soon a live reader notices it must stop


@dataclass
class Context:
    """One page's shared services. Redis connects lazily: building the page needs none."""

    settings: Settings = field(default_factory=load_settings)
    resolver_override: Resolver | None = None

    @cached_property
    def redis(self) -> redis.Redis:
        """The page's client (a pool: safe to share with the live reader's thread)."""
        return redis.Redis.from_url(
            self.settings.effective_redis_url,
            decode_responses=True,
            socket_connect_timeout=3,
            socket_timeout=10,
            client_name="ult-dashboard",
        )

    def live_redis(self, name: str) -> redis.Redis:
        """A dedicated client for one blocking reader (its socket outlives each XREAD BLOCK)."""
        return redis.Redis.from_url(
            self.settings.effective_redis_url,
            decode_responses=True,
            socket_connect_timeout=3,
            socket_timeout=LIVE_BLOCK_MS / 1000 + 5,
            client_name=name,
        )

    @cached_property
    def resolver(self) -> Resolver:
        """Google when GOOGLE_MAPS_API_KEY is set, else the offline resolver."""
        return self.resolver_override or resolver_from_settings(self.settings)

    def close(self) -> None:
        """Release the page's connections."""
        if "redis" in self.__dict__:
            self.redis.close()
