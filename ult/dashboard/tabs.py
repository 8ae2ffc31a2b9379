"""The dashboard's tabs: Live and Claims at once, the other panels when first opened.

A returning sponsor's page opens on the Live tab. Building the QR & poster panel (QR images),
the rule and promotion editors and the counter screen as well would send a few hundred more
widgets to the page, and read Redis for each, before that tab is usable. They are built, and
shown the selected business, when their tab is first selected (or code asks for them). The
Claims panel is built at once: its count of claims waiting for staff titles its tab.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ult import run
from ult.dashboard.claims_panel import ClaimsPanel
from ult.dashboard.context import Context
from ult.dashboard.counter_screen import CounterPanel
from ult.dashboard.live import LivePanel
from ult.dashboard.poster import PosterPanel
from ult.dashboard.promo_editor import PromoEditor
from ult.dashboard.rule_editor import RuleEditor
from ult.dashboard.storage import Business
from ult.dashboard.ui import classed
from ult.i18n import N_, _
from ult.rules import Rule, get_rule

TAB_TITLES = (
    N_("Live"),
    N_("QR & poster"),
    N_("Rewards"),
    N_("Claims"),
    N_("Counter screen"),
    N_("Add a business"),
)
LIVE_TAB, POSTER_TAB, RULES_TAB, CLAIMS_TAB, COUNTER_TAB, REGISTER_TAB = range(6)


def claims_title(count: int) -> str:
    """The Claims tab's title: the number waiting for staff, when there are any."""
    return _("Claims ({count})").format(count=count) if count else _(TAB_TITLES[CLAIMS_TAB])


class TabPanels:
    """The tabs of a page with a business, worded in the language current when built."""

    def __init__(
        self, ctx: Context, register_box: W.Widget, on_count: Callable[[int], None]
    ) -> None:
        self.ctx = ctx
        self.live = LivePanel(ctx)
        self.claims = ClaimsPanel(ctx, on_count=on_count)
        self.live.listeners.append(self.claims)
        self._poster: PosterPanel | None = None
        self._rules: RuleEditor | None = None
        self._promos: PromoEditor | None = None
        self._counter: CounterPanel | None = None
        self._slots = {index: W.VBox() for index in (POSTER_TAB, RULES_TAB, COUNTER_TAB)}
        self.business: Business | None = None
        self.country: str | None = None
        self.rule = Rule()
        children = [self.live.widget, *self._slots.values(), register_box]
        children.insert(CLAIMS_TAB, self.claims.widget)
        self.tab = classed(
            W.Tab(children=children, titles=[_(title) for title in TAB_TITLES]), "ult-tabs"
        )
        self.tab.observe(self._on_selected, names="selected_index")

    def word(self) -> None:
        """Title the tabs in the current language."""
        for index, title in enumerate(TAB_TITLES):
            if index != CLAIMS_TAB:
                self.tab.set_title(index, _(title))
        self.tab.set_title(CLAIMS_TAB, claims_title(self.claims.count))

    # --- the panels built on first use ---------------------------------------------------------

    @property
    def poster(self) -> PosterPanel:
        if self._poster is None:
            self._poster = PosterPanel(self.ctx)
            self._slots[POSTER_TAB].children = [self._poster.widget]
            if self.business is not None:
                self._poster.show(self.business, self.country)
        return self._poster

    @property
    def rules(self) -> RuleEditor:
        if self._rules is None:
            self._build_rewards()
        assert self._rules is not None
        return self._rules

    @property
    def promos(self) -> PromoEditor:
        if self._promos is None:
            self._build_rewards()
        assert self._promos is not None
        return self._promos

    @property
    def counter(self) -> CounterPanel:
        if self._counter is None:
            self._counter = CounterPanel(self.ctx)
            self._slots[COUNTER_TAB].children = [self._counter.widget]
            if self.business is not None:
                self._counter.show(self.business, self.rule)
        return self._counter

    def _build_rewards(self) -> None:
        self._rules, self._promos = RuleEditor(self.ctx), PromoEditor(self.ctx)
        self._rules.on_saved.append(self.set_rule)
        self._slots[RULES_TAB].children = [self._rules.widget, self._promos.widget]
        if self.business is not None:
            self._rules.show(self.business)
            self._promos.show(self.business)

    def _on_selected(self, change: dict) -> None:
        opened = {POSTER_TAB: "poster", RULES_TAB: "rules", COUNTER_TAB: "counter"}
        name = opened.get(change["new"])
        if name is not None:
            getattr(self, name)  # built (and shown the business) on first selection

    # --- the business ---------------------------------------------------------------------------

    def show(self, business: Business, country: str, offset_min: int) -> None:
        """Show ``business`` (its owner key accepted) in the built panels."""
        self.business, self.country = business, country
        self.rule = run(self.ctx.redis, get_rule(business.sid))
        if self._poster is not None:
            self._poster.show(business, country)
        if self._rules is not None and self._promos is not None:
            self._rules.show(business)
            self._promos.show(business)
        self.live.show(business, offset_min)
        # after the reader started: a claim made meanwhile is either loaded here or seen by it
        self.claims.show(business, self.rule, offset_min)
        if self._counter is not None:
            self._counter.show(business, self.rule)

    def set_rule(self, rule: Rule) -> None:
        """The rule was saved: the panels that depend on it follow."""
        self.rule = rule
        self.claims.set_rule(rule)
        if self._counter is not None:
            self._counter.set_rule(rule)

    def clear(self, wait: bool = True) -> None:
        """Show no business (its owner key was refused, or the page is rebuilt); ``wait``:
        until the live reader's thread ended."""
        self.business = None
        self.live.stop(wait=wait)
        self.claims.clear()
        if self._counter is not None:
            self._counter.clear()
