"""One archive run at a time per lake: an exclusive lock on ``<lake>/.lock``."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ult.errors import UltError


@contextmanager
def locked(lake: Path) -> Iterator[None]:
    """Hold the lake's lock (UltError ``archive_running`` when another run holds it)."""
    with open(Path(lake) / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UltError("archive_running", f"Another archive of {lake} is running.") from None
        yield
