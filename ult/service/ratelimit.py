"""Token buckets: per Socket.IO connection, and per client address in bounded maps.

Per-address state lives in this process's memory only and each map holds at most
``MAX_ADDRESSES`` keys (least recently used go first), so a million addresses cannot grow it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
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
        self._strikes: dict[str, TokenBucket] = {}

    def allow(self, conn_id: str) -> bool:
        if not self.rate:
            return True
        bucket = self._buckets.get(conn_id)
        if bucket is None:
            bucket = self._buckets[conn_id] = TokenBucket(self.rate, self.burst, self.burst)
        return bucket.take()

    def forget(self, conn_id: str) -> None:
        self._buckets.pop(conn_id, None)
        self._strikes.pop(conn_id, None)

    def strike(self, conn_id: str) -> bool:
        """Count a refused event; True once the connection keeps flooding (close it).

        Refusals have their own bucket: ``STRIKES_BEFORE_CLOSE`` of them beyond the event
        rate, and the connection is done.
        """
        bucket = self._strikes.get(conn_id)
        if bucket is None:
            burst = STRIKES_BEFORE_CLOSE
            bucket = self._strikes[conn_id] = TokenBucket(self.rate, burst, burst)
        return not bucket.take()


# Refused events (beyond the event rate) after which a flooding connection is closed: an
# honest page that hits the limit once waits; a script that ignores the refusals is closed.
STRIKES_BEFORE_CLOSE = 100
MAX_ADDRESSES = 50_000


class BucketMap:
    """A token bucket per key (client address, business) in a bounded LRU map.

    ``per_minute`` tokens come back each minute, at most ``burst`` saved up (0: no limit).
    A key evicted for room comes back with a full bucket: with ``MAX_ADDRESSES`` keys, an
    attacker needs that many addresses at once to gain anything from it.
    """

    def __init__(self, per_minute: float, burst: float, max_keys: int = MAX_ADDRESSES) -> None:
        self.rate = per_minute / 60
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.burst)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def take(self, key: str) -> bool:
        """Spend one token of ``key``; False when its bucket is empty."""
        return not self.rate or self._bucket(key).take()

    def available(self, key: str) -> bool:
        """Whether ``key`` has a token left, without spending one."""
        if not self.rate:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            return True
        tokens = bucket.tokens + (time.monotonic() - bucket.stamp) * bucket.rate
        return tokens >= 1

    def refund(self, key: str) -> None:
        """Give back a token taken for something that did not happen."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(bucket.burst, bucket.tokens + 1)

    def wait_s(self, key: str) -> int:
        """Seconds until ``key`` has a token again (0: it has one now)."""
        bucket = self._buckets.get(key)
        if not self.rate or bucket is None:
            return 0
        tokens = bucket.tokens + (time.monotonic() - bucket.stamp) * bucket.rate
        return 0 if tokens >= 1 else int((1 - tokens) / bucket.rate) + 1


class OpenCounts:
    """Open connections per client address, refused past ``limit`` (0: no limit).

    Holds only addresses with something open, so it is bounded by the connection cap.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        n = self._open.get(key, 0)
        if self.limit and n >= self.limit:
            return False
        self._open[key] = n + 1
        return True

    def release(self, key: str) -> None:
        n = self._open.get(key, 0) - 1
        if n > 0:
            self._open[key] = n
        else:
            self._open.pop(key, None)

    def __len__(self) -> int:
        return len(self._open)
