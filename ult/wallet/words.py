"""What a wallet pass says, in English, by id (translated into the pass's language with the
project's catalogs: ``make i18n`` extracts these like ult/messages.py's texts). ``%@`` is
where Apple Wallet puts a field's new value in a change notification."""

from __future__ import annotations

from ult.i18n import N_, translate

PASS_TEXTS: dict[str, str] = {
    "description": N_("Loyalty card at {biz}"),
    "points": N_("Points"),
    "visits": N_("Visits"),
    "progress": N_("Progress"),
    "reward": N_("Reward"),
    "reward_ready": N_("Your reward is ready: {reward}"),
    "voucher": N_("Voucher code"),
    "voucher_until": N_("Voucher valid until"),
    "points_changed": N_("You have %@ points"),
    "visits_changed": N_("Visit %@ recorded"),
    "voucher_changed": N_("Your voucher: %@"),
    "card_link": N_("Your card"),
    "privacy": N_("Privacy"),
    "privacy_text": N_(
        "This pass holds your points at this business and nothing else: no name, no e-mail, "
        "not your card's key. The key stays on your phone, in the browser you scan with; "
        "only that browser can spend your points."
    ),
    "nearby": N_("{biz} is nearby — your loyalty card"),
}


def pass_text(lang: str, name: str, **values: object) -> str:
    """Text ``name`` of :data:`PASS_TEXTS` in ``lang``, ``{placeholders}`` filled."""
    text = translate(lang, PASS_TEXTS[name])
    return text.format(**values) if values else text
