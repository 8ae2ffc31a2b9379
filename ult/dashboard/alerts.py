"""Velocity alerts on the live tab: scans that look abnormal, without identities.

``ult.velocity`` reads the last hour of the sponsor's stream; the live reader asks this box to
recompute at most every :data:`ALERTS_EVERY_S` seconds while entries arrive, and every
:data:`ALERTS_RECHECK_S` seconds while an alert is shown (so it clears once the burst is over).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as W

from ult.connection import Client
from ult.dashboard.ui import classed, esc
from ult.i18n import N_, _
from ult.velocity import Alert, Thresholds, velocity_alerts

ALERTS_EVERY_S = 3.0
ALERTS_RECHECK_S = 30.0

ADVICE = {
    "shop_rate": N_(
        "Many more scans than usual: is the code being shared online? Turn on "
        "“Require the counter code” in Rewards."
    ),
    "card_scans": N_(
        "One card counting again and again: a photo of your code may be in use. "
        "Void visits that were not real, and consider the counter code."
    ),
    "card_refusals": N_(
        "One card keeps being refused: someone may be trying the code from "
        "elsewhere. Nothing was counted."
    ),
}


def alerts_html(alerts: list[Alert]) -> str:
    """The alert area: one warning per alert (escaped), or nothing at all."""
    if not alerts:
        return ""
    items = "".join(
        f'<li class="ult-alert ult-alert-{esc(a.kind)}"><b>{esc(a.message)}</b> '
        f'<span class="ult-alert-advice">{esc(_(ADVICE[a.kind]) if a.kind in ADVICE else "")}'
        "</span></li>"
        for a in alerts
    )
    title = esc(_("Unusual activity"))
    return (
        '<div class="ult-note ult-note-warn ult-alert-box" role="alert">'
        f'<p class="ult-alert-title">{title}</p><ul>{items}</ul></div>'
    )


class AlertsBox:
    """The alert area of the live tab and when to recompute it."""

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.clock = clock
        self.alerts: list[Alert] = []
        self.widget = classed(W.HTML(), "ult-alerts")
        self._due = False
        self._at = float("-inf")

    def mark_due(self) -> None:
        """New entries arrived: recompute at the next chance."""
        self._due = True

    def maybe_update(self, r: Client, sid: str) -> bool:
        """Recompute if it is time; returns whether it did."""
        since = self.clock() - self._at
        if (self._due and since >= ALERTS_EVERY_S) or (self.alerts and since >= ALERTS_RECHECK_S):
            self.update(r, sid)
            return True
        return False

    def update(self, r: Client, sid: str, now_ms: int | None = None) -> list[Alert]:
        """Recompute the alerts of ``sid`` now and show them."""
        self._due, self._at = False, self.clock()
        self.alerts = velocity_alerts(r, sid, now_ms, self.thresholds)
        html = alerts_html(self.alerts)
        if self.widget.value != html:
            self.widget.value = html
        return self.alerts
