"""Hand-made event streams with known times, for the analytics tests."""

from __future__ import annotations

import pandas as pd
import redis

import ult.analytics as ua
from ult import keys

MONDAY = pd.Timestamp("2024-01-01 10:00", tz="UTC")  # a Monday
DAY = pd.Timedelta(days=1)
SID = "cafe-test-0001"


def ms(t: pd.Timestamp) -> int:
    """``t`` in epoch milliseconds."""
    return int(t.value // 1_000_000)


def card(n: int) -> str:
    """A 32-hex card id whose short form is unique: ``00000000000n…``."""
    return f"{n:012x}" + "f" * 20


def add(db: redis.Redis, when: pd.Timestamp, sid: str = SID, **fields: object) -> str:
    """XADD one entry at ``when`` (entry ids are event times) to ``sid``'s stream."""
    if not db.exists(keys.sponsor_keys(sid).events):
        db.xadd(keys.REGISTRY, {"sid": sid, "biz": sid, "country": "SE", "place_id": sid})
    return db.xadd(keys.sponsor_keys(sid).events, fields, id=f"{ms(when)}-*")


def load(r: redis.Redis) -> pd.DataFrame:
    """The events of every stream, as the analytics load them."""
    return ua.load_events(r, progress=False)
