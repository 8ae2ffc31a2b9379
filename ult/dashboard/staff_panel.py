"""Staff keys on the Claims tab: make a named key for the till (shown once), list, revoke.

Everything goes through ``ult.staff`` with the business's owner key, checked in Redis. A new
key is shown once, next to the address of the staff page; only its hash is stored. Revoking
takes effect at the key's next use, on every service process.
"""

from __future__ import annotations

import logging

import ipywidgets as W

from ult import run
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.table import Action, ActionTable, Column, Row
from ult.dashboard.ui import Message, classed, esc, guarded, local_time
from ult.errors import UltError
from ult.i18n import N_, _
from ult.staff import MAX_STAFF_NAME, StaffKey, create_staff_key, list_staff_keys, revoke_staff_key

log = logging.getLogger("ult.dashboard")

REVOKE = Action("revoke", N_("Revoke"), "danger", confirm=N_("Confirm revoke"))
LEAD = N_(
    "Give the till its own key instead of your owner key: the staff page approves and redeems "
    "vouchers with it."
)
COLUMNS = [Column("name", N_("Name")), Column("made", N_("Made"))]


def staff_rows(staff: list[StaffKey], offset_min: int) -> list[Row]:
    """One row per staff key, with Revoke."""
    return [
        Row(
            id=s.name,
            cells={"name": s.name, "made": local_time(s.created_ms, offset_min, "day_time")},
            actions=(REVOKE,),
        )
        for s in staff
    ]


def reveal_html(name: str, key: str, sid: str, staff_url: str) -> str:
    """The new key, once, with what to do with it (escaped)."""
    link = f'<a href="{esc(staff_url)}" target="_blank" rel="noopener">{esc(staff_url)}</a>'
    intro = esc(_("Staff key for {name} — shown only now. On the till, open {link} and enter:"))
    hint = _(
        "It can approve, reject and redeem claims and watch the live feed; it cannot change "
        "your rewards or staff keys. Revoke it when a device is lost or someone leaves."
    )
    sid_label, key_label = _("Business id"), _("Staff key")
    return (
        f"<p>{intro.format(name=f'<b>{esc(name)}</b>', link=link)}</p>"
        f'<p class="ult-owner-key-line">{esc(sid_label)} <code>{esc(sid)}</code><br>'
        f'{esc(key_label)} <code class="ult-staff-key">{esc(key)}</code></p>'
        f'<p class="ult-hint">{esc(hint)}</p>'
    )


class StaffPanel:
    """Make, list and revoke the staff keys of the selected business."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.offset_min = 0
        self.name = classed(
            W.Text(placeholder=_("e.g. Till 1 or Anna's tablet"), description=_("Name")),
            "ult-staff-name",
        )
        self.make = classed(W.Button(description=_("Make a staff key")), "ult-staff-make")
        self.reveal = classed(W.HTML(), "ult-staff-reveal")
        self.message = Message()
        self.table = classed(
            ActionTable(COLUMNS, _("No staff keys yet."), self._on_action, css="ult-staff-table"),
            "ult-staff-list",
        )
        heading = _("Staff keys")
        self.widget = classed(
            W.VBox(
                [
                    W.HTML(
                        f'<h3 class="ult-h3">{esc(heading)}</h3>'
                        f'<p class="ult-hint">{esc(_(LEAD))}</p>'
                    ),
                    W.HBox([self.name, self.make]),
                    self.message,
                    self.reveal,
                    self.table,
                ]
            ),
            "ult-staff",
        )
        self.make.on_click(lambda _b: self.create())

    def show(self, business: Business, offset_min: int) -> None:
        """Show ``business``'s staff keys."""
        self.business, self.offset_min = business, offset_min
        self.message.clear()
        self.reveal.value = ""
        self.reload()

    def clear(self) -> None:
        """Show no business."""
        self.business = None
        self.reveal.value = ""
        self.table.show([])

    def reload(self) -> None:
        """Read the staff keys again."""
        business = self.business
        if business is None:
            return self.table.show([])
        staff = run(self.ctx.redis, list_staff_keys(business.sid, business.owner_key))
        self.table.show(staff_rows(staff, self.offset_min))

    @guarded(lambda self: self.message)
    def create(self) -> None:
        """Make a staff key with the typed name and show it once."""
        business = self.business
        if business is None:
            raise UltError("bad_request", N_("Choose a business first."))
        name = self.name.value.strip()
        if len(name) > MAX_STAFF_NAME:
            raise UltError(
                "bad_request",
                N_("A staff name has at most {most} characters."),
                params={"most": MAX_STAFF_NAME},
            )
        key = run(self.ctx.redis, create_staff_key(business.sid, business.owner_key, name))
        url = f"{self.ctx.settings.public_url.rstrip('/')}/staff"
        self.reveal.value = reveal_html(" ".join(name.split()), key, business.sid, url)
        self.name.value = ""
        self.message.clear()
        self.reload()

    @guarded(lambda self: self.message)
    def _on_action(self, action: str, name: str) -> None:
        business = self.business
        if business is None or action != "revoke":
            raise UltError("bad_request", N_("Choose a business first."))
        run(self.ctx.redis, revoke_staff_key(business.sid, business.owner_key, name))
        try:  # its tills still watching are dropped (the key itself is refused already)
            self.ctx.notifier.staff_revoked(business.sid, name)
        except Exception:
            log.exception("could not drop the live connections of a revoked staff key")
        self.reveal.value = ""
        self.message.ok(
            _("Revoked “{name}”: that key no longer works, on any till.").format(name=name)
        )
        self.reload()
