"""Every sentence a customer reads, declared once, by message id, in English.

The texts are gettext messages (marked with :func:`~ult.i18n.N_` and :func:`~ult.i18n.NP_`;
``make i18n`` keeps the catalogs under ``ult/locale`` in step). The customer pages get the
catalog of their language in their config (:func:`page_catalog`) and show texts by id, and
errors by code, so the page and the server never word one thing twice. Placeholders are
``{name}``: the server fills them with :func:`format_message`, the page with the same names
(``common.js``). Plural texts use ``{n}`` for the number.
"""

from __future__ import annotations

from typing import Any

from ult.errors import UltError
from ult.i18n import (
    DEFAULT,
    N_,
    NP_,
    number,
    plural_form,
    plural_samples,
    translate,
    translate_plural,
    unit,
    units,
)

# code → (headline, advice), for every error code a customer page can meet
ERRORS: dict[str, tuple[str, str]] = {
    "cooldown": (N_("Already counted — thanks!"), N_("Your next visit counts in {wait}.")),
    "daily_cap": (N_("That's all the visits for today"), N_("Your next visit counts in {wait}.")),
    "unknown_sponsor": (
        N_("We don't know this business"),
        N_("This QR code isn't (or is no longer) part of ULT. Ask the staff about it."),
    ),
    "code_required": (
        N_("Scan the code at the counter"),
        N_("This place counts visits with the QR code shown on the screen at the counter."),
    ),
    "code_invalid": (
        N_("That code has changed"),
        N_("The counter code changes every few minutes. Scan the one on the screen again."),
    ),
    "rate_limited": (
        N_("One moment…"),
        N_("Too many tries at once. Wait a few seconds and try again."),
    ),
    "bad_request": (
        N_("This link looks damaged"),
        N_("Scan the QR code again. If it keeps happening, ask the staff."),
    ),
    "not_enough_points": (N_("Not enough points yet"), N_("{missing} for {reward}.")),
    "offline": (
        N_("Can't reach ULT"),
        N_("This phone is offline. Your visit will count when you try again with a connection."),
    ),
    "no_answer": (
        N_("Can't reach ULT"),
        N_("The server isn't answering. Your visit hasn't counted yet — try again."),
    ),
    "unavailable": (
        N_("ULT is having a moment"),
        N_("Your visit hasn't counted yet. Please try again in a minute."),
    ),
    "storage_full": (
        N_("We can't save visits right now"),
        N_("Your visit hasn't counted yet. Please try again later."),
    ),
    "too_many_new_cards": (
        N_("Lots of new cards from here"),
        N_("Many new cards were just started on this network. Try again in a minute."),
    ),
    "too_many_connections": (
        N_("Too many connections from this network"),
        N_("Close some tabs, then try again."),
    ),
    "storage": (
        N_("This browser won't keep your card"),
        N_(
            "Your card lives on this phone, but storage is blocked (private mode?). "
            "Open the page in a normal tab."
        ),
    ),
    "server_error": (N_("Something went wrong"), N_("That's on us, not you. Please try again.")),
    # the staff page (staff keys, decisions at the counter)
    "unauthorized": (
        N_("This key is not accepted"),
        N_(
            "The key does not match this business, or the owner revoked it. Ask the owner for a "
            "new staff key."
        ),
    ),
    "too_many_attempts": (
        N_("Too many wrong keys"),
        N_("Wait a minute, then check the key."),
    ),
    "unknown_claim": (
        N_("No such claim"),
        N_("The list is up to date now."),
    ),
    "already_decided": (
        N_("Already decided"),
        N_("Someone dealt with this claim already."),
    ),
    "already_redeemed": (
        N_("Already used"),
        N_("This voucher was redeemed already: it counts once."),
    ),
    "not_approved": (
        N_("Not approved yet"),
        N_("Approve the claim first, then redeem the voucher."),
    ),
    "claim_rejected": (
        N_("This claim was rejected"),
        N_("There is no voucher to redeem."),
    ),
    "claim_void": (
        N_("This voucher was voided"),
        N_("It cannot be redeemed."),
    ),
    "voucher_expired": (
        N_("This voucher has expired"),
        N_("It cannot be redeemed any more."),
    ),
    # wallet passes (the `pass` event)
    "wallet_unavailable": (
        N_("Wallet passes aren't available here"),
        N_("Your card keeps working on this page."),
    ),
    "card_not_started": (
        N_("No visits on this card yet"),
        N_("Scan the QR code at the business first, then add the card to your wallet."),
    ),
}

# Codes after which trying the same request again may succeed (the page offers "Try again").
RETRYABLE = (
    "rate_limited",
    "offline",
    "no_answer",
    "unavailable",
    "storage_full",
    "too_many_new_cards",
    "too_many_connections",
    "server_error",
)

# Every other sentence of the customer pages, by id: the pages' HTML (ult/service/templates)
# and their scripts (ult/service/static/js) use these ids and nothing else.
TEXTS: dict[str, str] = {
    # shared by the pages
    "brand": N_("ULT loyalty"),
    "my_cards": N_("My cards"),
    "see_my_cards": N_("See my cards"),
    "try_again": N_("Try again"),
    "reward": N_("Reward"),
    "your_reward": N_("your reward"),
    "a_few_seconds": N_("a few seconds"),
    "in_wait": N_("in {wait}"),
    # the scan page
    "scan_title": N_("{biz} — loyalty card"),
    "card_at": N_("Your loyalty card at"),
    "counting": N_("Counting your visit…"),
    # a new card past the network's new-card budget: the phone solves a proof of work first
    "checking_phone": N_("Checking your phone…"),
    "checking_phone_detail": N_(
        "Many new cards come from this network right now. This takes a moment."
    ),
    "visit_recorded": N_("Visit {visits} recorded"),
    "visit_again": N_("Visit {visits} already recorded"),
    "next_visit": N_("Thanks! Your next visit counts in {wait}."),
    "thanks": N_("Thanks for coming by!"),
    "see_all_cards": N_("See all my cards"),
    "scan_fineprint": N_(
        "No sign-up, no name, no e-mail. This phone keeps an anonymous card for this place; "
        "only this phone can spend its points. Changing phones? Save a recovery code in {link}."
    ),
    # the wallet
    "wallet_title": N_("My loyalty cards"),
    "wallet_lede": N_(
        "Your loyalty cards live on this phone only — no account. Tap a card for details."
    ),
    "cards_label": N_("Loyalty cards"),
    "wallet_empty": N_(
        "No cards yet. Scan a ULT QR code at a café, bar or shop and your first card appears here."
    ),
    "backup_title": N_("Move to a new phone"),
    "export_summary": N_("Save a recovery code"),
    "export_empty": N_("There are no cards on this phone to save yet."),
    "export_warning": N_("This code is your cards: anyone who has it can spend your points."),
    "export_advice": N_("Keep it private — in a password manager or a note only you can read."),
    "recovery_code": N_("Recovery code"),
    "copy_code": N_("Copy code"),
    "copied": N_("Copied. Keep it somewhere private."),
    "copy_by_hand": N_("Select the code and copy it."),
    "import_summary": N_("Restore from a recovery code"),
    "import_label": N_("Paste a recovery code (starts with ULT1.)"),
    "import_button": N_("Add these cards"),
    "import_added": N_("Added {cards}: {names}."),
    "import_same": N_("Already on this phone: {names}."),
    "import_conflicts": N_(
        "Kept the card this phone already has for {names} (the code holds a different card "
        "there; it was not imported, so no points were lost)."
    ),
    "wallet_fineprint": N_(
        "ULT never asks who you are. Each card is a random secret kept on this phone; the "
        "business only ever sees a scrambled card number."
    ),
    "visit": N_("Visit"),
    "points_unknown": N_("— points"),
    "balance_not_loaded": N_("Balance not loaded yet"),
    "business_left": N_("This business has left ULT."),
    "last_seen": N_("Last seen {date}"),
    "reward_at": N_("{reward} at {points}"),
    "each_visit": N_("Each visit"),
    "next_visit_counts": N_("Next visit counts"),
    "now": N_("now"),
    "card_number": N_("Card number"),
    "on_phone_since": N_("On this phone since"),
    "recent_activity": N_("Recent activity"),
    "balances_partial": N_("Some balances could not be loaded. Showing what this phone saw last."),
    "wallet_offline": N_("Offline — showing the balances this phone saw last."),
    # the cards on this phone and recovery codes (cards.js)
    "storage_blocked": N_("This browser does not let the page keep data."),
    "storage_refused": N_("This browser did not let the page save your card."),
    "storage_lost": N_("This browser did not keep your card."),
    "code_empty": N_("Paste a recovery code first."),
    "code_not_ult": N_("That is not a ULT recovery code (it should start with “ULT1.”)."),
    "code_incomplete": N_(
        "This recovery code is damaged or incomplete. Copy the whole code and try again."
    ),
    "code_newer": N_("This recovery code is damaged or from a newer version of ULT."),
    "code_bad_card": N_("This recovery code is damaged: one of its cards is not valid."),
    "code_no_cards": N_("This recovery code holds no cards."),
    # rewards: the claim box and the voucher (claim.js)
    "claim_rejected": N_("Sorry — the staff didn't approve this claim. {back}"),
    "claim_void": N_("The staff cancelled this reward. {back}"),
    "voucher_expired": N_("Your voucher for {reward} expired at {time}."),
    "voucher_hint": N_("Show this screen to the staff"),
    "done": N_("Done"),
    "valid_for": N_("Valid for {time}"),  # {time}: how long, in words ("15 minutes")
    "claim_unconfirmed": N_(
        "We couldn't confirm your claim. Try again — points are never spent twice."
    ),
    "claim_now": N_("Claim now"),
    "reward_earned": N_("Reward earned!"),
    "claim_how_staff": N_(
        "Show this to staff now — they approve it at the counter, then the voucher is valid "
        "for {valid}."
    ),
    "claim_how": N_("Show this to staff now — the voucher is valid for {valid}."),
    "claiming": N_("Claiming…"),
    "claim_yes": N_("Yes, claim it"),
    "not_now": N_("Not now"),
    "claim_title": N_("Claim {reward}?"),
    "claim_uses": N_("This uses {points}."),
    "claim_waiting": N_("Waiting for staff to approve…"),
    "claim_show_code": N_("Show this code at the counter:"),
    "claim_set_aside": N_("{reward} · {points} set aside for it"),
    "your_voucher": N_("Your voucher"),
    "show_voucher": N_("Show voucher"),
    # the page for an unknown QR code, and the offline page
    "not_found_title": N_("Unknown code — ULT loyalty"),
    "not_found_headline": N_("We don't know this QR code"),
    "not_found_detail": N_(
        "No business is registered as {sid}. The code may be old or mistyped — ask the staff, "
        "or scan it again."
    ),
    "offline_title": N_("Offline — ULT loyalty"),
    "offline_headline": N_("You're offline"),
    "offline_detail": N_(
        "A visit only counts when this phone can reach the internet. Scan the QR code again "
        "once you're connected — nothing is lost."
    ),
    # the customer's voucher once staff redeemed it
    "used": N_("Used"),
    "voucher_used": N_("Your voucher for {reward} was used at {time}. Enjoy!"),
    # the staff page (GET /staff)
    "staff_title": N_("Counter"),
    "staff_setup": N_(
        "Enter the business id and the staff key the owner gave you. This device remembers them."
    ),
    "staff_sid": N_("Business id"),
    "staff_key": N_("Staff key"),
    "staff_start": N_("Start"),
    "staff_forget": N_("Forget this key"),
    "staff_connecting": N_("Connecting…"),
    "staff_live": N_("Live — {biz} · signed in as {staff}"),
    "staff_offline": N_("Offline — reconnecting…"),
    "staff_pending": N_("Waiting for approval"),
    "staff_vouchers": N_("Vouchers in the last 24 hours"),
    "staff_no_pending": N_("No claims waiting. A new claim appears here the moment it is made."),
    "staff_no_vouchers": N_("No vouchers yet."),
    "staff_approve": N_("Approve"),
    "staff_reject": N_("Reject"),
    "staff_redeem": N_("Redeem"),
    "staff_status_requested": N_("Waiting"),
    "staff_status_approved": N_("Valid until {time}"),
    "staff_status_redeemed": N_("Used at {time} · {by}"),
    "staff_status_expired": N_("Expired at {time}"),
    "staff_status_rejected": N_("Rejected · {by}"),
    "staff_status_void": N_("Voided · {by}"),
    "staff_done_approve": N_("Approved {code}: the voucher is on the customer's phone."),
    "staff_done_reject": N_("Rejected {code}: the points are back on the card."),
    "staff_done_redeem": N_("Redeemed {code}: the voucher shows “Used” now."),
    "staff_bad_sid": N_("A business id is 3–64 characters of a-z, 0-9 and -."),
    "staff_bad_key": N_("A staff key is 32–128 characters of letters, digits, _ and -."),
    # promotions: {name} is the sponsor's own wording, {multiplier} a number such as 2 or 1.5
    "promotions": N_("Promotions"),
    "promo_applied": N_("{name} — {points}"),
    "promo_active": N_("On now: {name} (×{multiplier} points) until {until}"),
    "promo_next": N_("Coming up: {name} (×{multiplier} points) — {when}"),
    # wallet passes: the wallets' own names for their buttons
    "add_apple_wallet": N_("Add to Apple Wallet"),
    "save_google_wallet": N_("Save to Google Wallet"),
    "wallet_opening": N_("Opening your wallet…"),
}

# Texts with a number, by id: (singular, plural) in English; each catalog has the forms its
# language needs (Arabic six). The page picks the form with Intl.PluralRules.
PLURALS: dict[str, tuple[str, str]] = {
    "points": NP_("{n} point", "{n} points"),
    "visits": NP_("{n} visit", "{n} visits"),
    "cards": NP_("{n} card", "{n} cards"),
    "more_points": NP_("{n} more point", "{n} more points"),
    "points_back": NP_(
        "Your {n} point is back on your card.", "Your {n} points are back on your card."
    ),
    # progress toward the reward: {n} is the goal, so the word for points agrees with it
    "progress": NP_(
        "{points} of {n} point — {more} more for {reward}",
        "{points} of {n} points — {more} more for {reward}",
    ),
    # once the goal is reached: {n} is the card's points
    "progress_ready": NP_("{n} point — enough for {reward}!", "{n} points — enough for {reward}!"),
}


def plural(n: int, word: str, lang: str = DEFAULT) -> str:
    """``1 point``, ``2 points``: ``word`` is the singular of one of :data:`PLURALS`."""
    return translate_plural(lang, PLURALS[f"{word}s"], n)


FEW_SECONDS = 45  # a shorter wait is "a few seconds"
WAIT_UNITS = ("minute", "hour", "day")


def wait_parts(seconds: int) -> list[tuple[int, str]]:
    """A wait of at least :data:`FEW_SECONDS` in whole units: 5400 → [(1, hour), (30, minute)]
    (``common.js`` ``waitUnits`` splits the same way)."""
    minutes = -(-int(seconds) // 60)
    if minutes < 60:
        return [(minutes, "minute")]
    hours, rest = divmod(minutes, 60)
    if hours >= 24:
        return [(round(hours / 24), "day")]
    return [(hours, "hour")] + ([(rest, "minute")] if rest else [])


def in_words(seconds: int, lang: str = DEFAULT) -> str:
    """``42 minutes``, ``1 hour 30 minutes``, ``2 days`` — a wait in ``lang``; the page words
    it from :func:`wait_words` (``common.js`` ``humanDuration``)."""
    if seconds < FEW_SECONDS:
        return translate(lang, TEXTS["a_few_seconds"])
    return units([unit(n, name, lang) for n, name in wait_parts(seconds)], lang)


def wait_words(lang: str = DEFAULT) -> dict[str, Any]:
    """How the page words a wait in ``lang``, from the same CLDR data as :func:`in_words`:
    each unit's text by plural category with ``{n}`` for the number, the pattern joining two
    units (``{a}``, ``{b}``) and the shortest wait worded in units."""
    samples = plural_samples(lang)

    def template(n: int, name: str) -> str:
        return unit(n, name, lang).replace(number(n, lang), "{n}", 1)

    return {
        "units": {
            name: {category: template(n, name) for category, n in samples.items()}
            for name in WAIT_UNITS
        },
        "pair": units(["{a}", "{b}"], lang),
        "few_seconds": FEW_SECONDS,
    }


def format_message(code: str, lang: str = DEFAULT, **values: Any) -> str:
    """The one-line message of error ``code`` (headline and advice) in ``lang``, with
    ``values`` filled in."""
    title, detail = (translate(lang, text) for text in ERRORS[code])
    stop = "" if title.endswith((".", "!", "?", "…", "؟")) else "."
    return f"{title}{stop} {detail.format(**values)}"


def customer_error(code: str, **values: Any) -> UltError:
    """The error ``code`` with its catalog message (``values`` fill its placeholders)."""
    return UltError(code, format_message(code, **values))


def page_catalog(lang: str = DEFAULT) -> dict[str, Any]:
    """What the customer pages need to word every answer in ``lang``: errors, retryable codes,
    texts, plural texts as {Intl.PluralRules category: text}, and the words of waits."""
    t = lambda text: translate(lang, text)  # noqa: E731
    samples = plural_samples(lang)
    return {
        "lang": lang,
        "errors": {code: {"title": t(a), "detail": t(b)} for code, (a, b) in ERRORS.items()},
        "retryable": list(RETRYABLE),
        "texts": {key: t(text) for key, text in TEXTS.items()},
        "plurals": {
            key: {category: plural_form(lang, forms, n) for category, n in samples.items()}
            for key, forms in PLURALS.items()
        },
        "waits": wait_words(lang),
    }
