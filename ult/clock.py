"""The one clock of ULT: milliseconds since the epoch, as stream entry ids count time."""

from __future__ import annotations

import time

MINUTE_MS = 60_000
DAY_MS = 86_400_000


def now_ms() -> int:
    """The current time in milliseconds (UTC epoch)."""
    return int(time.time() * 1000)


def or_now(ms: int | None) -> int:
    """``ms`` when given (tests and the demo inject their clock), else :func:`now_ms`."""
    return now_ms() if ms is None else ms
