"""Every sentence a customer reads, declared once, by message id.

The service answers errors with a code and a message made from these texts; the customer
pages get the same catalog in their config (:func:`page_catalog`) and show texts by code, so
the page and the server never word one thing twice. Placeholders are ``{name}``: the server
fills them with :func:`format_message`, the page with the same names (``common.js``).
"""

from __future__ import annotations

from typing import Any

from ult.errors import UltError

# code → (headline, advice), for every error code a customer page can meet
ERRORS: dict[str, tuple[str, str]] = {
    "cooldown": ("Already counted — thanks!", "Your next visit counts in {wait}."),
    "daily_cap": ("That's all the visits for today", "Your next visit counts in {wait}."),
    "unknown_sponsor": (
        "We don't know this business",
        "This QR code isn't (or is no longer) part of ULT. Ask the staff about it.",
    ),
    "code_required": (
        "Scan the code at the counter",
        "This place counts visits with the QR code shown on the screen at the counter.",
    ),
    "code_invalid": (
        "That code has changed",
        "The counter code changes every few minutes. Scan the one on the screen again.",
    ),
    "rate_limited": ("One moment…", "Too many tries at once. Wait a few seconds and try again."),
    "bad_request": (
        "This link looks damaged",
        "Scan the QR code again. If it keeps happening, ask the staff.",
    ),
    "not_enough_points": ("Not enough points yet", "{missing} for {reward}."),
    "offline": (
        "Can't reach ULT",
        "This phone is offline. Your visit will count when you try again with a connection.",
    ),
    "no_answer": (
        "Can't reach ULT",
        "The server isn't answering. Your visit hasn't counted yet — try again.",
    ),
    "unavailable": (
        "ULT is having a moment",
        "Your visit hasn't counted yet. Please try again in a minute.",
    ),
    "storage_full": (
        "We can't save visits right now",
        "Your visit hasn't counted yet. Please try again later.",
    ),
    "too_many_new_cards": (
        "Lots of new cards from here",
        "Many new cards were just started on this network. Try again in a minute.",
    ),
    "storage": (
        "This browser won't keep your card",
        "Your card lives on this phone, but storage is blocked (private mode?). "
        "Open the page in a normal tab.",
    ),
    "server_error": ("Something went wrong", "That's on us, not you. Please try again."),
    # the staff page (staff keys, decisions at the counter)
    "unauthorized": (
        "This key is not accepted",
        "The key does not match this business, or the owner revoked it. Ask the owner for a "
        "new staff key.",
    ),
    "too_many_attempts": ("Too many wrong keys", "Wait a minute, then check the key."),
    "unknown_claim": ("No such claim", "The list is up to date now."),
    "already_decided": ("Already decided", "Someone dealt with this claim already."),
    "already_redeemed": ("Already used", "This voucher was redeemed already: it counts once."),
    "not_approved": ("Not approved yet", "Approve the claim first, then redeem the voucher."),
    "claim_rejected": ("This claim was rejected", "There is no voucher to redeem."),
    "claim_void": ("This voucher was voided", "It cannot be redeemed."),
    "voucher_expired": ("This voucher has expired", "It cannot be redeemed any more."),
}

# Codes after which trying the same request again may succeed (the page offers "Try again").
RETRYABLE = (
    "rate_limited",
    "offline",
    "no_answer",
    "unavailable",
    "storage_full",
    "too_many_new_cards",
    "server_error",
)

# Other sentences of the scan page, by id.
TEXTS: dict[str, str] = {
    "counting": "Counting your visit…",
    "visit_recorded": "Visit {visits} recorded",
    "visit_again": "Visit {visits} already recorded",
    "next_visit": "Thanks! Your next visit counts in {wait}.",
    "thanks": "Thanks for coming by!",
    "progress": "{points} of {needed} points — {more} more for {reward}",
    "progress_ready": "{points} of {needed} points — enough for {reward}!",
    # the customer's voucher once staff redeemed it
    "used": "Used",
    "voucher_used": "Your voucher for {reward} was used at {time}. Enjoy!",
    # the staff page (GET /staff)
    "staff_title": "Counter",
    "staff_setup": "Enter the business id and the staff key the owner gave you. This device "
    "remembers them.",
    "staff_sid": "Business id",
    "staff_key": "Staff key",
    "staff_start": "Start",
    "staff_forget": "Forget this key",
    "staff_connecting": "Connecting…",
    "staff_live": "Live — {biz} · signed in as {staff}",
    "staff_offline": "Offline — reconnecting…",
    "staff_pending": "Waiting for approval",
    "staff_vouchers": "Vouchers in the last 24 hours",
    "staff_no_pending": "No claims waiting. A new claim appears here the moment it is made.",
    "staff_no_vouchers": "No vouchers yet.",
    "staff_approve": "Approve",
    "staff_reject": "Reject",
    "staff_redeem": "Redeem",
    "staff_status_requested": "Waiting",
    "staff_status_approved": "Valid until {time}",
    "staff_status_redeemed": "Used at {time} · {by}",
    "staff_status_expired": "Expired at {time}",
    "staff_status_rejected": "Rejected · {by}",
    "staff_status_void": "Voided · {by}",
    "staff_done_approve": "Approved {code}: the voucher is on the customer's phone.",
    "staff_done_reject": "Rejected {code}: the points are back on the card.",
    "staff_done_redeem": "Redeemed {code}: the voucher shows “Used” now.",
    "staff_bad_sid": "A business id is 3–64 characters of a-z, 0-9 and -.",
    "staff_bad_key": "A staff key is 32–128 characters of letters, digits, _ and -.",
    # promotions: {name} is the sponsor's own wording, {multiplier} a number such as 2 or 1.5
    "promo_applied": "{name} — {points}",
    "promo_active": "On now: {name} (×{multiplier} points) until {until}",
    "promo_next": "Coming up: {name} (×{multiplier} points) — {when}",
}


def plural(n: int, word: str) -> str:
    """``1 point``, ``2 points``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def in_words(seconds: int) -> str:
    """``42 minutes``, ``3 hours``, ``1 day`` — a wait, as the page words it too."""
    if seconds < 45:
        return "a few seconds"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return plural(minutes, "minute")
    hours, rest = divmod(minutes, 60)
    if hours >= 24:
        return plural(round(hours / 24), "day")
    return f"{plural(hours, 'hour')} {plural(rest, 'minute')}" if rest else plural(hours, "hour")


def format_message(code: str, **values: Any) -> str:
    """The one-line message of error ``code`` (headline and advice) with ``values`` filled in."""
    title, detail = ERRORS[code]
    stop = "" if title.endswith((".", "!", "?", "…")) else "."
    return f"{title}{stop} {detail.format(**values)}"


def customer_error(code: str, **values: Any) -> UltError:
    """The error ``code`` with its catalog message (``values`` fill its placeholders)."""
    return UltError(code, format_message(code, **values))


def page_catalog() -> dict[str, Any]:
    """What the customer pages need to word every answer: errors, retryable codes, texts."""
    return {
        "errors": {code: {"title": t, "detail": d} for code, (t, d) in ERRORS.items()},
        "retryable": list(RETRYABLE),
        "texts": TEXTS,
    }
