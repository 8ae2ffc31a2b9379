"""A sponsor's generated history: its rule changes and every scan attempt of its customers,
drawn from one seeded generator (no Redis involved), in time order."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

from ult.clock import DAY_MS, MINUTE_MS
from ult.demo.businesses import CITIES, CODE_STATES, EAGER, KINDS, RETRY, SEGMENTS, Kind, Segment
from ult.rules import Rule

if TYPE_CHECKING:
    import numpy as np


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
        slots = calendar.slots(day)
        assert slots is not None  # an open day: first_day is one, and next_open() gives one
        quarters, weights = slots
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
