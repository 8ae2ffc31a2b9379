"""Staff keys: named keys the owner gives counter staff, with fewer rights than the owner key.

A staff key may watch the live room, list today's claims and decide on claims (approve, reject,
redeem); it cannot change the rule or staff keys, nor read the owner key. It is shown once and
stored only hashed (``ult:{sid}:staff``); every use is checked in Redis, so a revoked key is
refused at once by every service process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ult import ops
from ult.clock import or_now
from ult.errors import UltError
from ult.i18n import N_
from ult.identity import hash_owner_key, hash_staff_key, new_secret
from ult.keys import sponsor_keys
from ult.validation import LIMITS, check_field, check_text

T = TypeVar("T")

MAX_STAFF_KEYS = 50
MAX_STAFF_NAME = LIMITS["staff_name"]
OWNER = "owner"  # who a decision names when the owner key made it (no staff key has this name)

_REFUSALS = {
    "unauthorized": N_("That owner key does not match this business."),
    "name_taken": N_("A staff key with that name exists already: revoke it first or pick another."),
    "too_many": N_("A business has at most {most} staff keys: revoke one first."),
    "unknown_staff": N_("No staff key with that name."),
}


@dataclass(frozen=True)
class StaffKey:
    """A staff key as listed: its name and when it was made (never the key)."""

    name: str
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created_ms": self.created_ms}


@dataclass(frozen=True)
class KeyHolder:
    """Who holds a key that was accepted: ``"owner"`` or a staff key's name."""

    sid: str
    biz: str
    who: str

    @property
    def is_owner(self) -> bool:
        return self.who == OWNER


def check_name(name: object) -> str:
    """A staff key's name: printable, 1–``MAX_STAFF_NAME`` characters, not ``owner``."""
    text = check_text(N_("Staff name"), name, max_len=MAX_STAFF_NAME)
    if text.lower() == OWNER:
        raise UltError(
            "bad_request",
            N_("'{name}' is reserved: pick another staff name."),
            params={"name": OWNER},
        )
    return text


def _staff_script(
    sid: str,
    owner_key: str,
    action: str,
    result: Callable[[list[str]], T],
    name: str = "",
    staff_hash: str = "",
) -> ops.Op[T]:
    """The ``staff`` script for ``action``; ``result`` makes the answer of its reply's rest."""
    check_field("sid", sid)
    check_field("owner_key", owner_key)
    k = sponsor_keys(sid)
    args = [hash_owner_key(owner_key), action, name, staff_hash, or_now(None), MAX_STAFF_KEYS]

    def parse(reply: list[Any]) -> T:
        status = ops.text(reply[0])
        if status == "unknown_sponsor":
            raise UltError(status, N_("No business with id '{sid}'."), params={"sid": sid})
        if status != "ok":
            raise UltError(status, _REFUSALS[status], params={"most": MAX_STAFF_KEYS})
        return result([ops.text(x) for x in reply[1:]])

    return ops.script("staff", [k.profile, k.staff], args, parse)


def create_staff_key(sid: str, owner_key: str, name: str) -> ops.Op[str]:
    """Make a staff key named ``name``; the op answers the new key, which is shown once (only
    its hash is stored). Only the owner key may make one."""
    name = check_name(name)
    key = new_secret()
    return _staff_script(sid, owner_key, "add", lambda _: key, name, hash_staff_key(key))


def revoke_staff_key(sid: str, owner_key: str, name: str) -> ops.Op[None]:
    """Revoke the staff key named ``name``: refused from its next use on."""
    return _staff_script(sid, owner_key, "revoke", lambda _: None, check_name(name))


def list_staff_keys(sid: str, owner_key: str) -> ops.Op[list[StaffKey]]:
    """The staff keys of ``sid`` by name (oldest first); owner key required."""

    def listed(flat: list[str]) -> list[StaffKey]:
        found = [StaffKey(flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2)]
        return sorted(found, key=lambda s: (s.created_ms, s.name))

    return _staff_script(sid, owner_key, "list", listed)


def key_holder(sid: str, key: str) -> ops.Op[KeyHolder]:
    """Who holds ``key`` for ``sid`` (the owner, or a staff key not revoked), else UltError
    ``unauthorized``."""
    check_field("sid", sid)
    check_field("staff_key", key)
    k = sponsor_keys(sid)

    def parse(reply: list[Any]) -> KeyHolder:
        status = ops.text(reply[0])
        if status == "unknown_sponsor":
            raise UltError(status, N_("No business with id '{sid}'."), params={"sid": sid})
        if status != "ok":
            raise UltError(status, N_("That key does not match this business (or it was revoked)."))
        return KeyHolder(sid, ops.text(reply[2]), ops.text(reply[1]))

    args = [hash_owner_key(key), hash_staff_key(key)]
    return ops.script("who", [k.profile, k.staff], args, parse)
