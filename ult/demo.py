"""``ult demo``: realistic synthetic history, written through the real scan path.

The data model (all drawn from one seeded generator, so a seed and an end time give the
same streams every time):

- **Sponsors** take turns through five kinds of business (:data:`KINDS`): a café, a bar
  that asks for the rotating counter code, a bakery whose points expire, a bookshop whose
  staff approve rewards, a restaurant open for lunch and dinner. Each has opening hours per
  weekday, busy hours (a mix of peaks), a weekly rhythm, location tags (``till``,
  ``table-3`` …) and its own reward rule. The café runs a double-points week.
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
import heapq
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from ult import ops
from ult.clock import DAY_MS, MINUTE_MS, now_ms
from ult.rules import Rule

if TYPE_CHECKING:
    import numpy as np
    import redis

    from ult.scans import ScanResult

PIPELINE = 500


@dataclass(frozen=True)
class Kind:
    """A kind of business: when it is open and busy, and its reward rule."""

    name: str
    names: tuple[str, ...]
    hours: tuple[tuple[float, float] | None, ...]  # local (open, close) per weekday Mon…Sun
    peaks: tuple[tuple[float, float, float], ...]  # (hour, spread in hours, weight)
    weekday: tuple[float, ...]  # relative number of new customers per weekday
    new_per_day: float
    tags: tuple[tuple[str, float], ...]
    rule: Rule
    late_rescan: float = 0.0  # chance a guest scans again later the same night
    promo: tuple[tuple[str, Any], ...] = ()  # a week with these rule changes


KINDS: tuple[Kind, ...] = (
    Kind(
        "café",
        ("Fika Sisters", "Bean There", "Morning Ritual", "Kaffebaren", "Little Roastery"),
        ((7, 18),) * 5 + ((8, 18), (9, 16)),
        ((8.3, 1.0, 1.0), (12.5, 1.0, 0.8), (15.5, 1.2, 0.6)),
        (1.0, 0.95, 1.0, 1.05, 1.15, 1.3, 0.9),
        9.0,
        (("till", 5.0), *((f"table-{i}", 1.0) for i in range(1, 7))),
        Rule(points_needed=10, reward="A free coffee", cooldown_min=60),
        promo=(("points_per_scan", 2), ("reward", "A free coffee (double points week!)")),
    ),
    Kind(
        "bar",
        ("The Crooked Tap", "Night Owl", "Hoppy Corner", "Barrel & Bell", "Last Orders"),
        (None, (16, 25), (16, 25), (16, 26), (16, 27), (14, 27), (14, 23)),
        ((19.0, 1.5, 0.7), (22.5, 1.5, 1.0)),
        (0, 0.7, 0.8, 1.0, 1.8, 2.0, 0.8),
        7.0,
        (("bar", 4.0), *((f"table-{i}", 1.0) for i in range(1, 9))),
        Rule(
            points_needed=8, reward="A free pint", cooldown_min=120, daily_cap=1, require_code=True
        ),
        late_rescan=0.2,
    ),
    Kind(
        "bakery",
        ("Sourdough & Sons", "Crumb", "Rise Bakery", "Butter Hands", "Golden Crust"),
        ((6.5, 15),) * 6 + (None,),
        ((7.5, 1.0, 1.0), (12.0, 1.0, 0.5)),
        (1.0, 0.9, 0.9, 1.0, 1.1, 1.5, 0),
        10.0,
        (("till", 1.0),),
        Rule(points_needed=8, reward="A free pastry", cooldown_min=240, expiry_days=30),
    ),
    Kind(
        "bookshop",
        ("Dog-Eared Books", "Paper Lantern", "Chapter Two", "The Reading Room", "Ink & Spine"),
        ((10, 19),) * 5 + ((10, 17), None),
        ((13.0, 2.0, 0.8), (17.0, 1.5, 1.0)),
        (0.8, 0.8, 0.9, 1.0, 1.2, 1.8, 0),
        3.5,
        (("till", 3.0), ("door", 1.0)),
        Rule(points_needed=5, reward="15% off a book", approval="staff", cooldown_min=1440),
    ),
    Kind(
        "restaurant",
        ("Casa Verde", "Trattoria Nonna", "Saffron House", "Bistro 42", "The Green Fork"),
        (None,) + ((11.5, 22),) * 6,
        ((12.5, 0.8, 0.9), (19.5, 1.2, 1.0)),
        (0, 0.7, 0.8, 0.9, 1.3, 1.6, 1.2),
        5.0,
        tuple((f"table-{i}", 1.0) for i in range(1, 13)),
        Rule(
            points_needed=6,
            reward="A free dessert",
            approval="staff",
            cooldown_min=180,
            daily_cap=2,
        ),
    ),
)

CITIES = (  # city, country, UTC offset in minutes (no daylight saving), street
    ("Stockholm", "SE", 60, "Götgatan"),
    ("Berlin", "DE", 60, "Oranienstraße"),
    ("Lisbon", "PT", 0, "Rua da Rosa"),
    ("London", "GB", 0, "Brick Lane"),
    ("Helsinki", "FI", 120, "Fredrikinkatu"),
    ("Brooklyn", "US", -300, "Bedford Avenue"),
    ("Melbourne", "AU", 600, "Brunswick Street"),
)


@dataclass(frozen=True)
class Segment:
    """A kind of customer."""

    name: str
    share: float
    mean_gap_days: float
    churn: float  # chance to never come back after a visit
    claim: float  # chance to claim a full card at once


SEGMENTS = (
    Segment("one-off", 0.50, 0.0, 1.0, 0.3),
    Segment("occasional", 0.35, 12.0, 0.12, 0.6),
    Segment("regular", 0.15, 3.5, 0.025, 0.9),
)
EAGER = 0.03  # customers who scan again and again within minutes
RETRY = 0.02  # scans sent twice with the same nonce (a flaky network)
CODE_STATES = (("ok", 0.93), ("none", 0.04), ("bad", 0.03))
STAFF_DECISIONS = (("approve", 0.9), ("reject", 0.07), ("void", 0.03))
VOID_SCAN = 0.002  # counted scans the sponsor voids (counted by mistake)
VOID_VOUCHER = 0.02  # instant vouchers the sponsor voids


@dataclass(frozen=True)
class DemoConfig:
    """What ``ult demo`` makes: ``sponsors`` businesses with ``days`` of history up to
    ``end_ms`` (default now); ``scale`` multiplies the number of customers."""

    sponsors: int = 5
    days: int = 90
    seed: int = 1
    scale: float = 1.0
    end_ms: int | None = None
    claims: bool = True


@dataclass
class Customer:
    key: str
    segment: Segment
    eager: bool
    points: int = 0  # last known balance
    pending: int = 0  # scans queued but not yet answered


@dataclass
class SponsorPlan:
    """One sponsor to register and its history, in time order."""

    index: int
    kind: Kind
    name: str
    city: tuple[str, str, int, str]
    number: int
    start_ms: int
    items: list[Item]


@dataclass(order=True)
class Item:
    """One thing that happens at ``at_ms``: a scan attempt, a rule change, a claim …"""

    at_ms: int
    seq: int
    what: str = field(compare=False)  # scan | rule | claim | decide | void_scan
    customer: Customer | None = field(default=None, compare=False)
    nonce: str = field(default="", compare=False)
    tag: str | None = field(default=None, compare=False)
    code_state: str = field(default="none", compare=False)
    rule: Rule | None = field(default=None, compare=False)
    ref: str = field(default="", compare=False)  # claim id or scan entry id
    decision: str = field(default="", compare=False)


@dataclass
class DemoReport:
    """What was written: sponsors (with owner keys, for trying the dashboard) and counts.

    ``customers`` counts the simulated customers; a few never get a card (a bar guest whose
    every scan lacked the counter code). ``outcomes`` counts scan script replies by status.
    """

    sponsors: list[dict[str, Any]] = field(default_factory=list)
    customers: int = 0
    attempts: int = 0
    outcomes: Counter = field(default_factory=Counter)  # scan statuses: ok, cooldown, …
    actions: Counter = field(default_factory=Counter)  # rule, claim, approve, reject, void …
    entries: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sponsors": self.sponsors,
            "customers": self.customers,
            "scan_attempts": self.attempts,
            "scan_outcomes": dict(sorted(self.outcomes.items())),
            "actions": dict(sorted(self.actions.items())),
            "entries": self.entries,
            "seconds": round(self.seconds, 2),
        }


# ---- planning -------------------------------------------------------------------------------


def plan(config: DemoConfig, end_ms: int) -> list[SponsorPlan]:
    """Every sponsor's history, generated from ``config.seed`` (no Redis involved)."""
    import numpy as np

    rng = np.random.default_rng(config.seed)
    names = {k.name: [str(n) for n in rng.permutation(k.names)] for k in KINDS}
    plans = []
    for i in range(config.sponsors):
        kind = KINDS[i % len(KINDS)]
        city = CITIES[int(rng.integers(len(CITIES)))]
        pool = names[kind.name]
        base = pool[(i // len(KINDS)) % len(pool)]
        name = base if i < len(KINDS) * len(pool) else f"{base} {i // (len(KINDS) * len(pool)) + 1}"
        local_midnight = (end_ms + city[2] * MINUTE_MS) // DAY_MS * DAY_MS - config.days * DAY_MS
        start_ms = local_midnight - city[2] * MINUTE_MS
        sponsor_rng = np.random.default_rng([config.seed, i])
        size = float(sponsor_rng.uniform(0.6, 1.5)) * config.scale
        items = plan_history(sponsor_rng, kind, start_ms, city[2], config.days, end_ms, size)
        plans.append(SponsorPlan(i, kind, name, city, int(rng.integers(1, 120)), start_ms, items))
    return plans


def plan_history(
    rng: np.random.Generator,
    kind: Kind,
    start_ms: int,
    offset_min: int,
    days: int,
    end_ms: int,
    size: float = 1.0,
) -> list[Item]:
    """A sponsor's rule events and scan attempts from ``start_ms`` (a local midnight) on."""
    calendar = Calendar(kind, start_ms, days, _weekday(start_ms, offset_min))
    items = _rule_items(kind, start_ms, days)
    for day in range(days):
        if calendar.slots(day) is None:
            continue
        weekday = calendar.weekday(day)
        for _ in range(int(rng.poisson(kind.new_per_day * kind.weekday[weekday] * size))):
            items += _customer_attempts(rng, calendar, _new_customer(rng), day)
    items = [it for it in items if it.at_ms <= end_ms]
    items.sort(key=lambda it: it.at_ms)
    for seq, it in enumerate(items):
        it.seq = seq
    return items


def _weekday(utc_ms: int, offset_min: int) -> int:
    return int(((utc_ms + offset_min * MINUTE_MS) // DAY_MS + 3) % 7)  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class Calendar:
    """One sponsor's days: day 0 starts at ``start_ms`` (a local midnight, as UTC ms)."""

    kind: Kind
    start_ms: int
    days: int
    weekday0: int  # 0 = Monday

    def weekday(self, day: int) -> int:
        return (self.weekday0 + day) % 7

    def slots(self, day: int) -> tuple[list[float], list[float]] | None:
        """The open quarter-hours of ``day`` and their weights (None: closed)."""
        return _day_slots(self.kind, self.weekday(day))

    def next_open(self, day: int) -> int:
        """``day`` or the first open day after it (may be past the history's end)."""
        while day < self.days and self.slots(day) is None:
            day += 1
        return day

    def at(self, day: int, hour: float) -> int:
        """UTC ms of a local ``hour`` (may exceed 24: after midnight) on ``day``."""
        return self.start_ms + day * DAY_MS + int(hour * 3_600_000)


@cache
def _day_slots(kind: Kind, weekday: int) -> tuple[list[float], list[float]] | None:
    """Quarter-hours of an open day (local hours from midnight) and their weights."""
    hours = kind.hours[weekday]
    if hours is None:
        return None
    start, end = hours
    quarters = [start + q / 4 for q in range(int((end - start) * 4))]
    weights = [
        0.15 + sum(w * math.exp(-(((h + 0.125 - p) / s) ** 2) / 2) for p, s, w in kind.peaks)
        for h in quarters
    ]
    total = sum(weights)
    return quarters, [w / total for w in weights]


def _rule_items(kind: Kind, start_ms: int, days: int) -> list[Item]:
    """The first rule (logged just after registration) and the promotion week, if any."""
    items = [Item(start_ms + 1000, 0, "rule", rule=kind.rule)]
    if kind.promo and days >= 21:
        promo_day = int(days * 0.6)
        at = start_ms + promo_day * DAY_MS + 6 * 3_600_000
        items.append(Item(at, 0, "rule", rule=replace(kind.rule, **dict(kind.promo))))
        items.append(Item(at + 7 * DAY_MS, 0, "rule", rule=kind.rule))
    return items


def _new_customer(rng: np.random.Generator) -> Customer:
    shares = [s.share for s in SEGMENTS]
    segment = SEGMENTS[int(rng.choice(len(SEGMENTS), p=shares))]
    key = rng.bytes(32).hex()
    return Customer(key=key, segment=segment, eager=bool(rng.random() < EAGER))


def _customer_attempts(
    rng: np.random.Generator, calendar: Calendar, customer: Customer, first_day: int
) -> list[Item]:
    """The scan attempts of one customer's visits, from the first until they churn."""
    kind = calendar.kind
    tags = [t for t, _ in kind.tags]
    tag_p = [w / sum(w for _, w in kind.tags) for _, w in kind.tags]
    favourite = tags[int(rng.choice(len(tags), p=tag_p))]
    habit: int | None = None  # a regular's usual quarter-hour
    items: list[Item] = []
    day = first_day
    while day < calendar.days:
        quarters, weights = calendar.slots(day)
        if customer.segment.name == "regular" and habit is not None and rng.random() < 0.7:
            slot = min(max(habit + int(rng.integers(-2, 3)), 0), len(quarters) - 1)
        else:
            slot = int(rng.choice(len(quarters), p=weights))
            habit = slot if habit is None else habit
        at = calendar.at(day, quarters[slot] + float(rng.random()) / 4)
        tag = _visit_tag(rng, customer, favourite, tags, tag_p)
        items += _visit_attempts(rng, kind, customer, at, tag)
        if rng.random() < customer.segment.churn:
            break
        gap = max(1, round(float(rng.exponential(customer.segment.mean_gap_days))))
        day = calendar.next_open(day + gap)
    return items


def _visit_tag(
    rng: np.random.Generator, customer: Customer, favourite: str, tags: list[str], p: list[float]
) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None  # an untagged QR code (the one on the door, a flyer)
    if customer.segment.name == "regular" and roll < 0.6:
        return favourite
    return tags[int(rng.choice(len(tags), p=p))]


def _visit_attempts(
    rng: np.random.Generator, kind: Kind, customer: Customer, at: int, tag: str | None
) -> list[Item]:
    """One visit: a scan, sometimes a retry, an eager customer's repeats, a late rescan."""

    def attempt(when: int, nonce: str | None = None) -> Item:
        code = _code_state(rng) if kind.rule.require_code else "none"
        nonce = nonce or rng.bytes(8).hex()
        return Item(when, 0, "scan", customer, nonce=nonce, tag=tag, code_state=code)

    first = attempt(at)
    items = [first]
    if rng.random() < RETRY:
        items.append(attempt(at + int(rng.integers(800, 4000)), first.nonce))
    if customer.eager:
        for _ in range(int(rng.integers(2, 6))):
            at += int(rng.integers(20_000, 12 * MINUTE_MS))
            items.append(attempt(at))
    if kind.late_rescan and rng.random() < kind.late_rescan:
        items.append(attempt(at + (kind.rule.cooldown_min + int(rng.integers(5, 90))) * MINUTE_MS))
    return items


def _code_state(rng: np.random.Generator) -> str:
    return CODE_STATES[int(rng.choice(len(CODE_STATES), p=[p for _, p in CODE_STATES]))][0]


# ---- replaying through the real scripts -----------------------------------------------------


class ClaimsHook:
    """How full cards turn into claims, staff decisions and voids during the replay.

    Uses ``ult.claims`` (``claim``, ``decide``, ``void_scan``). Subclass it and pass it as
    ``load(…, claims_hook=…)`` to change the behaviour; ``DemoConfig(claims=False)`` (``ult demo
    --no-claims``) makes no claims at all.
    """

    def __init__(self) -> None:
        from ult import claims

        self.api = claims

    def after_scan(self, runner: _Runner, item: Item, result: ScanResult | None) -> None:
        """A counted scan: maybe claim a full card a little later; rarely void the scan."""
        if result is None or result.duplicate:
            return
        customer = item.customer
        if runner.rng.random() < VOID_SCAN:
            runner.schedule(
                item.at_ms + int(runner.rng.integers(2, 30)) * MINUTE_MS,
                "void_scan",
                ref=result.entry_id,
            )
        if result.reward_ready and runner.rng.random() < customer.segment.claim:
            runner.schedule(
                item.at_ms + int(runner.rng.integers(20_000, 180_000)), "claim", customer
            )

    def claim(self, runner: _Runner, item: Item) -> None:
        """The customer claims; staff decide on a requested claim a few minutes later."""
        from ult.errors import UltError

        try:
            claim, created = runner.call(
                self.api.claim(runner.sid, item.customer.key, now_ms=item.at_ms)
            )
        except UltError as e:
            runner.report.actions[f"claim_{e.code}"] += 1
            return
        if not created:
            return
        runner.report.actions["claim"] += 1
        item.customer.points -= claim.points
        later = item.at_ms + int(runner.rng.integers(1, 10)) * MINUTE_MS
        if claim.status == "requested":
            decision = _pick(runner.rng, STAFF_DECISIONS)
            runner.schedule(later, "decide", item.customer, ref=claim.id, decision=decision)
        elif runner.rng.random() < VOID_VOUCHER:
            runner.schedule(later, "decide", item.customer, ref=claim.id, decision="void")

    def decide(self, runner: _Runner, item: Item) -> None:
        from ult.errors import UltError

        op = self.api.decide(
            runner.sid, runner.owner_key, item.ref, item.decision, now_ms=item.at_ms
        )
        try:
            claim = runner.call(op)
        except UltError as e:
            runner.report.actions[f"{item.decision}_{e.code}"] += 1
            return
        runner.report.actions[item.decision] += 1
        if item.decision != "approve":
            item.customer.points += claim.points

    def void_scan(self, runner: _Runner, item: Item) -> None:
        from ult.errors import UltError

        op = self.api.void_scan(runner.sid, runner.owner_key, item.ref, now_ms=item.at_ms)
        try:
            runner.call(op)
            runner.report.actions["void_scan"] += 1
        except UltError as e:
            runner.report.actions[f"void_scan_{e.code}"] += 1


def _pick(rng: np.random.Generator, choices: tuple[tuple[str, float], ...]) -> str:
    return choices[int(rng.choice(len(choices), p=[p for _, p in choices]))][0]


class _Runner:
    """Replays one sponsor's items in time order through pipelined script calls."""

    def __init__(
        self,
        r: redis.Redis,
        sid: str,
        owner_key: str,
        seed: tuple[int, int],
        report: DemoReport,
        hook: ClaimsHook | None,
        bar: Any,
    ) -> None:
        import numpy as np

        self.r = r
        self.sid = sid
        self.owner_key = owner_key
        self.report = report
        self.hook = hook
        self.bar = bar
        self.rng = np.random.default_rng([*seed, 1])
        self.pipe = r.pipeline(transaction=False)
        self.queued: list[tuple[Item, ops.Op[Any]]] = []
        self.heap: list[Item] = []
        self.seq = 10**9
        self.rule = Rule()

    def run(self, items: list[Item]) -> None:
        self.heap = list(items)
        heapq.heapify(self.heap)
        while self.heap:
            item = heapq.heappop(self.heap)
            if item.what in ("scan", "rule"):
                self.queue(item)
            else:
                self.flush()
                getattr(self.hook, item.what)(self, item)
            self.bar.update(1)
        self.flush()

    def schedule(self, at_ms: int, what: str, customer: Customer | None = None, **kw: Any) -> None:
        """Add an item to replay later (claims, decisions, voids made from replies)."""
        self.seq += 1
        heapq.heappush(self.heap, Item(at_ms, self.seq, what, customer, **kw))
        self.bar.total += 1

    def queue(self, item: Item) -> None:
        from ult import rules, scans

        if item.what == "rule":
            self.rule = item.rule
            op = rules.set_rule(self.sid, self.owner_key, item.rule, now_ms=item.at_ms)
        else:
            op = scans.scan(
                self.sid,
                item.customer.key,
                item.nonce,
                item.tag,
                item.code_state,
                now_ms=item.at_ms,
            )
            item.customer.pending += 1
        ops.queue(self.pipe, op)
        self.queued.append((item, op))
        if len(self.queued) >= PIPELINE or (item.what == "scan" and self._may_fill(item.customer)):
            self.flush()

    def _may_fill(self, customer: Customer) -> bool:
        """Whether this scan may fill the card (then its reply is needed before going on)."""
        if self.hook is None or customer.segment.claim == 0:
            return False
        most = customer.points + customer.pending * self.rule.points_per_scan
        return most >= self.rule.points_needed

    def flush(self) -> None:
        if not self.queued:
            return
        replies = self.pipe.execute(raise_on_error=False)
        queued, self.queued = self.queued, []
        for (item, op), reply in zip(queued, replies, strict=True):
            if item.what == "scan":
                self._after_scan(item, op, reply)
            else:
                ops.parse_reply(op, reply)
                self.report.actions["rule"] += 1

    def _after_scan(self, item: Item, op: ops.Op[ScanResult], reply: Any) -> None:
        from ult.errors import UltError

        self.report.attempts += 1
        item.customer.pending -= 1
        result = None
        try:
            result = ops.parse_reply(op, reply)
            status = "duplicate" if result.duplicate else "ok"
            item.customer.points = result.points
        except UltError as e:
            status = e.code
        self.report.outcomes[status] += 1
        if self.hook is not None:
            self.hook.after_scan(self, item, result)

    def call(self, op: ops.Op[Any]) -> Any:
        from ult import run

        return run(self.r, op)


# ---- the command ----------------------------------------------------------------------------


def load(
    r: redis.Redis,
    config: DemoConfig | None = None,
    progress: bool = True,
    claims_hook: ClaimsHook | None = None,
) -> DemoReport:
    """Register ``config.sponsors`` demo businesses and replay their history into ``r``.

    Claims are made by ``claims_hook`` (default :class:`ClaimsHook`), unless
    ``config.claims`` is false.

    Refuses (UltError ``demo_exists``) when this seed's businesses are already registered,
    and (``demo_overlap``) when the registry already has sponsors after the history's start
    (the registry stream cannot go back in time: use fewer ``days`` or an empty server).
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


def _check_free(r: redis.Redis, config: DemoConfig, plans: list[SponsorPlan]) -> None:
    from ult import keys
    from ult.errors import UltError

    if plans and r.hexists(keys.PLACES, _place_id(config, plans[0])):
        raise UltError(
            "demo_exists",
            f"Demo data for seed {config.seed} is already loaded; pick another --seed.",
        )
    top = r.xrevrange(keys.REGISTRY, count=1)
    first = min((p.start_ms for p in plans), default=None)
    if top and first is not None and int(top[0][0].split("-")[0]) > first:
        raise UltError(
            "demo_overlap",
            "This server already has businesses registered after the demo history would "
            "start; use fewer --days or an empty server.",
        )


def _register(r: redis.Redis, config: DemoConfig, p: SponsorPlan, at_ms: int) -> Any:
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


def _count_entries(r: redis.Redis, sids: list[str]) -> int:
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
