"""The counter screen: a QR code that changes every 30 seconds (``ult.counter_code``).

Put it on a tablet or a screen at the counter. With the rule's "Require the counter code" on,
only scans of this code count, so a photo of the printed poster taken home earns nothing.

The kernel makes each code (the sponsor's secret never leaves it); the page counts down
(``counter.js``) and asks for the next code when the window ends — only while the panel is on
screen, and never after the page has closed, so no kernel timer runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as W
import traitlets as t

from ult import counter_code, qr, run
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import Message, classed, esc, guarded
from ult.errors import UltError
from ult.i18n import N_, _
from ult.rules import Rule
from ult.sponsors import check_owner

MIN_REFRESH_S = 0.5  # a page asking faster than this gets the code it already has


def code_url(public_url: str, sid: str, token: str) -> str:
    """The URL in the rotating QR code: the poster's URL plus ``?code=<token>``."""
    return f"{qr.scan_url(public_url, sid)}?code={token}"


class CounterCode(anywidget.AnyWidget):
    """The QR image, the business name and a countdown to the next code."""

    _esm = Path(__file__).with_name("counter.js")

    svg = t.Unicode("").tag(sync=True)  # made by ult.qr from our own URL: no outside text
    url = t.Unicode("").tag(sync=True)
    biz = t.Unicode("").tag(sync=True)  # shown with textContent
    seconds_left = t.Float(0.0).tag(sync=True)
    window_s = t.Int(counter_code.WINDOW_S).tag(sync=True)
    serial = t.Int(0).tag(sync=True)  # bumped on every new code: restarts the countdown
    words = t.Dict().tag(sync=True)  # the screen's words in the dashboard's language

    @t.default("words")
    def _words(self) -> dict[str, str]:
        return {
            "headline": _("Scan to earn your visit"),
            "full_screen": _("Full screen"),
            "qr_label": _("QR code for this visit"),
            "new_code": _("New code in {seconds} s"),
        }


def required_html(rule: Rule | None) -> str:
    """Whether scans must carry the code, and what to do about it."""
    if rule is not None and rule.require_code:
        words = _(
            "“Require the counter code” is on: only scans of this screen count, so a photo "
            "taken home earns nothing."
        )
        return f'<p class="ult-note ult-note-ok">{esc(words)}</p>'
    words = _(
        "Scans of your printed poster still count. Once this screen is up at the counter, turn "
        "on “Require the counter code” in Rewards so a photo taken home earns nothing."
    )
    return f'<p class="ult-note ult-note-warn">{esc(words)}</p>'


class CounterPanel:
    """The counter screen tab. ``clock`` (seconds since the epoch) is injectable for tests."""

    def __init__(self, ctx: Context, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.clock = clock
        self.business: Business | None = None
        self._secret = ""
        self._refreshed_at = float("-inf")
        self.screen = classed(CounterCode(), "ult-counter-code")
        self.required = classed(W.HTML(required_html(None)), "ult-counter-required")
        self.message = Message()
        lead = _(
            "Show this code on a screen at the counter. It changes every 30 seconds: a customer "
            "scanning it is standing in your shop. Use Full screen on a tablet facing your "
            "customers."
        )
        intro = W.HTML(f'<p class="ult-lead">{esc(lead)}</p>')
        self.widget = classed(
            W.VBox([intro, self.required, self.message, self.screen]), "ult-tab-counter"
        )
        self.screen.on_msg(self._on_message)

    def show(self, business: Business, rule: Rule) -> None:
        """Show ``business``'s rotating code (the owner key unlocks its secret)."""
        self.business = business
        self.message.clear()
        self.set_rule(rule)
        self._secret = run(
            self.ctx.redis, check_owner(business.sid, business.owner_key)
        ).code_secret
        self.screen.biz = business.biz
        self.refresh(force=True)

    def clear(self) -> None:
        """Show no code (the business's owner key was refused)."""
        self.business, self._secret = None, ""
        self.screen.svg, self.screen.url, self.screen.biz = "", "", ""

    def set_rule(self, rule: Rule) -> None:
        """The rule changed: say whether the code is required."""
        self.required.value = required_html(rule)

    @property
    def token(self) -> str:
        """The code in the QR shown now ("" before a business is shown)."""
        return self.screen.url.rpartition("?code=")[2] if self.screen.url else ""

    def refresh(self, force: bool = False) -> bool:
        """Make the current window's code and show it; returns whether it was recomputed."""
        business = self.business
        if business is None or not self._secret:
            return False
        now = self.clock()
        if not force and now - self._refreshed_at < MIN_REFRESH_S:
            return False
        self._refreshed_at = now
        token = counter_code.current_code(self._secret, business.sid, now)
        url = code_url(self.ctx.settings.public_url, business.sid, token)
        with self.screen.hold_sync():  # one message: the page sees code and countdown together
            if url != self.screen.url:
                self.screen.svg = qr.svg_text(url)
                self.screen.url = url
            self.screen.seconds_left = counter_code.seconds_left(now)
            self.screen.serial += 1
        return True

    @guarded(lambda self: self.message)
    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """The page asks for the code of the new window (its countdown ended, or it came back)."""
        if not isinstance(content, dict) or content.get("event") != "refresh":
            return
        if self.business is None:
            raise UltError("bad_request", N_("Choose a business first."))
        self.refresh()
