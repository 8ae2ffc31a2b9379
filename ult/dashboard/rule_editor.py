"""The rewards tab: an editor for every field of the business's reward rule (``ult.rules``).

Saving goes through ``rules.set_rule`` with the owner key, which checks it in Redis and logs a
``rule`` event; printed QR codes keep working unchanged. Other panels that depend on the rule
(claims, counter screen) subscribe with :attr:`RuleEditor.on_saved`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import ipywidgets as W

from ult import run
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import Message, classed, esc, guarded
from ult.errors import UltError
from ult.i18n import N_, _
from ult.rules import APPROVALS, LIMITS, Rule, get_rule, set_rule

STYLE = {"description_width": "17em"}
WIDE = W.Layout(width="34em")

# rule field → (label, help shown next to it)
NUMBERS: dict[str, tuple[str, str]] = {
    "points_per_scan": (N_("Points per visit"), ""),
    "points_needed": (N_("Points for a reward"), ""),
    "voucher_min": (
        N_("Minutes a voucher stays valid"),
        N_("the customer shows it at the counter"),
    ),
    "cooldown_min": (N_("Minutes between counted visits"), N_("0 = every scan counts")),
    "daily_cap": (N_("Counted visits per card per day"), N_("0 = no limit")),
    "expiry_days": (N_("Points expire after days away"), N_("0 = never")),
}
REWARD_FIELDS = ("points_per_scan", "points_needed", "voucher_min")  # shown above the reward text
CODE_HELP = N_(
    "Only scans of the code on your Counter screen count: it changes every 30 seconds, "
    "so a photo of your poster taken home earns nothing. Turn it on once the counter screen "
    "is up."
)


def plural(n: int, word: str) -> str:
    """``1 point``, ``3 points``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rule_summary(rule: Rule) -> str:
    """The rule in one sentence for the sponsor (HTML, escaped)."""
    per = plural(rule.points_per_scan, "point")
    when = "at once" if rule.approval == "instant" else "after your staff approve it"
    extras = [f"the voucher is valid for {plural(rule.voucher_min, 'minute')}"]
    if rule.cooldown_min:
        extras.append(f"a card counts at most once every {plural(rule.cooldown_min, 'minute')}")
    if rule.daily_cap:
        extras.append(f"at most {plural(rule.daily_cap, 'counted visit')} per card a day")
    if rule.expiry_days:
        extras.append(f"points lapse after {plural(rule.expiry_days, 'day')} without a visit")
    if rule.require_code:
        extras.append("only scans of the counter screen's code count")
    return (
        f'<p class="ult-rule-summary">Each visit earns {per}; at {rule.points_needed} points a '
        f"customer gets <b>{esc(rule.reward)}</b>, {when} ({esc('; '.join(extras))}).</p>"
    )


def check_number(name: str, value: object) -> int:
    """A whole number within the field's limits, or UltError naming the field as the form does."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        label = _(NUMBERS[name][0])
        raise UltError("bad_rule", f"{label} must be a whole number from {low:,} to {high:,}.")
    return value


class RuleEditor:
    """Edit every rule field: points, reward, approval, voucher time, limits, counter code."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.rule = Rule()
        self.on_saved: list[Callable[[Rule], None]] = []
        self.inputs: dict[str, W.BoundedIntText] = {}
        rows: dict[str, W.Widget] = {}
        for name, (label, help_text) in NUMBERS.items():
            low, high = LIMITS[name]
            box = W.BoundedIntText(min=low, max=high, description=_(label), style=STYLE)
            self.inputs[name] = classed(box, f"ult-rule-{name.replace('_', '-')}")
            hint = esc(_(help_text)) if help_text else ""
            rows[name] = W.HBox([box, W.HTML(f'<span class="ult-hint">{hint}</span>')])
        self.reward = classed(
            W.Text(
                description=_("Reward"),
                style=STYLE,
                layout=WIDE,
                placeholder=_("A free coffee"),
            ),
            "ult-rule-reward",
        )
        self.approval = classed(
            W.Dropdown(
                description=_("Give the reward"),
                options=[(_("Instantly"), "instant"), (_("After staff approve it"), "staff")],
                style=STYLE,
            ),
            "ult-rule-approval",
        )
        self.require_code = classed(
            W.Checkbox(description=_("Require the counter code"), indent=False),
            "ult-rule-require-code",
        )
        self.save = classed(
            W.Button(description=_("Save rule"), button_style="primary"), "ult-save-rule"
        )
        self.summary = classed(W.HTML(), "ult-rule-summary-box")
        self.message = Message()
        lead = _(
            "How visits turn into rewards. Changes apply from the next scan; printed QR codes stay valid."
        )
        intro = W.HTML(f'<p class="ult-lead">{esc(lead)}</p>')
        fair_use = esc(_("Fair use"))
        limits = W.HTML(f'<h3 class="ult-h3">{fair_use}</h3>')
        code_help = esc(_(CODE_HELP))
        code_box = classed(
            W.VBox([self.require_code, W.HTML(f'<p class="ult-hint">{code_help}</p>')]),
            "ult-rule-code-box",
        )
        self.widget = classed(
            W.VBox(
                [intro, self.summary, rows["points_per_scan"], rows["points_needed"]]
                + [self.reward, self.approval, rows["voucher_min"], limits]
                + [rows[name] for name in NUMBERS if name not in REWARD_FIELDS]
                + [code_box, self.save, self.message]
            ),
            "ult-tab-rules",
        )
        self.save.on_click(self._on_save)

    def show(self, business: Business) -> None:
        """Load ``business``'s current rule into the form."""
        self.business = business
        self.message.clear()
        self._fill(run(self.ctx.redis, get_rule(business.sid)))

    def form_rule(self) -> Rule:
        """The rule the form describes, or UltError in plain words naming the field."""
        numbers = {name: check_number(name, box.value) for name, box in self.inputs.items()}
        if self.approval.value not in APPROVALS:
            raise UltError("bad_rule", "Choose when the reward is given.")
        return replace(
            self.rule,
            reward=self.reward.value,
            approval=self.approval.value,
            require_code=bool(self.require_code.value),
            **numbers,
        ).validated()

    def _fill(self, rule: Rule) -> None:
        self.rule = rule
        for name, box in self.inputs.items():
            box.value = getattr(rule, name)
        self.reward.value = rule.reward
        self.approval.value = rule.approval
        self.require_code.value = rule.require_code
        self.summary.value = rule_summary(rule)

    @guarded(lambda self: self.message)
    def _on_save(self, _button: W.Button | None = None) -> None:
        if self.business is None:
            raise UltError("bad_request", "Choose a business first.")
        rule = self.form_rule()
        saved = run(self.ctx.redis, set_rule(self.business.sid, self.business.owner_key, rule))
        self._fill(saved)
        self.message.ok("Saved. Customers earn by the new rule from their next scan.")
        for callback in self.on_saved:
            callback(saved)
