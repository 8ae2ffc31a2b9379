"""The Rewards tab's promotions: list, add (one-off or recurring hours), delete, time zone.

Changes go through ``ult.promotions`` with the owner key (checked in Redis) and are logged as
``promo`` events; the scan script applies them from the next scan. Times the sponsor types
without an offset are its own local time (its time zone, which it can change here).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import ipywidgets as W

from ult import promotions as pr
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import Message, classed, esc, guarded
from ult.errors import UltError
from ult.i18n import N_, _

STYLE = {"description_width": "10em"}
KINDS = ((N_("One-off (start and end)"), "once"), (N_("Every week (days and hours)"), "weekly"))
LEAD = N_(
    "Multiply the points of every visit while a promotion runs: a one-off event, or a weekly "
    "happy hour. When promotions overlap, {largest} (they do not add up). Customers see the "
    "running and the next promotion on their card."
)
LARGEST = N_("the largest multiplier wins")


def promotion_rows(promos: list[pr.Promotion], zone: ZoneInfo) -> str:
    """The promotions as an HTML table (escaped), times in the sponsor's zone."""
    if not promos:
        none = _("No promotions yet.")
        return f'<p class="ult-hint ult-promo-none">{esc(none)}</p>'
    rows = []
    for p in promos:
        d = p.to_dict()
        if p.recurring:
            days = ", ".join(x.capitalize() for x in d["days"])
            when = f"{days} {d['from']}–{d['to']}"
        else:
            start, end = (
                datetime.fromtimestamp(ms / 1000, zone).strftime("%a %d %b %Y %H:%M")
                for ms in (p.start_ms, p.end_ms)
            )
            when = f"{start} – {end}"
        rows.append(
            f"<tr><td>{esc(p.name)}</td><td>×{p.multiplier:g}</td><td>{esc(when)}</td>"
            f"<td><code>{esc(p.id)}</code></td></tr>"
        )
    head = "".join(
        f"<th>{esc(_(h))}</th>" for h in (N_("Promotion"), N_("Points"), N_("When"), N_("Id"))
    )
    head = f"<tr>{head}</tr>"
    return f'<table class="ult-table ult-promo-table">{head}{"".join(rows)}</table>'


class PromoEditor:
    """List, add and delete the business's promotions; set its time zone."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.promos: list[pr.Promotion] = []
        self.table = classed(W.HTML(), "ult-promo-list")
        self.name = classed(
            W.Text(description=_("Name"), placeholder=_("Double points"), style=STYLE),
            "ult-promo-name",
        )
        self.multiplier = classed(
            W.BoundedFloatText(
                value=2,
                min=0,
                max=100,
                step=0.5,
                description=_("Multiply points by"),
                style=STYLE,
            ),
            "ult-promo-multiplier",
        )
        self.kind = classed(
            W.ToggleButtons(
                options=[(_(label), kind) for label, kind in KINDS],
                value="once",
                description=_("Runs"),
                style=STYLE,
            ),
            "ult-promo-kind",
        )
        self.start = classed(
            W.Text(description=_("Start"), placeholder="2026-12-24 14:00", style=STYLE),
            "ult-promo-start",
        )
        self.end = classed(
            W.Text(description=_("End"), placeholder="2026-12-24 17:00", style=STYLE),
            "ult-promo-end",
        )
        self.days = classed(
            W.Text(description=_("Days"), placeholder=_("tue-thu or sat,sun"), style=STYLE),
            "ult-promo-days",
        )
        self.from_time = classed(
            W.Text(description=_("From"), placeholder="14:00", style=STYLE), "ult-promo-from"
        )
        self.to_time = classed(
            W.Text(
                description=_("To"),
                placeholder=_("17:00 (before From: past midnight)"),
                style=STYLE,
            ),
            "ult-promo-to",
        )
        self.once_box = W.VBox([self.start, self.end])
        self.weekly_box = W.VBox([self.days, self.from_time, self.to_time])
        self.add = classed(
            W.Button(description=_("Add promotion"), button_style="primary"), "ult-add-promo"
        )
        self.to_delete = classed(
            W.Dropdown(description=_("Promotion"), style=STYLE), "ult-promo-pick"
        )
        self.delete = classed(W.Button(description=_("Delete promotion")), "ult-delete-promo")
        self.zone = classed(
            W.Combobox(
                description=_("Time zone"),
                options=pr.zone_names(),
                ensure_option=False,
                style=STYLE,
            ),
            "ult-promo-zone",
        )
        self.save_zone = classed(W.Button(description=_("Save time zone")), "ult-save-zone")
        self.message = Message()
        heading = _("Promotions")
        largest = f"<b>{esc(_(LARGEST))}</b>"
        lead = (
            f'<h3 class="ult-h3">{esc(heading)}</h3>'
            f'<p class="ult-lead">{esc(_(LEAD)).format(largest=largest)}</p>'
        )
        self.widget = classed(
            W.VBox(
                [W.HTML(lead), self.table, self.name, self.multiplier, self.kind]
                + [self.once_box, self.weekly_box, self.add, W.HBox([self.to_delete, self.delete])]
                + [W.HBox([self.zone, self.save_zone]), self.message]
            ),
            "ult-promotions",
        )
        self.kind.observe(lambda _: self._show_kind(), names="value")
        self.add.on_click(self._on_add)
        self.delete.on_click(self._on_delete)
        self.save_zone.on_click(self._on_zone)
        self._show_kind()

    def show(self, business: Business) -> None:
        """Load ``business``'s promotions and time zone."""
        self.business = business
        self.message.clear()
        self._load()

    def _show_kind(self) -> None:
        weekly = self.kind.value == "weekly"
        self.once_box.layout.display = "none" if weekly else ""
        self.weekly_box.layout.display = "" if weekly else "none"

    def _load(self) -> None:
        assert self.business is not None
        r = self.ctx.redis
        self.zone.value = pr.sponsor_zone(r, self.business.sid)
        self.promos = pr.list_promotions(r, self.business.sid)
        self.table.value = promotion_rows(self.promos, ZoneInfo(self.zone.value))
        self.to_delete.options = [(f"{p.name} (×{p.multiplier:g})", p.id) for p in self.promos]
        self.to_delete.value = self.promos[0].id if self.promos else None

    def _business(self) -> Business:
        if self.business is None:
            raise UltError("bad_request", "Choose a business first.")
        return self.business

    @guarded(lambda self: self.message)
    def _on_add(self, _button: W.Button | None = None) -> None:
        business = self._business()
        zone = ZoneInfo(pr.sponsor_zone(self.ctx.redis, business.sid))
        if self.kind.value == "weekly":
            times = {"days": self.days.value, "from_time": self.from_time.value}
            times["to_time"] = self.to_time.value
        else:
            times = {"start": self.start.value, "end": self.end.value}
        promo = pr.new_promotion(self.name.value, self.multiplier.value, zone=zone, **times)
        pr.add_promotion(self.ctx.redis, business.sid, business.owner_key, promo)
        self._load()
        self.message.ok(
            _("Added “{name}”: it applies from the next scan in its hours.").format(name=promo.name)
        )

    @guarded(lambda self: self.message)
    def _on_delete(self, _button: W.Button | None = None) -> None:
        business = self._business()
        if not self.to_delete.value:
            raise UltError("bad_request", "Choose a promotion to delete.")
        pr.delete_promotion(self.ctx.redis, business.sid, business.owner_key, self.to_delete.value)
        self._load()
        self.message.ok(_("Deleted."))

    @guarded(lambda self: self.message)
    def _on_zone(self, _button: W.Button | None = None) -> None:
        business = self._business()
        pr.set_zone(self.ctx.redis, business.sid, business.owner_key, self.zone.value)
        self._load()
        self.message.ok(
            _("Weekly hours now follow {zone} time, daylight saving included.").format(
                zone=self.zone.value
            )
        )
