"""Field formats: every value from outside is checked here before use (docs/protocol.md)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache

from ult.errors import Term, UltError
from ult.i18n import N_

MAX_PAYLOAD_BYTES = 8 * 1024
MAX_FIELD_CHARS = 128  # the longest field format (key)
# Fields longer than that: a proof-of-work solution (ult.service.challenge), base64 JSON
LONG_FIELD_CHARS = {"pow": 600}

# The longest free text of each kind, in characters (after whitespace is tidied). Python checks
# input against these, the customer pages get them in their config (``limits``), and the
# dashboard's hints and the docs quote them: a limit is stated here and nowhere else.
LIMITS: dict[str, int] = {
    "business_name": 80,  # fits the poster's title in three lines and a phone's card header
    "address": 200,  # as the sponsor types it
    "formatted_address": 300,  # as the place resolver words it (Google's can be long)
    "place_id": 300,
    "reward": 80,
    "staff_name": 40,
    # combining marks in a row on one character: Vietnamese and Thai need 2, Tibetan stacks
    # up to 4; 50 stacked marks ("Zalgo") overflow every line above and below them
    "marks_per_character": 4,
}

# Printable characters that show nothing: Hangul fillers, the Braille blank, and marks that
# only select a variant. A text made only of these (and spaces) looks empty.
BLANK_CHARACTERS = frozenset(
    "\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0\u034f\u180b\u180c\u180d\u180f"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)

FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "sid": (re.compile(r"[a-z0-9-]{3,64}"), "3–64 characters of a-z, 0-9 and -"),
    "key": (re.compile(r"[A-Za-z0-9_-]{32,128}"), "32–128 characters of A-Z, a-z, 0-9, _ and -"),
    "owner_key": (
        re.compile(r"[A-Za-z0-9_-]{32,128}"),
        "32–128 characters of A-Z, a-z, 0-9, _ and -",
    ),
    "staff_key": (
        re.compile(r"[A-Za-z0-9_-]{32,128}"),
        "32–128 characters of A-Z, a-z, 0-9, _ and -",
    ),
    "decision": (re.compile(r"[a-z]{1,16}"), "approve, reject or redeem"),
    "nonce": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1–64 characters of A-Z, a-z, 0-9, _ and -"),
    "at": (re.compile(r"[A-Za-z0-9_-]{1,32}"), "1–32 characters of A-Z, a-z, 0-9, _ and -"),
    "code": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1–64 characters of A-Z, a-z, 0-9, _ and -"),
    "claim_id": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1–64 characters of A-Z, a-z, 0-9, _ and -"),
    "pow": (re.compile(r"[A-Za-z0-9+/=]{1,600}"), "a base64 proof-of-work solution"),
    "kind": (re.compile(r"apple|google"), "apple or google"),
    "lang": (re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}"), "a language tag such as sv-SE"),
}


def check_field(name: str, value: object) -> str:
    """Return ``value`` if it is a string of the format of ``name``, else raise bad_request."""
    pattern, wording = FORMATS[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UltError(
            "bad_request",
            N_("'{name}' must be {wording}."),
            params={"name": name, "wording": wording},
        )
    return value


def check_payload(
    payload: object, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """Check one event payload's shape: a JSON object with exactly the allowed fields, each a
    string of at most :data:`MAX_FIELD_CHARS`. Returns the fields present.

    Field formats are checked once, by the core function the event calls (:func:`check_field`).
    """
    if not isinstance(payload, Mapping):
        raise UltError("bad_request", N_("The request must be one JSON object."))
    allowed, needed = _names(required, optional)
    if not payload.keys() <= allowed:
        extra = sorted(_printable_name(k) for k in payload if k not in allowed)
        raise UltError(
            "bad_request", N_("Unknown field(s): {names}."), params={"names": ", ".join(extra)}
        )
    if not payload.keys() >= needed:
        missing = [k for k in required if k not in payload]
        raise UltError(
            "bad_request", N_("Missing field(s): {names}."), params={"names": ", ".join(missing)}
        )
    for name, value in payload.items():
        if not isinstance(value, str) or len(value) > LONG_FIELD_CHARS.get(name, MAX_FIELD_CHARS):
            raise UltError(
                "bad_request",
                N_("'{name}' must be {wording}."),
                params={"name": name, "wording": FORMATS[name][1]},
            )
    return dict(payload)


@cache
def _names(required: tuple[str, ...], optional: tuple[str, ...]) -> tuple[frozenset, frozenset]:
    """(allowed, required) field names of an event, computed once per event."""
    return frozenset(required) | frozenset(optional), frozenset(required)


def check_text(name: str, value: object, *, max_len: int, required: bool = True) -> str:
    """A free-text field (business name, address, reward): trimmed, printable, bounded."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UltError("bad_request", N_("{name} must be text."), params={"name": Term(name)})
    text = " ".join(value.split())
    if required and not text:
        raise UltError("bad_request", N_("{name} is required."), params={"name": Term(name)})
    if len(text) > max_len:
        raise UltError(
            "bad_request",
            N_("{name} is too long ({length} characters, at most {most})."),
            params={"name": Term(name), "length": len(text), "most": max_len},
        )
    if any(not ch.isprintable() for ch in text):
        raise UltError(
            "bad_request",
            N_("{name} contains characters that cannot be shown."),
            params={"name": Term(name)},
        )
    if text:
        _check_visible(name, text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UltError(
            "bad_request",
            N_("{name} contains characters that cannot be stored."),
            params={"name": Term(name)},
        ) from None
    return text


def _check_visible(name: str, text: str) -> None:
    """Refuse a text that would show nothing, or whose marks stack past the limit."""
    if not any(_visible(ch) for ch in text):
        raise UltError(
            "bad_request",
            N_("{name} must contain at least one visible letter, number or symbol."),
            params={"name": Term(name)},
        )
    most, run = LIMITS["marks_per_character"], 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        if run > most:
            raise UltError(
                "bad_request",
                N_("{name} stacks too many accents on one character (at most {most})."),
                params={"name": Term(name), "most": most},
            )


def _visible(ch: str) -> bool:
    """Whether ``ch`` shows something on its own: a letter, number, punctuation or symbol."""
    return unicodedata.category(ch)[0] in "LNPS" and ch not in BLANK_CHARACTERS


def clip_text(value: object, limit: str) -> str:
    """Stored text to show (a name from a browser's storage or a recovery code): one line, cut
    to :data:`LIMITS` ``[limit]`` characters with an ellipsis, never refused — input is checked
    with :func:`check_text` instead."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    most = LIMITS[limit]
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _printable_name(name: object) -> str:
    """A field name safe to echo in an error message (no markup, no lone surrogates)."""
    text = str(name)
    return text if re.fullmatch(r"[A-Za-z0-9_]{1,32}", text) else "(unreadable name)"
