"""Token buckets: one per key (client address, business) in bounded maps.

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
