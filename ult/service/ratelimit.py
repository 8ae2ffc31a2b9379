"""A token bucket per Socket.IO connection: bursts are fine, floods are refused."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float = 20.0
    burst: float = 40.0
    tokens: float = 40.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self, now: float | None = None) -> bool:
        """Spend one token; False when the bucket is empty."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ConnectionLimits:
    """The buckets of the live connections of one process (``rate`` 0: no limit)."""

    def __init__(self, rate: float = 20.0, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = 2 * rate if burst is None else burst
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, conn_id: str) -> bool:
        if not self.rate:
            return True
        bucket = self._buckets.get(conn_id)
        if bucket is None:
            bucket = self._buckets[conn_id] = TokenBucket(self.rate, self.burst, self.burst)
        return bucket.take()

    def forget(self, conn_id: str) -> None:
        self._buckets.pop(conn_id, None)
