"""Velocity alerts: scan patterns that look abnormal, found without identities.

Two signals over the sponsor's recent stream:
- the whole shop: scans in the last ``window_min`` minutes far above the hour's usual rate;
- one card: many scans or refusals in a short time (a shared photo of the QR, a script).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ult import ops
from ult.clock import or_now
from ult.connection import Client
from ult.identity import short_cid
from ult.keys import sponsor_keys
from ult.schema import Event, parse_entry


@dataclass(frozen=True)
class Alert:
    kind: str  # "shop_rate" | "card_scans" | "card_refusals"
    message: str
    count: int
    cid: str | None = None


@dataclass(frozen=True)
class Thresholds:
    """When to raise an alert; defaults suit a café."""

    window_min: int = 10
    shop_rate_factor: float = 3.0  # window rate vs the hour's rate
    shop_min_scans: int = 20  # never alert on fewer scans than this in the window
    card_scans: int = 4  # counted scans of one card in the window
    card_refusals: int = 5  # refused scans of one card in the window


def recent_entries(r: Client, sid: str, since_ms: int) -> list[Event]:
    """The sponsor's stream entries since ``since_ms``, oldest first."""
    entries = ops.entries(r.xrange(sponsor_keys(sid).events, min=f"{since_ms}-0", max="+"))
    return [parse_entry(entry) for entry in entries]


def find_alerts(events: list[Event], now_ms: int, th: Thresholds = Thresholds()) -> list[Alert]:
    """Alerts over the last hour of ``events`` (pure: no Redis)."""
    window_start = now_ms - th.window_min * 60_000
    hour_scans = 0
    window_scans: Counter[str] = Counter()
    window_refusals: Counter[str] = Counter()
    for event in events:
        at = event.ms
        if at < now_ms - 3_600_000 or at > now_ms:
            continue
        if event.kind == "scan":
            hour_scans += 1
            if at >= window_start:
                window_scans[event.card] += 1
        elif event.kind == "refused" and at >= window_start:
            window_refusals[event.card] += event.refusals

    alerts: list[Alert] = []
    in_window = sum(window_scans.values())
    # the usual rate: scans in the rest of the hour, scaled to the window's length
    expected = (hour_scans - in_window) * th.window_min / (60 - th.window_min)
    if in_window >= th.shop_min_scans and in_window > th.shop_rate_factor * max(expected, 1):
        alerts.append(
            Alert(
                "shop_rate",
                f"{in_window} scans in the last {th.window_min} minutes — about "
                f"{round(expected)} would be usual.",
                in_window,
            )
        )
    for cid, n in window_scans.most_common():
        if n >= th.card_scans:
            alerts.append(
                Alert(
                    "card_scans",
                    f"Card {short_cid(cid)} counted {n} scans in {th.window_min} minutes.",
                    n,
                    short_cid(cid),
                )
            )
    for cid, n in window_refusals.most_common():
        if n >= th.card_refusals:
            alerts.append(
                Alert(
                    "card_refusals",
                    f"Card {short_cid(cid)} was refused {n} times in {th.window_min} minutes.",
                    n,
                    short_cid(cid),
                )
            )
    return alerts


def velocity_alerts(
    r: Client, sid: str, now_ms: int | None = None, th: Thresholds = Thresholds()
) -> list[Alert]:
    """Alerts for one sponsor now."""
    now_ms = or_now(now_ms)
    return find_alerts(recent_entries(r, sid, now_ms - 3_600_000), now_ms, th)
