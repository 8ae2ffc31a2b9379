"""Sponsors: registration, profiles and owner-key checks."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from redis.typing import EncodableT, FieldT

from ult import keys, ops
from ult.clock import or_now
from ult.connection import Client
from ult.errors import UltError
from ult.i18n import N_, language_of_country
from ult.identity import hash_owner_key, make_sid, new_secret, owner_key_matches
from ult.migrate import stamp_if_new
from ult.promotions.zones import guess_zone
from ult.rules import Rule, default_rule
from ult.validation import LIMITS, check_field, check_text

_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class Registration:
    """What registration hands back once. ``owner_key`` is never stored in clear."""

    sid: str
    owner_key: str
    biz: str
    place_id: str
    formatted_address: str
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Profile:
    """A sponsor as stored. ``owner_hash`` and ``code_secret`` never leave the server."""

    sid: str
    biz: str
    address: str
    formatted_address: str
    country: str
    place_id: str
    verified: bool
    created_ms: int
    utc_offset_min: int
    owner_hash: str
    code_secret: str
    lat: float | None = None  # the place's coordinates, when the place lookup gave them
    lng: float | None = None

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Profile:
        return cls(
            sid=h["sid"],
            biz=h["biz"],
            address=h.get("address", ""),
            formatted_address=h.get("formatted_address", ""),
            country=h.get("country", ""),
            place_id=h.get("place_id", ""),
            verified=h.get("verified") == "1",
            created_ms=int(h.get("created_ms", "0")),
            utc_offset_min=int(h.get("utc_offset_min", "0")),
            owner_hash=h.get("owner_hash", ""),
            code_secret=h.get("code_secret", ""),
            lat=float(h["lat"]) if h.get("lat") else None,
            lng=float(h["lng"]) if h.get("lng") else None,
        )

    def public(self) -> dict[str, Any]:
        """The fields a page or notebook may show."""
        return {
            "sid": self.sid,
            "biz": self.biz,
            "formatted_address": self.formatted_address,
            "country": self.country,
            "place_id": self.place_id,
            "verified": self.verified,
            "created_ms": self.created_ms,
        }


def register(
    r: Client,
    name: str,
    address: str,
    country: str,
    place_id: str,
    formatted_address: str | None = None,
    verified: bool = False,
    utc_offset_min: int = 0,
    rule: Rule | None = None,
    now_ms: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
) -> Registration:
    """Register a business at a place; the same ``place_id`` cannot be registered twice.

    Returns the new ``sid`` and the owner key, which is shown once and stored only hashed.
    Without ``rule`` the business starts with the default rule, its reward worded in the
    language of ``country`` (English when ULT has no catalog for it).

    A registration writes three places that a Redis Cluster keeps on different slots — the
    sponsor's keys (``{sid}``), ``ult:places`` and the ``ult:sponsors`` registry — so it is
    four steps, each atomic on its own slot, in an order that a crash between any two cannot
    turn into a place taken with no business:

    1. ``begin``: the profile (marked *pending*), the rule and the ``registered`` event;
    2. claim the place (``HSETNX ult:places``) — only for a sid whose profile already exists;
    3. the registry entry;
    4. ``finish``: the pending mark goes; the owner key is handed back.

    A registration that died after step 1 and has been pending for :data:`PENDING_GRACE_MS`
    is undone by the next registration of that place (:func:`_settle`): it is marked doomed
    (it can no longer finish), its registry entry is removed, the place released and its keys
    deleted — each step again safe to repeat. Its owner key was never shown, so nobody loses
    a business.
    """
    biz = check_text(N_("Business name"), name, max_len=LIMITS["business_name"])
    address = check_text(N_("Business address"), address, max_len=LIMITS["address"])
    formatted = check_text(
        "Formatted address", formatted_address or address, max_len=LIMITS["formatted_address"]
    )
    place_id = check_text("place_id", place_id, max_len=LIMITS["place_id"])
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country.upper()):
        raise UltError("bad_country", N_("Country must be a two-letter ISO code such as SE or US."))
    if not -14 * 60 <= utc_offset_min <= 14 * 60:
        raise UltError("bad_request", N_("utc_offset_min must be between -840 and 840."))
    rule = (rule or default_rule(language_of_country(country))).validated()
    now_ms = or_now(now_ms)

    sid = _free_sid(r, biz, place_id)
    owner_key = new_secret()
    profile = {
        "sid": sid,
        "biz": biz,
        "address": address,
        "formatted_address": formatted,
        "country": country.upper(),
        "place_id": place_id,
        "verified": "1" if verified else "0",
        "created_ms": str(now_ms),
        "utc_offset_min": str(int(utc_offset_min)),
        "tz": guess_zone(country, utc_offset_min),  # recurring promotions follow it
        "owner_hash": hash_owner_key(owner_key),
        "code_secret": secrets.token_hex(16),
    }
    if lat is not None and lng is not None:  # where a wallet pass shows itself on the phone
        profile |= {"lat": repr(float(lat)), "lng": repr(float(lng))}
    stamp_if_new(r)  # the first registration: the data starts at this ULT's schema version
    token = _begin(r, profile, rule, now_ms)
    if not _claim(r, place_id, sid):
        ops.run(r, _step("undo", keys.sponsor_keys(sid).all(), token))
        raise _taken(r, place_id)
    # the registration time is a field: a backdated registration (the demo's history) is
    # still appended after every sponsor already listed
    entry: dict[FieldT, EncodableT] = {
        "sid": sid,
        "biz": biz,
        "country": profile["country"],
        "place_id": place_id,
    }
    listed = r.xadd(keys.REGISTRY, entry | {"registered_ms": str(now_ms)})
    if ops.run(r, _step("finish", [keys.sponsor_keys(sid).profile], token)) != "ok":
        r.xdel(keys.REGISTRY, listed)  # undone while this one stalled past the grace period
        raise _taken(r, place_id)
    return Registration(sid, owner_key, biz, place_id, formatted, verified)


PENDING_GRACE_MS = 30_000  # a registration pending longer than this died (its steps take ms)
_REGISTRY_SKEW_MS = 60_000  # registry ids and pending_ms come from two servers' clocks


def _step(step: str, on: list[str], *args: object) -> ops.Op[str]:
    """One step of ``register.lua`` (see it for the steps)."""
    return ops.script("register", on, [step, *args], ops.text)


def _begin(r: Client, profile: dict[str, str], rule: Rule, now_ms: int) -> str:
    """Step 1: write the pending profile, rule and event; returns the pending token."""
    sid, token = profile["sid"], new_secret()
    k = keys.sponsor_keys(sid)
    flat_profile = [x for item in profile.items() for x in item]
    flat_rule = [x for item in rule.to_hash().items() for x in item]
    args = [now_ms, token, len(flat_profile), *flat_profile, *flat_rule]
    on = [k.profile, k.rule, k.events]
    reply = ops.run(r, _step("begin", on, *args))
    if reply == "pending" and _settle(r, profile["place_id"], sid):
        reply = ops.run(r, _step("begin", on, *args))  # a dead registration of this sid: gone
    if reply == "pending":
        raise UltError(
            "already_registered",
            N_("This place is being registered right now. Try again in a minute."),
        )
    if reply == "exists":  # a race on the same sid
        raise UltError(
            "already_registered",
            N_("The business id '{sid}' is taken; try again."),
            params={"sid": sid},
        )
    return token


def _claim(r: Client, place_id: str, sid: str) -> bool:
    """Step 2: claim ``place_id`` for ``sid``, after undoing a dead registration holding it."""
    if r.hsetnx(keys.PLACES, place_id, sid):
        return True
    holder = ops.text(r.hget(keys.PLACES, place_id))
    if holder == sid:  # this sid's dead registration had claimed it: finishing decides
        return True
    if holder and not _settle(r, place_id, holder):
        return False
    return bool(r.hsetnx(keys.PLACES, place_id, sid))


def _settle(r: Client, place_id: str, sid: str) -> bool:
    """Undo the registration of ``sid`` at ``place_id`` if it died halfway; True when it did
    (``sid`` then has no keys and does not hold the place). Every step may be repeated."""
    k = keys.sponsor_keys(sid)
    state = ops.run(r, _step("doom", [k.profile], PENDING_GRACE_MS))
    if state == "none":  # no business at all: only a claim to give back
        return bool(ops.run(r, _step("release", [keys.PLACES], place_id, sid)))
    if not state.isdigit():  # complete, or still within its grace period
        return False
    since = max(0, int(state) - _REGISTRY_SKEW_MS)
    listed = [
        eid for eid, f in ops.entries(r.xrange(keys.REGISTRY, min=since)) if f.get("sid") == sid
    ]
    if listed:
        r.xdel(keys.REGISTRY, *listed)
    ops.run(r, _step("release", [keys.PLACES], place_id, sid))
    ops.run(r, _step("undo", k.all(), "doomed"))
    return True


def _taken(r: Client, place_id: str) -> UltError:
    taken = ops.text(r.hget(keys.PLACES, place_id))
    return UltError(
        "already_registered",
        N_(
            "This place is already registered (business id '{sid}'). Open the dashboard "
            "in the browser it was registered with, or use its owner key."
        ),
        params={"sid": taken},
    )


def _free_sid(r: Client, biz: str, place_id: str) -> str:
    """The shortest sid not taken by another place (hash grows 4 → 6 → 8 … hex chars); a sid
    with an unfinished registration of this same place is free too (:func:`_begin` settles
    it)."""
    for hash_chars in range(4, 17, 2):
        sid = make_sid(biz, place_id, hash_chars)
        profile = keys.sponsor_keys(sid).profile
        if not r.exists(profile):
            return sid
        held, pending = r.hmget(profile, "place_id", "pending")
        if pending is not None and ops.text(held) == place_id:
            return sid
    raise UltError("server_error", N_("Could not find a free business id."))


def _profile_or_none(flat: Any) -> Profile | None:
    h = ops.as_dict(flat)
    return Profile.from_hash(h) if h else None


def get_profile(sid: str) -> ops.Op[Profile | None]:
    """The sponsor's profile, or None when no such sponsor."""
    return ops.command(_profile_or_none, "HGETALL", keys.sponsor_keys(sid).profile)


def code_secret(sid: str) -> ops.Op[str]:
    """The secret of the sponsor's rotating counter codes ('' when no such sponsor)."""
    return ops.command(ops.text, "HGET", keys.sponsor_keys(sid).profile, "code_secret")


def check_owner(sid: str, owner_key: str) -> ops.Op[Profile]:
    """The profile when ``owner_key`` is this sponsor's, else UltError."""
    check_field("sid", sid)
    check_field("owner_key", owner_key)

    def parse(flat: Any) -> Profile:
        profile = _profile_or_none(flat)
        if profile is None:
            raise UltError(
                "unknown_sponsor", N_("No business with id '{sid}'."), params={"sid": sid}
            )
        if not owner_key_matches(owner_key, profile.owner_hash):
            raise UltError("unauthorized", N_("That owner key does not match this business."))
        return profile

    return ops.command(parse, "HGETALL", keys.sponsor_keys(sid).profile)


KEY_FAILURES = "key_failures"  # profile field: wrong owner/staff keys sent for this business


def count_key_failure(sid: str) -> ops.Op[int]:
    """Count one wrong key for ``sid`` (only called for a sponsor that exists)."""
    return ops.command(int, "HINCRBY", keys.sponsor_keys(sid).profile, KEY_FAILURES, 1)


def key_failures(sid: str) -> ops.Op[int]:
    """How many wrong owner or staff keys were sent for ``sid`` so far (for its owner)."""
    return ops.command(
        lambda v: int(ops.text(v) or 0), "HGET", keys.sponsor_keys(sid).profile, KEY_FAILURES
    )


def list_sponsors(r: Client) -> list[dict[str, str]]:
    """Every registered sponsor from the registry stream, oldest first."""
    return [
        {"registered_id": eid, **fields} for eid, fields in ops.entries(r.xrange(keys.REGISTRY))
    ]
