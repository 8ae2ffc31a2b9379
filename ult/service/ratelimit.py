"""Token buckets per Socket.IO connection; the per-address maps are :mod:`ult.buckets`.

Per-address state lives in this process's memory only and each map holds at most
``MAX_ADDRESSES`` keys (least recently used go first), so a million addresses cannot grow it.
"""

from __future__ import annotations

from ult.buckets import MAX_ADDRESSES as MAX_ADDRESSES  # re-exported: the service imports them here
from ult.buckets import BucketMap as BucketMap
from ult.buckets import TokenBucket


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
