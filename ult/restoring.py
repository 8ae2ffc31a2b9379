"""Cards back from the lake outside a scan: a card that ``ult archive --trim-days`` moved to the
lake is restored into Redis the first time its customer's page reads it, as its next scan would
restore it (:func:`ult.scans.arun_scan`), so the page shows its visits and points, not zeros.

The lake is read only when the sponsor's Bloom filter of archived cards knows the card (a new
card costs one small script call, never a file read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ult import ops
from ult.cards import find_archived, restore_card
from ult.keys import sponsor_keys
from ult.settings import load_settings


def maybe_archived(sid: str, cid: str) -> ops.Op[bool]:
    """Whether card ``cid`` is not in Redis and the sponsor's filter of archived cards knows
    it (a Bloom filter: now and then a card never archived)."""
    k = sponsor_keys(sid)
    return ops.script("maybe_archived", [k.cards, k.archived], [cid], lambda r: bool(int(r)))


async def arestore_archived(
    run: Callable[[ops.Op[Any]], Awaitable[Any]], sid: str, cid: str, lake: Path | None = None
) -> bool:
    """Put card ``cid`` back into Redis from the lake (``lake``, default ULT_LAKE_DIR) if it
    is there and not in Redis; True when it is back (restored by this call or, meanwhile, by
    its scan). The lake is read in a thread and only on a hit of the filter; ``run``:
    ``AutoPipeline.run`` or ``ops.arun`` bound to a client."""
    if not await run(maybe_archived(sid, cid)):
        return False
    lake = load_settings().lake_path if lake is None else Path(lake)
    found = await asyncio.to_thread(find_archived, lake, sid, cid)
    if found is None:  # a false positive of the filter
        return False
    await run(restore_card(sid, found))
    return True
