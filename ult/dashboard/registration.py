"""Registering a business: the form, the address confirmation, and the owner key shown once.

Flow: name + address + country → "Validate address" (``ult.places``) → confirmation with
the address found and its ``place_id`` → Approve (``sponsors.register``) or Try again.
Adding a business registered on another browser, with its owner key, lives here too.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ult.dashboard.browser import DownloadButton
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import FIELD_STYLE, Message, classed, esc, guarded
from ult.errors import UltError
from ult.i18n import N_, _
from ult.places import Place, countries
from ult.sponsors import check_owner, register
from ult.validation import LIMITS, check_field, check_text

OnRegistered = Callable[[Business], None]  # gets the new business, owner key included

NOT_VERIFIED = N_("Not verified by Google — checked offline only")
VERIFIED = N_("Verified by Google")


def country_options() -> list[tuple[str, str]]:
    """Every ISO 3166 country by name, after a "choose" placeholder."""
    return [(_("Choose your country…"), ""), *countries()]


def check_form(name: str, address: str, country: str) -> tuple[str, str, str]:
    """The form's values tidied, or UltError with a message for the first problem."""
    biz = check_text(N_("Business name"), name, max_len=LIMITS["business_name"])
    where = check_text(N_("Business address"), address, max_len=LIMITS["address"])
    if not country:
        raise UltError("bad_country", N_("Choose the country the business is in."))
    return biz, where, country


def name_hint(name: str) -> str:
    """The note under the name field: the limit, or how far over it the name is."""
    length, most = len(" ".join(name.split())), LIMITS["business_name"]
    if length > most:
        words = _("Too long: {length} characters, at most {most}.")
        return f'<span class="ult-hint ult-hint-error">{esc(words.format(length=length, most=most))}</span>'
    words = _("The name customers see — up to {most} characters.").format(most=most)
    return f'<span class="ult-hint">{esc(words)}</span>'


class RegistrationForm:
    """The registration form and its confirmation step. ``widget`` is its box."""

    def __init__(
        self,
        ctx: Context,
        on_registered: OnRegistered,
        known_place: Callable[[str], Business | None],
        utc_offset_min: Callable[[], int],
    ) -> None:
        self.ctx = ctx
        self.on_registered = on_registered
        self.known_place = known_place
        self.utc_offset_min = utc_offset_min
        self.place: Place | None = None
        self._checked: tuple[str, str, str] | None = None

        self.name = classed(
            W.Text(
                description=_("Business name"),
                placeholder=_("e.g. Fika Sisters"),
                style=FIELD_STYLE,
            ),
            "ult-name",
        )
        self.hint = classed(W.HTML(name_hint("")), "ult-name-hint")
        self.address = classed(
            W.Text(
                description=_("Address"),
                placeholder=_("Street and number, postcode, city"),
                style=FIELD_STYLE,
            ),
            "ult-address",
        )
        self.country = classed(
            W.Dropdown(
                description=_("Country"), options=country_options(), value="", style=FIELD_STYLE
            ),
            "ult-country",
        )
        self.validate = classed(
            W.Button(description=_("Validate address"), button_style="primary"), "ult-validate"
        )
        self.message = Message()
        self.found = classed(W.HTML(), "ult-found")
        self.approve = classed(
            W.Button(description=_("Approve"), button_style="success"), "ult-approve"
        )
        self.retry = classed(W.Button(description=_("Try again")), "ult-retry")
        self.confirm = classed(
            W.VBox([self.found, W.HBox([self.approve, self.retry])]), "ult-confirm", "ult-card"
        )
        self.confirm.layout.display = "none"
        self.fields = W.VBox([self.name, self.hint, self.address, self.country, self.validate])
        self.widget = classed(W.VBox([self.fields, self.confirm, self.message]), "ult-register")

        self.name.observe(self._on_name, names="value")
        self.validate.on_click(self._on_validate)
        self.approve.on_click(self._on_approve)
        self.retry.on_click(self._on_retry)

    def prefill(self, name: str, country: str | None) -> None:
        """Start a fresh entry: the owner's business name kept, the address blank."""
        self.name.value = name
        self.address.value = ""
        if country and country in {code for _, code in countries()}:
            self.country.value = country
        self._show_confirmation(False)

    def _on_name(self, change: dict) -> None:
        self.hint.value = name_hint(change["new"] or "")
        if self._checked:  # the confirmation no longer matches the form
            self._show_confirmation(False)

    def _show_confirmation(self, visible: bool) -> None:
        self.confirm.layout.display = "" if visible else "none"
        self.fields.layout.display = "none" if visible else ""
        if not visible:
            self.place, self._checked = None, None

    @guarded(lambda self: self.message)
    def _on_validate(self, _button: W.Button | None = None) -> None:
        self.message.clear()
        biz, address, country = check_form(self.name.value, self.address.value, self.country.value)
        self.validate.disabled, self.validate.description = True, _("Checking…")
        try:
            place = self.ctx.resolver.resolve(biz, address, country)
        finally:
            self.validate.disabled, self.validate.description = False, _("Validate address")
        self.place, self._checked = place, (biz, address, country)
        self.found.value = confirmation_html(biz, place)
        self._show_confirmation(True)

    @guarded(lambda self: self.message)
    def _on_approve(self, _button: W.Button | None = None) -> None:
        if self.place is None or self._checked is None:
            raise UltError("bad_request", N_("Validate the address first."))
        biz, address, country = self._checked
        mine = self.known_place(self.place.place_id)
        if mine is not None:
            raise UltError(
                "already_registered",
                N_(
                    "This place is already registered on this browser as “{biz}” — "
                    "choose it in the business list at the top."
                ),
                params={"biz": mine.biz},
            )
        self.approve.disabled = True
        try:
            reg = register(
                self.ctx.redis,
                biz,
                address,
                country,
                self.place.place_id,
                formatted_address=self.place.formatted_address,
                verified=self.place.verified,
                utc_offset_min=self.utc_offset_min(),
                lat=self.place.lat,
                lng=self.place.lng,
            )
        finally:
            self.approve.disabled = False
        business = Business(reg.sid, reg.biz, reg.place_id, reg.owner_key, reg.formatted_address)
        self.message.clear()
        self.prefill(reg.biz, country)
        self.on_registered(business)

    def _on_retry(self, _button: W.Button | None = None) -> None:
        self.message.clear()
        self._show_confirmation(False)


def confirmation_html(biz: str, place: Place) -> str:
    """The "is this your business?" card (every value escaped)."""
    verified, not_verified = esc(_(VERIFIED)), esc(_(NOT_VERIFIED))
    badge = (
        f'<span class="ult-badge ult-badge-ok">{verified}</span>'
        if place.verified
        else f'<span class="ult-badge ult-badge-warn ult-unverified">{not_verified}</span>'
    )
    partial_words = _(
        "Google matched only part of the address — check that this is the right place."
    )
    partial = (
        f'<p class="ult-note ult-note-warn">{esc(partial_words)}</p>' if place.partial_match else ""
    )
    question, place_id = esc(_("Is this your business?")), esc(_("Place id:"))
    return (
        f'<h3 class="ult-h3">{question}</h3>'
        f'<p class="ult-found-name">{esc(biz)}</p>'
        f'<p class="ult-found-address">{esc(place.formatted_address)}</p>'
        f'<p class="ult-found-place">{place_id} <code>{esc(place.place_id)}</code></p>'
        f"{badge}{partial}"
    )


def owner_key_file(business: Business) -> bytes:
    """The text file a sponsor can keep with the owner key."""
    return (
        "ULT owner key — keep this file private.\n"
        f"Business: {business.biz}\n"
        f"Business id: {business.sid}\n"
        f"Owner key: {business.owner_key}\n"
    ).encode()


class KeyReveal:
    """The owner key, shown once right after registration, with advice to keep it."""

    def __init__(self) -> None:
        self.text = classed(W.HTML(), "ult-key-text")
        self.done = classed(W.Button(description=_("I have saved it")), "ult-key-done")
        self.actions = W.HBox([self.done])
        self._save: DownloadButton | None = None
        self.widget = classed(W.VBox([self.text, self.actions]), "ult-key", "ult-card")
        self.widget.layout.display = "none"
        self.done.on_click(lambda _b: self.hide())

    def show(self, business: Business) -> None:
        """Reveal ``business``'s owner key."""
        registered = esc(_("Registered: {biz}").format(biz=business.biz))
        advice = esc(
            _(
                "This is the owner key of the business. It is shown only now. This browser "
                "remembers it, but if you clear the browser's data or use another computer you "
                "will need it to manage the business. Keep it somewhere safe (a password "
                "manager, or on paper) and never share it: anyone with it can change your "
                "rewards."
            )
        )
        sid_label, key_label = esc(_("Business id")), esc(_("Owner key"))
        self.text.value = (
            f'<h3 class="ult-h3">{registered}</h3><p>{advice}</p>'
            f'<p class="ult-owner-key-line">{sid_label} <code>{esc(business.sid)}</code><br>'
            f'{key_label} <code class="ult-owner-key">{esc(business.owner_key)}</code></p>'
        )
        self._drop_save()
        self._save = DownloadButton(
            _("Save key as a file"),
            f"ult-owner-key-{business.sid}.txt",
            "text/plain",
            lambda: owner_key_file(business),
        )
        self.actions.children = [self._save, self.done]
        self.widget.layout.display = ""

    def hide(self) -> None:
        """Forget the key on the page."""
        self.text.value = ""
        self._drop_save()
        self.widget.layout.display = "none"

    def _drop_save(self) -> None:
        self.actions.children = [self.done]
        if self._save is not None:
            self._save.close()
            self._save = None


class ImportForm:
    """Use a business registered on another browser: its id and owner key."""

    def __init__(self, ctx: Context, on_added: Callable[[Business], None]) -> None:
        self.ctx = ctx
        self.on_added = on_added
        self.sid = classed(
            W.Text(
                description=_("Business id"),
                placeholder=_("e.g. fika-sisters-3fa9"),
                style=FIELD_STYLE,
            ),
            "ult-import-sid",
        )
        self.key = classed(
            W.Password(description=_("Owner key"), style=FIELD_STYLE), "ult-import-key"
        )
        self.add = classed(W.Button(description=_("Add to this browser")), "ult-import-add")
        self.message = Message()
        words = _(
            "Registered this business on another computer? Enter its business id and owner key "
            "to manage it here too."
        )
        intro = W.HTML(f'<p class="ult-hint">{esc(words)}</p>')
        self.widget = classed(
            W.VBox([intro, self.sid, self.key, self.add, self.message]), "ult-import"
        )
        self.add.on_click(self._on_add)

    @guarded(lambda self: self.message)
    def _on_add(self, _button: W.Button | None = None) -> None:
        sid = self.sid.value.strip().lower()
        key = self.key.value.strip()
        try:
            check_field("sid", sid)
            check_field("owner_key", key)
        except UltError:
            raise UltError(
                "bad_request", N_("That is not a business id and owner key as ULT makes them.")
            ) from None
        profile = self.ctx.keys.owner(sid, check_owner(sid, key))
        business = Business(
            profile.sid, profile.biz, profile.place_id, key, profile.formatted_address
        )
        self.key.value = ""
        self.message.ok(_("Added {biz}.").format(biz=profile.biz))
        self.on_added(business)


REGISTER_CLASS = "ult-tab-register"


def registration_tab(form: RegistrationForm, importer: ImportForm) -> list[W.Widget]:
    """The "Add a business" tab's content (a box of class :data:`REGISTER_CLASS` holds it):
    the form, then the owner-key import folded away."""
    more = W.Accordion(
        children=[importer.widget], titles=(_("Add a business registered elsewhere"),)
    )
    more.selected_index = None
    words = _(
        "Register a business, or another branch of yours. You get a QR code to print; "
        "customers scan it to collect visits — no app, no sign-up, no personal data."
    )
    intro = W.HTML(f'<p class="ult-lead">{esc(words)}</p>')
    return [intro, form.widget, more]
