"""``ult demo``: realistic synthetic history, written through the real scan path.

The data model (all drawn from one seeded generator, so a seed and an end time give the
same streams every time):

- **Sponsors** take turns through five kinds of business (:data:`KINDS`): a café, a bar
  that asks for the rotating counter code, a bakery whose points expire, a bookshop whose
  staff approve rewards, a restaurant open for lunch and dinner. Each has opening hours per
  weekday, busy hours (a mix of peaks), a weekly rhythm, location tags (``till``,
  ``table-3`` …) and its own reward rule. The café runs a double-points week, and a
  recurring promotion (double points Tue–Thu 14:00–16:00, local time).
- **Customers** arrive as new cards every open day (Poisson, shaped by the weekday). Each is
  one-off, occasional or regular (:data:`SEGMENTS`): the segment sets the mean days between
  visits and the chance to churn after each visit. Regulars keep a favourite hour and table.
- **Visits** are scanned through ``scan.lua`` with historical ``now_ms``, so the script
  refuses what it would refuse live: eager customers who scan again within minutes
  (cooldown), bar guests who scan again later the same night (daily cap), missing or stale
  counter codes. A few scans are network retries (same nonce: counted once).
- **Rewards**: a customer whose card is full claims it (regulars more often than occasional
  ones) through ``ult.claims``; staff approve or reject requested claims minutes later and
  now and then void a voucher or a scan counted by mistake.

Each sponsor's history is generated first, then replayed in time order through pipelined
script calls (entry ids never go back); claims, staff decisions and voids are scheduled as
replies come in.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from ult import ops
from ult.clock import now_ms
from ult.demo.history import DemoConfig, SponsorPlan, plan
from ult.demo.replay import ClaimsHook, DemoReport, _Runner

if TYPE_CHECKING:
    from ult.connection import Client

__all__ = ["ClaimsHook", "DemoConfig", "DemoReport", "configure", "load", "plan"]


def load(
    r: Client,
    config: DemoConfig | None = None,
    progress: bool = True,
    claims_hook: ClaimsHook | None = None,
) -> DemoReport:
    """Register ``config.sponsors`` demo businesses and replay their history into ``r``.

    Claims are made by ``claims_hook`` (default :class:`ClaimsHook`), unless
    ``config.claims`` is false.

    Refuses (UltError ``demo_exists``) when this seed's businesses are already registered.
    Businesses already on the server are left untouched.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    config = config or DemoConfig()
    end_ms = config.end_ms if config.end_ms is not None else now_ms()
    plans = plan(config, end_ms)
    hook = (claims_hook or ClaimsHook()) if config.claims else None
    _check_free(r, config, plans)
    ops.load(r, "scan", "set_rule", "claim", "decide", "void_scan")
    report = DemoReport()
    total = sum(len(p.items) for p in plans)
    with tqdm(total=total, desc="Demo history", unit=" events", disable=not progress) as bar:
        registered_ms = min(p.start_ms for p in plans)
        for p in plans:
            reg = _register(r, config, p, registered_ms + p.index)
            if p.kind.promo:
                _promote(r, reg.sid, reg.owner_key, registered_ms + p.index)
            sponsor = {"sid": reg.sid, "biz": reg.biz, "kind": p.kind.name, "country": p.city[1]}
            report.sponsors.append(sponsor | {"owner_key": reg.owner_key})
            report.customers += len({it.customer.key for it in p.items if it.customer})
            runner = _Runner(r, reg.sid, reg.owner_key, (config.seed, p.index), report, hook, bar)
            runner.run(p.items)
    report.entries = _count_entries(r, [s["sid"] for s in report.sponsors])
    report.seconds = time.perf_counter() - t0
    return report


def _place_id(config: DemoConfig, p: SponsorPlan) -> str:
    return f"demo:{config.seed}:{p.index}"


def _check_free(r: Client, config: DemoConfig, plans: list[SponsorPlan]) -> None:
    from ult import keys
    from ult.errors import UltError

    if plans and r.hexists(keys.PLACES, _place_id(config, plans[0])):
        raise UltError(
            "demo_exists",
            f"Demo data for seed {config.seed} is already loaded; pick another --seed.",
        )


def _register(r: Client, config: DemoConfig, p: SponsorPlan, at_ms: int) -> Any:
    from ult.sponsors import register

    city, country, offset, street = p.city
    address = f"{street} {p.number}"
    return register(
        r,
        p.name,
        address,
        country,
        _place_id(config, p),
        formatted_address=f"{address}, {city}, {country} (demo)",
        verified=False,
        utc_offset_min=offset,
        rule=p.kind.rule,
        now_ms=at_ms,
    )


def _promote(r: Client, sid: str, owner_key: str, at_ms: int) -> None:
    import hashlib
    from dataclasses import replace

    from ult.promotions import add_promotion, new_promotion

    promo = new_promotion(
        "Afternoon double points", 2, days="tue-thu", from_time="14:00", to_time="16:00"
    )
    promo = replace(promo, id=hashlib.sha256(sid.encode()).hexdigest()[:8])  # same seed, same id
    add_promotion(r, sid, owner_key, promo, now_ms=at_ms)


def _count_entries(r: Client, sids: list[str]) -> int:
    from ult import keys

    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.xlen(keys.sponsor_keys(sid).events)
    return int(sum(pipe.execute())) if sids else 0


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ult demo`` to the CLI."""
    p = subparsers.add_parser(
        "demo",
        help="fill the server with realistic synthetic history (through the real scan path)",
        description="Register demo businesses and replay weeks of realistic visits, refusals, "
        "claims and staff decisions through the real scan scripts, with historical times. "
        "Prints the businesses (with owner keys, to try the dashboard) and the counts as JSON.",
    )
    p.add_argument(
        "--sponsors", type=int, default=DemoConfig.sponsors, help="businesses (default 5)"
    )
    p.add_argument("--days", type=int, default=DemoConfig.days, help="days of history (default 90)")
    p.add_argument("--seed", type=int, default=DemoConfig.seed, help="random seed (default 1)")
    p.add_argument("--scale", type=float, default=1.0, help="customers per day × SCALE (default 1)")
    p.add_argument("--no-claims", action="store_true", help="no claims, decisions or voids")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """``ult demo``: load into the configured server, print what was made as JSON."""
    from ult.connection import connect
    from ult.errors import UltError
    from ult.settings import load_settings

    if args.sponsors < 1 or args.days < 1 or args.scale <= 0:
        raise UltError("bad_request", "--sponsors and --days must be at least 1, --scale above 0.")
    config = DemoConfig(
        sponsors=args.sponsors,
        days=args.days,
        seed=args.seed,
        scale=args.scale,
        claims=not args.no_claims,
    )
    report = load(connect(load_settings()), config, progress=not args.quiet)
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    print(
        f"Loaded {report.entries} events for {len(report.sponsors)} demo businesses in "
        f"{report.seconds:.1f} s. Explore them in notebooks/01-explore-streams.ipynb.",
        file=sys.stderr,
    )
    return 0
