"""The benchmark's own sponsors: registered through the core, removed afterwards."""

from __future__ import annotations

import secrets

from ult import keys, ops, run
from ult.connection import Client
from ult.rules import Rule, set_rule
from ult.sponsors import register

# every scan counts: no cooldown, no daily cap, a goal no run reaches
BENCH_RULE = Rule(cooldown_min=0, daily_cap=0, points_needed=1_000_000)


def register_sponsors(
    r: Client, count: int, tag: str | None = None, promotions: int = 0
) -> list[str]:
    """Register ``count`` sponsors with the zero-cooldown rule; their sids. ``promotions``:
    that many promotions each (one running now, the others weekly hours), to measure what
    they cost a scan."""
    tag = tag or secrets.token_hex(4)
    sids = []
    for i in range(count):
        reg = register(r, f"Bench {tag} {i}", f"Benchgatan {i}", "SE", f"local:bench-{tag}-{i}")
        run(r, set_rule(reg.sid, reg.owner_key, BENCH_RULE))
        for n in range(promotions):
            _promote(r, reg.sid, reg.owner_key, n)
        sids.append(reg.sid)
    return sids


def _promote(r: Client, sid: str, owner_key: str, n: int) -> None:
    from datetime import UTC, datetime, timedelta

    from ult.promotions import add_promotion, new_promotion

    if n == 0:
        now = datetime.now(UTC)
        start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=1)).isoformat()
        promo = new_promotion("Bench double", 2, start=start, end=end)
    else:
        promo = new_promotion(
            f"Bench {n}",
            1.5,
            days="mon-sun",
            from_time=f"{n % 24:02d}:00",
            to_time=f"{(n + 2) % 24:02d}:00",
        )
    add_promotion(r, sid, owner_key, promo)


def remove_sponsors(r: Client, sids: list[str]) -> None:
    """Delete everything the benchmark wrote for ``sids`` (keys, place index, registry)."""
    from ult.bench.baselines import xadd_stream

    wanted = set(sids)
    for sid in sids:
        r.delete(*keys.sponsor_keys(sid).all(), xadd_stream(sid))
    places = [p for p, sid in r.hgetall(keys.PLACES).items() if sid in wanted]
    if places:
        r.hdel(keys.PLACES, *places)
    stale = [
        eid for eid, fields in ops.entries(r.xrange(keys.REGISTRY)) if fields.get("sid") in wanted
    ]
    if stale:
        r.xdel(keys.REGISTRY, *stale)
    if r.exists(keys.REGISTRY) and r.xlen(keys.REGISTRY) == 0:
        r.delete(keys.REGISTRY)  # the bench made it: leave no empty registry behind
