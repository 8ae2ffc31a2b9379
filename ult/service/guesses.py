"""Owner and staff keys under guessing: wrong keys are slowed per address and per business.

A client address gets a few wrong keys a minute; past that, its key checks are refused
without looking. A business under attack from many addresses gets a budget too, spent only by
addresses that have already sent a wrong key, so the owner's own dashboard (whose address has
never failed) still gets in. Every wrong key is counted in the business's profile (a count,
never an address) where its owner can see it (:func:`ult.sponsors.key_failures`).
"""

from __future__ import annotations

from ult.errors import UltError
from ult.messages import in_words
from ult.service.ratelimit import BucketMap


class KeyGuard:
    """Per-address and per-business budgets of wrong keys (``per_minute`` 0: no limit)."""

    def __init__(self, per_minute: int) -> None:
        burst = 2 * per_minute
        self.by_address = BucketMap(per_minute, burst)
        self.by_sponsor = BucketMap(per_minute * 5, burst * 5)
        self.failed = BucketMap(0.5, 1)  # remembers addresses that failed lately (bounded)

    def check(self, address: str, sid: str) -> None:
        """Raise ``too_many_attempts`` when this address may not try a key now."""
        wait = self.by_address.wait_s(address)
        if not wait and not self.failed.available(address):
            wait = self.by_sponsor.wait_s(sid)
        if wait:
            raise UltError(
                "too_many_attempts",
                f"Too many wrong keys — try again in {in_words(wait)}.",
                retry_in=wait,
            )

    def failure(self, address: str, sid: str) -> None:
        """Charge a wrong key to the address and the business."""
        self.by_address.take(address)
        self.by_sponsor.take(sid)
        self.failed.take(address)
