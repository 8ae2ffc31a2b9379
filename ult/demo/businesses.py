"""Who the demo's businesses and customers are: five kinds of business with their hours, busy
times and reward rules; three kinds of customer; how often people misbehave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ult.rules import Rule


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
TILLS = ("Till 1", "Till 2")  # the staff keys of each business; the owner key voids
REDEEM_VOUCHER = 0.85  # vouchers staff redeem at the counter (the rest expire unused)
