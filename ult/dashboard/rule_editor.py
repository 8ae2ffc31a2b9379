"""The rewards tab: a simple editor for the business's reward rule (``ult.rules``).

Saving goes through ``rules.set_rule`` with the owner key, which checks it in Redis and logs a
``rule`` event; printed QR codes keep working unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import ipywidgets as W

from ult import run
from ult.dashboard.context import Context
from ult.dashboard.storage import Business
from ult.dashboard.ui import Message, classed, esc, guarded
from ult.errors import UltError
from ult.rules import LIMITS, Rule, get_rule, set_rule

STYLE = {"description_width": "17em"}
WIDE = W.Layout(width="34em")

# rule field → (label, help shown next to it)
NUMBERS: dict[str, tuple[str, str]] = {
    "points_per_scan": ("Points per visit", ""),
    "points_needed": ("Points for a reward", ""),
    "cooldown_min": ("Minutes between counted visits", "0 = every scan counts"),
    "daily_cap": ("Counted visits per card per day", "0 = no limit"),
    "expiry_days": ("Points expire after days away", "0 = never"),
}


def rule_summary(rule: Rule) -> str:
    """The rule in one sentence for the sponsor (HTML, escaped)."""
    per = "1 point" if rule.points_per_scan == 1 else f"{rule.points_per_scan} points"
    when = "at once" if rule.approval == "instant" else "after your staff approve it"
    extras = []
    if rule.cooldown_min:
        extras.append(f"a card counts at most once every {rule.cooldown_min} minutes")
    if rule.daily_cap:
        extras.append(f"at most {rule.daily_cap} counted visits per card a day")
    if rule.expiry_days:
        extras.append(f"points lapse after {rule.expiry_days} days without a visit")
    tail = f" ({'; '.join(extras)})" if extras else ""
    return (
        f'<p class="ult-rule-summary">Each visit earns {per}; at {rule.points_needed} points a '
        f"customer gets <b>{esc(rule.reward)}</b>, {when}{esc(tail)}.</p>"
    )


class RuleEditor:
    """Edit points per visit, points needed, reward, approval, cooldown, cap and expiry."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.business: Business | None = None
        self.rule = Rule()
        self.inputs: dict[str, W.BoundedIntText] = {}
        rows: list[W.Widget] = []
        for name, (label, help_text) in NUMBERS.items():
            low, high = LIMITS[name]
            box = W.BoundedIntText(min=low, max=high, description=label, style=STYLE)
            self.inputs[name] = classed(box, f"ult-rule-{name.replace('_', '-')}")
            rows.append(W.HBox([box, W.HTML(f'<span class="ult-hint">{help_text}</span>')]))
        self.reward = classed(
            W.Text(description="Reward", style=STYLE, layout=WIDE, placeholder="10% off your tab"),
            "ult-rule-reward",
        )
        self.approval = classed(
            W.Dropdown(
                description="Give the reward",
                options=[("Instantly", "instant"), ("After staff approve it", "staff")],
                style=STYLE,
            ),
            "ult-rule-approval",
        )
        self.save = classed(
            W.Button(description="Save rule", button_style="primary"), "ult-save-rule"
        )
        self.summary = classed(W.HTML(), "ult-rule-summary-box")
        self.message = Message()
        intro = W.HTML(
            '<p class="ult-lead">How visits turn into rewards. Changes apply from the next '
            "scan; printed QR codes stay valid.</p>"
        )
        self.widget = classed(
            W.VBox(
                [intro, self.summary, rows[0], rows[1], self.reward, self.approval, *rows[2:]]
                + [self.save, self.message]
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
        """The rule the form describes (fields the form does not edit are kept)."""
        numbers = {name: int(box.value) for name, box in self.inputs.items()}
        return replace(
            self.rule, reward=self.reward.value, approval=self.approval.value, **numbers
        ).validated()

    def _fill(self, rule: Rule) -> None:
        self.rule = rule
        for name, box in self.inputs.items():
            box.value = getattr(rule, name)
        self.reward.value = rule.reward
        self.approval.value = rule.approval
        self.summary.value = rule_summary(rule)

    @guarded(lambda self: self.message)
    def _on_save(self, _button: W.Button | None = None) -> None:
        if self.business is None:
            raise UltError("bad_request", "Choose a business first.")
        rule = self.form_rule()
        saved = run(self.ctx.redis, set_rule(self.business.sid, self.business.owner_key, rule))
        self._fill(saved)
        self.message.ok("Saved. Customers earn by the new rule from their next scan.")
