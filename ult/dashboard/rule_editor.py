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
from ult.errors import Term, UltError
from ult.i18n import N_, NP_, _, current, number, translate_plural, unit
from ult.messages import plural
from ult.rules import APPROVALS, LIMITS, Rule, get_rule, set_rule
from ult.wallet.registry import sponsor_changed

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


SUMMARY = N_("Each visit earns {per}; at {needed} a customer gets {reward}, {when} ({extras}).")
WHEN = {"instant": N_("at once"), "staff": N_("after your staff approve it")}
VALID_FOR = N_("the voucher is valid for {time}")
COOLDOWN = N_("a card counts at most once every {time}")
DAILY_CAP = NP_(
    "at most {n} counted visit per card a day", "at most {n} counted visits per card a day"
)
EXPIRY = N_("points lapse after {time} without a visit")
CODE_ONLY = N_("only scans of the counter screen's code count")


def summary_extras(rule: Rule, lang: str) -> list[str]:
    """The rule's voucher time and fair-use limits as clauses of the summary."""
    extras = [_(VALID_FOR).format(time=unit(rule.voucher_min, "minute", lang))]
    if rule.cooldown_min:
        extras.append(_(COOLDOWN).format(time=unit(rule.cooldown_min, "minute", lang)))
    if rule.daily_cap:
        extras.append(translate_plural(lang, DAILY_CAP, rule.daily_cap))
    if rule.expiry_days:
        extras.append(_(EXPIRY).format(time=unit(rule.expiry_days, "day", lang)))
    if rule.require_code:
        extras.append(_(CODE_ONLY))
    return extras


def rule_summary(rule: Rule) -> str:
    """The rule in one sentence for the sponsor, in the dashboard's language (HTML, escaped)."""
    lang = current()
    words = esc(_(SUMMARY)).format(
        per=esc(plural(rule.points_per_scan, "point", lang)),
        needed=esc(plural(rule.points_needed, "point", lang)),
        reward=f"<b>{esc(rule.reward)}</b>",
        when=esc(_(WHEN.get(rule.approval, WHEN["instant"]))),
        extras=esc("; ".join(summary_extras(rule, lang))),
    )
    return f'<p class="ult-rule-summary">{words}</p>'


def check_number(name: str, value: object) -> int:
    """A whole number within the field's limits, or UltError naming the field as the form does."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UltError(
            "bad_rule",
            N_("{name} must be a whole number from {low} to {high}."),
            params={
                "name": Term(NUMBERS[name][0]),
                "low": number(low, current()),
                "high": number(high, current()),
            },
        )
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
            raise UltError("bad_rule", N_("Choose when the reward is given."))
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
            raise UltError("bad_request", N_("Choose a business first."))
        rule = self.form_rule()
        saved = run(self.ctx.redis, set_rule(self.business.sid, self.business.owner_key, rule))
        if self.ctx.wallets:  # every pass shows the rule's goal and reward
            sponsor_changed(self.ctx.redis, self.business.sid)
        self._fill(saved)
        self.message.ok(_("Saved. Customers earn by the new rule from their next scan."))
        for callback in self.on_saved:
            callback(saved)
