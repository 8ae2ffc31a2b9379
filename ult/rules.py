"""A sponsor's reward rule: how scans turn into points and points into rewards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

from babel.numbers import format_percent

from ult import ops
from ult.clock import or_now
from ult.errors import UltError
from ult.i18n import DEFAULT, N_, translate
from ult.identity import hash_owner_key
from ult.keys import sponsor_keys
from ult.validation import LIMITS as TEXT_LIMITS
from ult.validation import check_text

APPROVALS = ("instant", "staff")
# The reward a new business starts with (``lua/lib.lua`` RULE_DEFAULTS has it in English);
# registration stores it in the business's language (:func:`default_rule`). The number is a
# placeholder: each language writes a percentage its own way ("10 %" in Swedish).
DEFAULT_REWARD = N_("{percent} off your tab")
DEFAULT_DISCOUNT = 0.10

# field → (lowest, highest) for the whole-number settings
LIMITS: dict[str, tuple[int, int]] = {
    "points_per_scan": (1, 1000),
    "points_needed": (1, 1_000_000),
    "cooldown_min": (0, 7 * 24 * 60),
    "daily_cap": (0, 100),
    "expiry_days": (0, 3650),
    "voucher_min": (1, 24 * 60),
}


@dataclass(frozen=True)
class Rule:
    """The rule applied inside the scan script. Defaults suit a café."""

    points_per_scan: int = 1
    points_needed: int = 10
    reward: str = "10% off your tab"  # default_reward() in English
    approval: str = "instant"
    cooldown_min: int = 60
    daily_cap: int = 0
    expiry_days: int = 0
    require_code: bool = False
    voucher_min: int = 15

    def validated(self) -> Rule:
        """This rule with the reward text tidied, or UltError('bad_rule') naming the field."""
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UltError(
                    "bad_rule",
                    N_("{name} must be a whole number from {low} to {high}."),
                    params={"name": name, "low": low, "high": high},
                )
        if self.approval not in APPROVALS:
            raise UltError("bad_rule", N_("approval must be 'instant' or 'staff'."))
        if not isinstance(self.require_code, bool):
            raise UltError("bad_rule", N_("require_code must be true or false."))
        reward = check_text(N_("Reward"), self.reward, max_len=TEXT_LIMITS["reward"])
        return replace(self, reward=reward)

    def to_hash(self) -> dict[str, str]:
        """The rule as stored in Redis (strings; booleans as 0/1)."""
        return {k: str(int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_hash(cls, stored: dict[str, str]) -> Rule:
        """Read a stored rule; missing fields take their defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in stored:
                continue
            raw = stored[f.name]
            if f.name == "require_code":
                values[f.name] = raw == "1"
            elif f.name in ("reward", "approval"):
                values[f.name] = raw
            else:
                values[f.name] = int(raw)
        return cls(**values)

    @classmethod
    def from_values(cls, values: Sequence[str]) -> Rule:
        """A rule from its stored values in the order of :data:`RULE_FIELDS` (script replies)."""
        return _from_values(tuple(values))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RULE_FIELDS}


def default_reward(lang: str = DEFAULT) -> str:
    """The default reward in ``lang``: "10% off your tab", "10 % rabatt på notan", …"""
    percent = format_percent(DEFAULT_DISCOUNT, locale=lang)
    return translate(lang, DEFAULT_REWARD).format(percent=percent)


def default_rule(lang: str) -> Rule:
    """The rule a new business starts with, its reward worded in ``lang`` (as stored: spaces
    in the number plain)."""
    return Rule(reward=default_reward(lang)).validated()


# The order in which the scripts read and reply the rule's fields (``lua/lib.lua``).
RULE_FIELDS = tuple(f.name for f in fields(Rule))


@lru_cache(maxsize=4096)
def _from_values(values: tuple[str, ...]) -> Rule:
    # every scan answers its sponsor's rule: parse each distinct rule once
    return Rule.from_hash(dict(zip(RULE_FIELDS, values, strict=True)))


def get_rule(sid: str) -> ops.Op[Rule]:
    """The sponsor's current rule."""
    return ops.command(lambda h: Rule.from_hash(ops.as_dict(h)), "HGETALL", sponsor_keys(sid).rule)


def set_rule(sid: str, owner_key: str, rule: Rule, now_ms: int | None = None) -> ops.Op[Rule]:
    """Replace the rule (owner key checked in the script) and log a ``rule`` event."""
    rule = rule.validated()
    k = sponsor_keys(sid)
    flat = [x for item in rule.to_hash().items() for x in item]
    now_ms = or_now(now_ms)
    args = [hash_owner_key(owner_key), now_ms, json.dumps(rule.to_dict()), *flat]

    def parse(reply: Any) -> Rule:
        status = ops.text(reply)
        if status == "unknown_sponsor":
            raise UltError(
                "unknown_sponsor", N_("No business with id '{sid}'."), params={"sid": sid}
            )
        if status == "unauthorized":
            raise UltError("unauthorized", N_("That owner key does not match this business."))
        return rule

    return ops.script("set_rule", [k.profile, k.rule, k.events], args, parse)
