"""The sponsor dashboard driven from Python, as the page's clicks would drive it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis

from ult import run
from ult.claims import Claim, claim
from ult.dashboard import Context, Dashboard
from ult.dashboard.storage import Business
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.settings import load_settings

EVIL = "<img src=x onerror=alert(1)>"


def new_dashboard(
    redis_url: str,
    value: dict | None = None,
    resolver: Any = None,
    tz_offset_min: int = -60,
) -> Dashboard:
    """A dashboard on ``redis_url``, its browser storage already synced (``value``: what the
    browser holds; English words, Swedish region)."""
    settings = load_settings({"REDIS_URL": redis_url})
    dash = Dashboard(Context(settings, resolver_override=resolver))
    dash.store.value = value if value is not None else {"uid": "a" * 32}
    dash.store.tz_offset_min = tz_offset_min
    dash.store.locale = "en-SE"
    dash.store.loaded = True
    return dash


def live_threads() -> list[threading.Thread]:
    """The live-feed reader threads running now."""
    return [t for t in threading.enumerate() if t.name.startswith("ult-live")]


def fill(dash: Dashboard, name: str, address: str, country: str = "SE") -> None:
    """Type a business into the registration form."""
    dash.form.name.value = name
    dash.form.address.value = address
    dash.form.country.value = country


def register_in(dash: Dashboard, name: str, address: str, country: str = "SE") -> Business:
    """Fill, validate and approve the registration form; the business it made."""
    fill(dash, name, address, country)
    dash.form._on_validate()
    assert dash.form.message.value == "", dash.form.message.value
    dash.form._on_approve()
    assert dash.form.message.value == "", dash.form.message.value
    assert dash.current is not None
    return dash.current


@dataclass
class Recorder:
    """Stands in for ult.service.notify.Notifier: records every claim_update."""

    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def claim_update(self, sid: str, cid: str, data: dict[str, Any]) -> None:
        self.sent.append((sid, cid, data))


@dataclass
class Shop:
    """A dashboard with one registered business, its claim updates recorded."""

    dash: Dashboard
    business: Business
    notes: Recorder

    @property
    def sid(self) -> str:
        return self.business.sid


def set_shop_rule(r: redis.Redis, shop: Shop, **fields: Any) -> None:
    """Set the shop's rule through the core."""
    run(r, set_rule(shop.sid, shop.business.owner_key, Rule(**fields)))


def earn_and_claim(r: redis.Redis, sid: str, key: str, visits: int) -> Claim:
    """``visits`` scans on one card, then its claim (which must be new)."""
    for _ in range(visits):
        run(r, scan(sid, key))
    made, created = run(r, claim(sid, key))
    assert created
    return made
