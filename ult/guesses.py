"""Owner and staff keys under guessing: wrong keys are slowed per address and per business.

A client address gets a few wrong keys a minute; past that, its key checks are refused
without looking. A business under attack from many addresses gets a budget too, spent only by
addresses that have already sent a wrong key, so the owner (whose address has never failed)
still gets in. Every wrong key is counted in the business's profile (a count, never an
address) where its owner can see it (:func:`ult.sponsors.key_failures`).

The guard is state in one process's memory; the scan service keeps one per process and the
dashboard one in its Voilà server (:mod:`ult.dashboard.keyguard`), never in Redis or a file.
"""

from __future__ import annotations

from ult.buckets import BucketMap
from ult.errors import UltError
from ult.messages import in_words


class KeyGuard:
    """Per-address and per-business budgets of wrong keys (``per_minute`` 0: no limit)."""

    def __init__(self, per_minute: int) -> None:
        burst = 2 * per_minute
        self.by_address = BucketMap(per_minute, burst)
        self.by_sponsor = BucketMap(per_minute * 5, burst * 5)
        self.failed = BucketMap(0.5, 1)  # remembers addresses that failed lately (bounded)
        # connections (or pages) that sent a right key, by business: not slowed for it again;
        # bounded by the open connections, each dropped with :meth:`forget`
        self._proven: dict[str, set[str]] = {}

    def wait_s(self, address: str, sid: str, conn: str = "") -> int:
        """Seconds before this address may try a key for ``sid`` (0: now)."""
        if conn and sid in self._proven.get(conn, ()):
            return 0
        wait = self.by_address.wait_s(address)
        if not wait and not self.failed.available(address):
            wait = self.by_sponsor.wait_s(sid)
        return wait

    def check(self, address: str, sid: str, conn: str = "") -> None:
        """Raise ``too_many_attempts`` when this address may not try a key now."""
        wait = self.wait_s(address, sid, conn)
        if wait:
            raise too_many_attempts(wait)

    def failure(self, address: str, sid: str) -> None:
        """Charge a wrong key to the address and the business."""
        self.by_address.take(address)
        self.by_sponsor.take(sid)
        self.failed.take(address)

    def proved(self, conn: str, sid: str) -> None:
        """``conn`` sent a right key for ``sid``: its next checks of it are never slowed."""
        sids = self._proven.setdefault(conn, set())
        if len(sids) < MAX_PROVEN_PER_CONNECTION:
            sids.add(sid)

    def forget(self, conn: str) -> None:
        """``conn`` closed."""
        self._proven.pop(conn, None)


MAX_PROVEN_PER_CONNECTION = 16


def too_many_attempts(wait_s: int) -> UltError:
    """The refusal of a key check that must wait ``wait_s`` seconds."""
    return UltError(
        "too_many_attempts",
        f"Too many wrong keys — try again in {in_words(wait_s)}.",
        retry_in=wait_s,
    )
