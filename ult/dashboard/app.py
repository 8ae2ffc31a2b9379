"""The sponsor dashboard page: header, business selector, and the tabs around the panels.

States: *opening* (until the browser's storage has synced), *first run* (no business on this
browser: just the registration form) and *dashboard* (a business is selected: Live, QR &
poster, Rewards, Claims, Counter screen, Add a business). The Claims tab's title carries the
number of claims waiting for staff, so it shows from every tab.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W

from ult import run
from ult.dashboard.context import Context
from ult.dashboard.counter_screen import CounterPanel
from ult.dashboard.poster import PosterPanel
from ult.dashboard.promo_editor import PromoEditor
from ult.dashboard.registration import (
    REGISTER_CLASS,
    ImportForm,
    KeyReveal,
    RegistrationForm,
    registration_tab,
)
from ult.dashboard.rule_editor import RuleEditor
from ult.dashboard.storage import BrowserStore, Business
from ult.dashboard.tabs import CLAIMS_TAB, POSTER_TAB, REGISTER_TAB, TabPanels, claims_title
from ult.dashboard.ui import Message, classed, esc, guarded, local_time, log_to_terminal
from ult.errors import UltError
from ult.i18n import (
    LANGUAGES,
    N_,
    NAMES,
    NP_,
    PSEUDO,
    _,
    current,
    direction,
    first_supported,
    supported,
    translate_plural,
    use,
)
from ult.sponsors import Profile, check_owner, key_failures

CSS_FILE = Path(__file__).with_name("dashboard.css")
KEY_FAILURES = NP_(
    "{n} wrong key was tried for this business since {date}.",
    "{n} wrong keys were tried for this business since {date}.",
)
STORAGE_ERRORS = {
    "blocked": N_("This browser does not let the dashboard keep data (storage is blocked)."),
    "refused": N_("This browser refused to save the dashboard's data."),
}
STORAGE_ADVICE = N_(
    "Registered businesses cannot be remembered on this browser; keep their owner keys."
)
PAGE_TITLE = N_("ULT — Sponsor dashboard")
NOT_ACCEPTED = N_(
    "{biz}: {problem} This browser remembers the business, but the server does not accept it "
    "(was its data reset?)."
)
KEY_FAILURES_HINT = N_(
    "Someone guessed at its owner or staff keys; they are slowed down and the key is safe "
    "unless shared. Make new staff keys if one may have leaked."
)


def style_widget() -> W.HTML:
    """The dashboard's stylesheet (also applies when the notebook is opened in JupyterLab)."""
    return W.HTML(f"<style>{CSS_FILE.read_text(encoding='utf-8')}</style>")


def selector_options(businesses: list[Business]) -> list[tuple[str, str]]:
    """(label, sid) pairs; labels made unique so two branches never look the same."""
    seen: dict[str, int] = {}
    options = []
    for business in businesses:
        label = business.label
        seen[label] = seen.get(label, 0) + 1
        options.append((label if seen[label] == 1 else f"{label} ({business.sid})", business.sid))
    return options


def failures_html(count: int, profile: Profile | None, offset_min: int) -> str:
    """The security line: how many wrong keys were tried (nothing when none)."""
    if not count or profile is None:
        return ""
    date = local_time(profile.created_ms, offset_min, "date")
    words = translate_plural(current(), KEY_FAILURES, count).format(date=date)
    return (
        f'<p class="ult-key-failures ult-note ult-note-warn">{esc(words)} '
        f"{esc(_(KEY_FAILURES_HINT))}</p>"
    )


def title_html(business: Business, profile: Profile | None, security: str = "") -> str:
    """The heading of the selected business (escaped; ``security``: :func:`failures_html`)."""
    address = profile.formatted_address if profile else business.formatted_address
    badge = ""
    if profile is not None and not profile.verified:
        warning = esc(_("address not verified by Google"))
        badge = f' <span class="ult-badge ult-badge-warn">{warning}</span>'
    business_id = esc(_("business id"))
    return (
        f'<h2 class="ult-biz-name">{esc(business.biz)}</h2>'
        f'<p class="ult-biz-meta">{esc(address)} · {business_id} '
        f"<code>{esc(business.sid)}</code>{badge}</p>{security}"
    )


class Dashboard:
    """The whole page. Display :attr:`widget`; call :meth:`close` to stop its live reader."""

    def __init__(self, ctx: Context | None = None) -> None:
        log_to_terminal()
        self.ctx = ctx or Context()
        self.current: Business | None = None
        self._profile: Profile | None = None
        self._failures = 0  # wrong keys tried for the current business
        self._syncing = False
        self._adding = False
        self._opening = False

        self.store = BrowserStore(layout=W.Layout(display="none"))
        self.selector = classed(
            W.Dropdown(description=_("Business"), options=[], layout=W.Layout(width="32em")),
            "ult-business",
        )
        self.language = classed(
            W.Dropdown(
                options=[(NAMES[lang], lang) for lang in LANGUAGES],
                value=use("en"),
                layout=W.Layout(width="15em"),
            ),
            "ult-language",
        )
        self.selector.layout.display = "none"
        self.banner = Message()
        self.key = KeyReveal()
        self.title = classed(W.HTML(), "ult-title")
        self.opening = W.HTML()
        self.body = classed(W.VBox([self.opening]), "ult-body")
        self.brand = W.HTML()
        self.panels: TabPanels | None = None  # built once a business is shown
        self._prefill: tuple[str, str | None] = ("", None)  # the form's name and country
        self._build_registration()
        header = classed(W.HBox([self.brand, self.selector, self.language]), "ult-header")
        self.widget = classed(
            W.VBox(
                [style_widget(), header, self.store, self.banner, self.key.widget, self.title]
                + [self.body]
            ),
            "ult-app",
        )
        self.ctx.keys.on_pass = self._keep_pass
        self.store.observe(self._on_loaded, names="loaded")
        self.store.observe(self._on_value, names="value")
        self.store.observe(self._on_storage_error, names="error")
        self.selector.observe(self._on_select, names="value")
        self.language.observe(self._on_language, names="value")
        self._words()

    def _build_registration(self) -> None:
        """The box of the registration form (the first run's page, and the last tab). The
        form itself is built when first shown (:attr:`form`): a returning sponsor's page loads
        without its ~60 widgets, a first visit builds it once, in the browser's language."""
        self._form: RegistrationForm | None = None
        self._importer: ImportForm | None = None
        self.register_box = classed(W.VBox(), REGISTER_CLASS)

    def _registration(self) -> tuple[RegistrationForm, ImportForm]:
        """The registration and import forms, built (worded now, prefilled) when first
        needed."""
        if self._form is None or self._importer is None:
            self._form = RegistrationForm(
                self.ctx, self._registered, self._known_place, lambda: self.store.utc_offset_min
            )
            self._form.prefill(*self._prefill)
            self._importer = ImportForm(self.ctx, self._added)
            self.register_box.children = registration_tab(self._form, self._importer)
        return self._form, self._importer

    @property
    def form(self) -> RegistrationForm:
        """The registration form (built when first needed)."""
        return self._registration()[0]

    @property
    def importer(self) -> ImportForm:
        """The form that adds a business registered elsewhere (built with :attr:`form`)."""
        return self._registration()[1]

    def _ensure_tabs(self) -> TabPanels:
        """The tabs, built once a business is shown, worded in the current language.

        A first visit shows only the registration form: the tabs' panels (a few hundred
        widgets) would otherwise all be sent to the page before it becomes usable.
        """
        if self.panels is None:
            self.panels = TabPanels(self.ctx, self.register_box, self._on_claims_count)
            self.tabs = self.panels.tab
            self.tabs.observe(self._on_tab, names="selected_index")
            self.live, self.claims = self.panels.live, self.panels.claims
        return self.panels

    @property
    def poster(self) -> PosterPanel:
        """The QR & poster panel (built when first used)."""
        return self._ensure_tabs().poster

    @property
    def rules(self) -> RuleEditor:
        """The reward rule editor (built when first used)."""
        return self._ensure_tabs().rules

    @property
    def promos(self) -> PromoEditor:
        """The promotions editor (built when first used)."""
        return self._ensure_tabs().promos

    @property
    def counter(self) -> CounterPanel:
        """The counter screen (built when first used)."""
        return self._ensure_tabs().counter

    # --- storage -------------------------------------------------------------------------------

    # --- language ------------------------------------------------------------------------------

    def _words(self) -> None:
        """Word the page's frame in the current language."""
        opening, brand = esc(_("Opening your dashboard…")), esc(_("Sponsor dashboard"))
        self.opening.value = f'<p class="ult-opening">{opening}</p>'
        self.brand.value = (
            '<div class="ult-brand"><span class="ult-logo">ULT</span>'
            f'<span class="ult-brand-text">{brand}</span></div>'
        )
        self.selector.description = _("Business")
        self.language.description = _("Language")
        self.store.title = _(PAGE_TITLE)
        # Right-to-left languages mirror the page (dashboard.css, .ult-rtl).
        if direction(current()) == "rtl":
            self.widget.add_class("ult-rtl")
        else:
            self.widget.remove_class("ult-rtl")
        if self.panels is not None:
            self.panels.word()
        if self.current is None and self.body.children == (self.register_box,):
            self._show_first_run()
        elif self.current is not None:
            self.title.value = title_html(self.current, self._profile, self._security())

    @guarded(lambda self: self.banner)
    def _on_language(self, change: dict) -> None:
        if use(change["new"]) == change["old"]:
            return
        chosen = supported(self.store.value.get("lang"))
        if self.store.loaded and not self._opening and chosen != change["new"]:
            self.store.choose_language(change["new"])  # the switcher: remembered
        self._rebuild()
        self._words()

    def _rebuild(self) -> None:
        """Build the panels again in the new language, showing what the old ones showed."""
        old_register, first_run = self.register_box, self.body.children == (self.register_box,)
        self._build_registration()
        if first_run:
            self.body.children = [self.register_box]
        if self.panels is not None:
            self._rebuild_tabs(self.panels)
        old_register.close()

    def _rebuild_tabs(self, old: TabPanels) -> None:
        old.clear(wait=False)
        self.panels = None
        self._ensure_tabs()
        self.tabs.selected_index = old.tab.selected_index
        if self.body.children == (old.tab,):
            self.body.children = [self.tabs]
        if self.current is not None:
            self.select(self.current.sid)
        old.tab.close()

    @guarded(lambda self: self.banner)
    def _on_loaded(self, change: dict) -> None:
        if not change["new"]:
            return
        # The language chosen on this browser, else the browser's own.
        self._opening = True
        try:
            lang = first_supported([self.store.value.get("lang"), self.store.locale])
            if lang == PSEUDO:  # a test browser: the switcher gets the pseudo-locale too
                self.language.options = [*self.language.options, ("[Ƥşéûđö]", PSEUDO)]
            self.language.value = lang
        finally:
            self._opening = False
        businesses = self.store.businesses()
        self._prefill = (businesses[-1].biz if businesses else "", self.store.country_hint())
        if self._form is not None:
            self._form.prefill(*self._prefill)
        self._refresh_selector()
        if businesses:
            self._show_dashboard()
            self.select(self.store.current or businesses[-1].sid)
        else:
            self._show_first_run()

    @guarded(lambda self: self.banner)
    def _on_value(self, _change: dict) -> None:
        """Another tab (or this page) changed the stored businesses."""
        if not self.store.loaded:
            return
        self._refresh_selector()
        if self.current is None and self.store.businesses() and not self._adding:
            self._show_dashboard()
            self.select(self.store.businesses()[-1].sid)

    def _on_storage_error(self, change: dict) -> None:
        problem = STORAGE_ERRORS.get(change["new"])
        if problem:
            self.banner.error(f"{_(problem)} {_(STORAGE_ADVICE)}")

    def _known_place(self, place_id: str) -> Business | None:
        return next((b for b in self.store.businesses() if b.place_id == place_id), None)

    # --- selection -----------------------------------------------------------------------------

    def _refresh_selector(self) -> None:
        options = selector_options(self.store.businesses())
        self._syncing = True
        try:
            self.selector.options = options
            current = self.current.sid if self.current else None
            self.selector.value = current if current in {sid for _, sid in options} else None
        finally:
            self._syncing = False
        self.selector.layout.display = "" if options else "none"

    def _on_select(self, change: dict) -> None:
        if not self._syncing and change["new"]:
            self.select(change["new"])

    @guarded(lambda self: self.banner)
    def select(self, sid: str) -> None:
        """Show business ``sid`` (one of this browser's) in every panel."""
        business = self.store.business(sid)
        if business is None:
            raise UltError("unknown_sponsor", N_("That business is not on this browser."))
        self.banner.clear()
        panels = self._ensure_tabs()
        self.current = business
        self._syncing = True
        try:
            self.selector.value = sid
        finally:
            self._syncing = False
        self.store.set_current(sid)
        try:
            profile = self.ctx.keys.owner(sid, check_owner(sid, business.owner_key))
        except UltError as exc:
            panels.clear()
            self.title.value = title_html(business, None)
            raise UltError(
                exc.code,
                NOT_ACCEPTED,
                params={"biz": business.biz, "problem": exc.words(current())},
            ) from None
        self._profile = profile
        self._failures = run(self.ctx.redis, key_failures(sid))
        self.title.value = title_html(business, profile, self._security())
        panels.show(business, profile.country, self.store.utc_offset_min)

    def _security(self) -> str:
        return failures_html(self._failures, self._profile, self.store.utc_offset_min)

    def _keep_pass(self, value: str) -> None:
        """The server accepted an owner key: the browser keeps the pass it gave."""
        self.store.owner_pass = value

    def _on_claims_count(self, count: int) -> None:
        """Show the number of claims waiting in the Claims tab's title."""
        self.tabs.set_title(CLAIMS_TAB, claims_title(count))

    # --- registration --------------------------------------------------------------------------

    def _registered(self, business: Business) -> None:
        self._added(business)
        self.key.show(business)
        self.tabs.selected_index = POSTER_TAB

    def _added(self, business: Business) -> None:
        self._adding = True
        try:
            self.store.add_business(business)
        finally:
            self._adding = False
        self._opening = False
        self._refresh_selector()
        self._show_dashboard()
        self.select(business.sid)

    def _show_first_run(self) -> None:
        welcome, lead = _("Welcome"), _("Register your business to get its QR code.")
        self.title.value = (
            f'<h2 class="ult-biz-name">{esc(welcome)}</h2><p class="ult-biz-meta">{esc(lead)}</p>'
        )
        self._registration()
        self.body.children = [self.register_box]

    def _on_tab(self, change: dict) -> None:
        if change["new"] == REGISTER_TAB:
            self._registration()  # built when its tab is first opened

    def _show_dashboard(self) -> None:
        self._ensure_tabs()
        if self.body.children != (self.tabs,):
            self.body.children = [self.tabs]

    def _repr_mimebundle_(self, **kwargs: object) -> object:
        """Displaying the dashboard displays its page widget."""
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self, wait: bool = True) -> None:
        """Stop the live reader (``wait``: until its thread ended) and close the page."""
        if self.panels is not None:
            self.live.stop(wait=wait)
        self.widget.close()
        self.ctx.close()
