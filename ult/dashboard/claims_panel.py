"""The claims tab: rewards waiting for staff (Approve / Reject), recent decisions (Redeem a
valid voucher at the till: it shows "Used at …"), Void; the staff keys panel below.

Every decision goes through ``claims.decide`` with the business's owner key (checked in the
script), then ``claim_update`` is emitted to the customer's card room through the Socket.IO
Redis manager, so the voucher appears (or changes) on the phone at once. New claims appear
within a second: the live reader passes ``claim`` and ``void`` entries here
(:class:`~ult.dashboard.live.StreamListener`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import ipywidgets as W

from ult import run
from ult.claims import Claim, decide, list_claims, pending
from ult.clock import now_ms
from ult.dashboard.context import Context
from ult.dashboard.staff_panel import StaffPanel
from ult.dashboard.storage import Business
from ult.dashboard.table import Action, ActionTable, Column, Row
from ult.dashboard.ui import Message, classed, esc, guarded, local_time
from ult.errors import UltError
from ult.i18n import N_, _, current, unit, units
from ult.identity import short_cid
from ult.rules import Rule
from ult.schema import Event

log = logging.getLogger("ult.dashboard")

RECENT_ROWS = 15
REDRAW_EVERY_S = 5.0  # "waiting 3 min" and voucher expiry move on without new entries
RELOAD_EVERY_S = 60.0  # a full re-read as a safety net (another server's clock, lost entries)

APPROVE = Action("approve", N_("Approve"), "primary")
REJECT = Action("reject", N_("Reject"), "danger")
VOID = Action("void", N_("Void"), "plain", confirm=N_("Confirm void"))
REDEEM = Action("redeem", N_("Redeem"), "primary")
NO_PENDING = N_("No claims waiting. A customer's claim appears here the moment it is made.")
NO_RECENT = N_("No rewards claimed yet.")

PENDING_COLUMNS = [
    Column("code", N_("Code"), "ult-claim-code"),
    Column("reward", N_("Reward")),
    Column("card", N_("Card"), "ult-cid"),
    Column("waiting", N_("Waiting")),
]
RECENT_COLUMNS = [
    Column("time", N_("Claimed")),
    Column("code", N_("Code"), "ult-claim-code-small"),
    Column("reward", N_("Reward")),
    Column("card", N_("Card"), "ult-cid"),
    Column("status", N_("Status")),
]
DONE_WORDS = {
    "approve": N_("Approved {code}: the voucher is on the customer's phone now."),
    "reject": N_("Rejected {code}: the points are back on the card."),
    "void": N_("Voided {code}: the points are back on the card."),
    "redeem": N_("Redeemed {code}: the voucher shows “Used” now."),
}


def waited(ms: int) -> str:
    """``just now``, ``45 s``, ``3 min``, ``2 h 05 min``."""
    seconds, lang = max(0, ms // 1000), current()
    if seconds < 10:
        return _("just now")
    if seconds < 60:
        return unit(seconds, "second", lang, "short")
    minutes = seconds // 60
    if minutes < 60:
        return unit(minutes, "minute", lang, "short")
    hours = unit(minutes // 60, "hour", lang, "short")
    return units([hours, unit(minutes % 60, "minute", lang, "short")], lang)


def status_words(claim: Claim, offset_min: int) -> str:
    """A decided claim's state in plain words."""
    state = claim.state
    if state == "approved":
        until = local_time(claim.expires_at, offset_min, "short_time")
        return _("Approved · valid until {time}").format(time=until)
    if state == "redeemed":
        at = local_time(claim.redeemed_ms, offset_min, "short_time")
        if claim.by and claim.by != "owner":
            return _("Used at {time} by {by}").format(time=at, by=claim.by)
        return _("Used at {time}").format(time=at)
    words = {
        "requested": N_("Waiting for staff"),
        "rejected": N_("Rejected · points given back"),
        "void": N_("Voided · points given back"),
        "expired": N_("Approved · voucher expired"),
    }
    return _(words[state]) if state in words else state


def pending_rows(claims: list[Claim], at_ms: int) -> list[Row]:
    """Claims waiting for staff, oldest first (first come, first served)."""
    return [
        Row(
            id=c.id,
            cells={
                "code": c.code,
                "reward": c.reward,
                "card": short_cid(c.cid),
                "waiting": waited(at_ms - c.created_ms),
            },
            actions=(APPROVE, REJECT),
        )
        for c in sorted(pending(claims), key=lambda c: c.created_ms)
    ]


def recent_rows(claims: list[Claim], offset_min: int) -> list[Row]:
    """The newest decided claims; a voucher still valid can be voided."""
    decided = [c for c in claims if c.state != "requested"][:RECENT_ROWS]
    return [
        Row(
            id=c.id,
            cells={
                "time": local_time(c.created_ms, offset_min, "day_time"),
                "code": c.code,
                "reward": c.reward,
                "card": short_cid(c.cid),
                "status": status_words(c, offset_min),
            },
            css=f"ult-claim-{c.state}",
            actions=(REDEEM, VOID) if c.state == "approved" else (VOID,) if c.open else (),
        )
        for c in decided
    ]


def mode_html(rule: Rule | None) -> str:
    """What the approval setting means for this tab."""
    if rule is None:
        return ""
    if rule.approval == "staff":
        words = _(
            "Your rule: staff approve each reward. Check the code on the customer's screen, "
            "then press Approve."
        )
    else:
        words = _(
            "Your rule gives rewards instantly: claims appear below as they are made. To check "
            "each one first, choose “After staff approve it” in Rewards."
        )
    return f'<p class="ult-hint">{esc(words)}</p>'


def badge_html(count: int) -> str:
    """The heading with the number of claims waiting."""
    css = "ult-badge-warn" if count else "ult-badge-ok"
    waiting = esc(_("Waiting for staff"))
    return (
        f'<h3 class="ult-h3">{waiting} <span class="ult-badge ult-count {css}">{count}</span></h3>'
    )


class ClaimsPanel:
    """Pending claims with Approve / Reject, recent ones with Void; a live pending count."""

    def __init__(self, ctx: Context, on_count: Callable[[int], None] | None = None) -> None:
        self.ctx = ctx
        self.on_count = on_count or (lambda _n: None)
        self.business: Business | None = None
        self.rule: Rule | None = None
        self.offset_min = 0
        self.claims: list[Claim] = []
        self.count = 0
        self._lock = threading.RLock()
        self._drawn_at = 0.0
        self._loaded_at = 0.0
        self.staff = StaffPanel(ctx)

        self.mode = classed(W.HTML(), "ult-claims-mode")
        self.badge = classed(W.HTML(badge_html(0)), "ult-claims-badge")
        self.message = Message()
        self.pending = classed(
            ActionTable(
                PENDING_COLUMNS,
                _(NO_PENDING),
                self._on_action,
                css="ult-claims-pending-table",
            ),
            "ult-claims-pending",
        )
        self.recent = classed(
            ActionTable(
                RECENT_COLUMNS,
                _(NO_RECENT),
                self._on_action,
                css="ult-claims-recent-table",
            ),
            "ult-claims-recent",
        )
        lead = _(
            "Rewards your customers claim at the counter. The code on their phone matches the "
            "big code here."
        )
        recent, hint = (
            _("Recent claims"),
            _(
                "Void a voucher given by mistake: the customer's phone shows it cancelled and the "
                "points go back on the card."
            ),
        )
        self.widget = classed(
            W.VBox(
                [
                    W.HTML(f'<p class="ult-lead">{esc(lead)}</p>'),
                    self.mode,
                    self.badge,
                    self.message,
                    self.pending,
                    W.HTML(
                        f'<h3 class="ult-h3">{esc(recent)}</h3><p class="ult-hint">{esc(hint)}</p>'
                    ),
                    self.recent,
                ]
            ),
            "ult-tab-claims",
        )
        # the staff keys below the claims, outside .ult-tab-claims (its own message and table)
        self.widget = W.VBox([self.widget, self.staff.widget])

    # --- showing -------------------------------------------------------------------------------

    def show(self, business: Business, rule: Rule, offset_min: int) -> None:
        """Show ``business``'s claims."""
        with self._lock:
            self.business, self.rule, self.offset_min = business, rule, offset_min
            self.message.clear()
            self.mode.value = mode_html(rule)
            self.reload()
            self.staff.show(business, offset_min)

    def clear(self) -> None:
        """Show no business (its owner key was refused)."""
        with self._lock:
            self.business, self.rule, self.claims = None, None, []
            self.mode.value = ""
            self._draw()
            self.staff.clear()

    def set_rule(self, rule: Rule) -> None:
        """The rule changed on the Rewards tab."""
        self.rule = rule
        self.mode.value = mode_html(rule)

    def reload(self) -> None:
        """Read the claims again and redraw."""
        with self._lock:
            business = self.business
            self.claims = run(self.ctx.redis, list_claims(business.sid)) if business else []
            self._loaded_at = time.monotonic()
            self._draw()

    def _draw(self) -> None:
        at = now_ms()
        self.pending.show(pending_rows(self.claims, at))
        self.recent.show(recent_rows(self.claims, self.offset_min))
        count = len(pending(self.claims))
        self.badge.value = badge_html(count)
        self._drawn_at = time.monotonic()
        if count != self.count:
            self.count = count
            self.on_count(count)

    # --- live updates (the reader's thread) ----------------------------------------------------

    def on_entries(self, entries: list[Event]) -> None:
        """Reload when a claim was made, decided or voided."""
        if any(e.kind == "claim" or (e.kind == "void" and e.claim) for e in entries):
            self.reload()

    def on_tick(self) -> None:
        """Keep waiting times current; re-read when a voucher shown as valid reaches its end
        (the scripts decide that it expired), and now and then."""
        if self.business is None:
            return
        since_load = time.monotonic() - self._loaded_at
        if since_load >= RELOAD_EVERY_S or self._voucher_ended():
            self.reload()
        elif time.monotonic() - self._drawn_at >= REDRAW_EVERY_S and self.claims:
            with self._lock:
                self._draw()

    def _voucher_ended(self) -> bool:
        at = now_ms()
        return any(c.state == "approved" and c.expires_at <= at for c in self.claims)

    # --- staff actions -------------------------------------------------------------------------

    @guarded(lambda self: self.message)
    def _on_action(self, action: str, claim_id: str) -> None:
        """Approve, reject, void or redeem one claim, then tell the customer's phone."""
        business = self.business
        if business is None:
            raise UltError("bad_request", N_("Choose a business first."))
        self.message.clear()
        try:
            claim = run(self.ctx.redis, decide(business.sid, business.owner_key, claim_id, action))
        except UltError as exc:
            if exc.code in ("already_decided", "unknown_claim"):
                self.reload()
                raise UltError(
                    exc.code,
                    N_("Someone already dealt with this claim — the list is up to date now."),
                ) from None
            raise
        told = self._notify(business.sid, claim)
        self.reload()
        if told:
            self.message.ok(_(DONE_WORDS[action]).format(code=claim.code))
        else:
            self.message.show(
                "warn",
                _(
                    "Done ({code}), but the customer's phone could not be told: ask them to "
                    "reload their page."
                ).format(code=claim.code),
            )

    def _notify(self, sid: str, claim: Claim) -> bool:
        """Push the change to the customer's open pages; False if that failed."""
        try:
            self.ctx.notifier.claim_update(sid, claim.cid, claim.to_dict())
            self.ctx.card_changed(sid, claim.cid)
        except Exception:
            log.exception("claim_update for %s failed", claim.id)
            return False
        return True
